//! The watcher task against a fake manager: real files and inotify, renews observed as commands on the actor's
//! channel. (kresd itself is in the daemon tests: `tests/daemon/watch.rs`.)

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kres_test_support::TempDir;
use tokio::sync::{mpsc, watch};

use super::*;
use crate::manager::handle::{ApplyOutcome, Command, Edit, SelfMetrics, Snapshot};

/// A manager handle whose actor only counts renews, and the watcher running on it.
struct Fake {
    commands: mpsc::Receiver<Command>,
    _snapshot: watch::Sender<Arc<Snapshot>>,
    task: WatchTask,
}

fn fake(rpz: &Path) -> Fake {
    let yaml = format!("local-data:\n  rpz:\n    - file: {}\n", rpz.display());
    let node = kres_datamodel::parse::parse_yaml(&yaml, "test").unwrap();
    let config = kres_datamodel::validate(&node, &kres_datamodel::ValidationOptions::lenient()).unwrap();
    let snapshot = Snapshot {
        raw: Arc::new(node.to_json()),
        etag: "x".into(),
        config: Arc::new(config),
        generation: 1,
        workers: vec![],
        gc_pid: None,
        metrics: SelfMetrics::default(),
    };
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(snapshot));
    let (commands_tx, commands) = mpsc::channel(8);
    let task = spawn(
        ManagerHandle::new(commands_tx, snapshot_rx, tokio::sync::broadcast::channel(16).0, None),
        tokio_util::sync::CancellationToken::new(),
    );
    Fake { commands, _snapshot: snapshot_tx, task }
}

impl Fake {
    /// Waits up to `within` for a renew request and answers it; false when none came.
    async fn renewed(&mut self, within: Duration) -> bool {
        match tokio::time::timeout(within, self.commands.recv()).await {
            Ok(Some(Command::Apply(request, reply))) => {
                assert!(matches!(request.edit, Edit::Keep) && !request.force, "not a renew: {request:?}");
                let _ = reply.send(Ok(ApplyOutcome {
                    etag: "x".into(),
                    changed: false,
                    dry_run: false,
                    restarted_workers: vec![],
                    rules_reloaded: true,
                    canary: None,
                    seconds: 0.0,
                    generation: None,
                    impact: None,
                }));
                true
            }
            Ok(other) => panic!("unexpected command {other:?}"),
            Err(_) => false,
        }
    }
}

/// Long enough for a debounced action (1 s of quiet) on a busy machine.
const ACTS: Duration = Duration::from_secs(10);
/// Clearly longer than the debounce: nothing happened by then, nothing will.
const QUIET: Duration = Duration::from_millis(2500);

/// Lets the watcher task take its first fingerprints and set up its watches.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_burst_of_writes_is_one_renew() {
    let dir = TempDir::new("watch-burst");
    let file = dir.write("zone.rpz", "1");
    let mut f = fake(&file);
    settle().await;
    for i in 0..5 {
        std::fs::write(&file, format!("write {i}")).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(f.renewed(ACTS).await, "no renew after writes");
    assert!(!f.renewed(QUIET).await, "a second renew for the same burst");
    f.task.stop().await;
}

#[tokio::test]
async fn reads_and_other_files_trigger_nothing() {
    let dir = TempDir::new("watch-quiet");
    let file = dir.write("zone.rpz", "1");
    let mut f = fake(&file);
    settle().await;
    let _ = std::fs::read(&file).unwrap();
    dir.write("other.rpz", "unrelated");
    std::fs::rename(dir.join("other.rpz"), dir.join("other2.rpz")).unwrap();
    assert!(!f.renewed(QUIET).await, "a renew without a change of the watched file");
    f.task.stop().await;
}

#[tokio::test]
async fn rename_over_and_delete_recreate_renew() {
    let dir = TempDir::new("watch-rename");
    let file = dir.write("zone.rpz", "1");
    let mut f = fake(&file);
    settle().await;
    dir.write("zone.tmp", "2");
    std::fs::rename(dir.join("zone.tmp"), &file).unwrap();
    assert!(f.renewed(ACTS).await, "rename-over not seen");
    std::fs::remove_file(&file).unwrap();
    assert!(!f.renewed(QUIET).await, "a renew while the file is missing");
    dir.write("zone.rpz", "3");
    assert!(f.renewed(ACTS).await, "re-created file not seen");
    f.task.stop().await;
}

/// Kubernetes mounts secrets and config maps as `name -> ..data/name`, `..data -> ..<timestamp>`, and updates
/// them by renaming a new `..data` link over the old one: no event names the watched file.
#[tokio::test]
async fn a_link_swapped_in_the_directory_renews() {
    let dir = TempDir::new("watch-k8s");
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(dir.join("..v1/zone.rpz"), "1").unwrap();
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/zone.rpz", dir.join("zone.rpz")).unwrap();
    let mut f = fake(&dir.join("zone.rpz"));
    settle().await;
    std::fs::create_dir(dir.join("..v2")).unwrap();
    std::fs::write(dir.join("..v2/zone.rpz"), "2").unwrap();
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    assert!(f.renewed(ACTS).await, "link swap not seen");
    f.task.stop().await;
}

/// The watched directory itself disappears and comes back (polled while the file is missing).
#[tokio::test]
async fn a_recreated_directory_is_watched_again() {
    let top = TempDir::new("watch-dir");
    let dir = top.join("zones");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("zone.rpz");
    std::fs::write(&file, "1").unwrap();
    let mut f = fake(&file);
    settle().await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!f.renewed(QUIET).await, "a renew while the directory is missing");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&file, "2").unwrap();
    assert!(f.renewed(ACTS).await, "the file in the re-created directory was not seen");
    // Watched again by inotify (not only polled): an in-place write is seen.
    tokio::time::sleep(QUIET).await;
    std::fs::write(&file, "three").unwrap();
    assert!(f.renewed(ACTS).await, "a write after the directory came back was not seen");
    f.task.stop().await;
}
