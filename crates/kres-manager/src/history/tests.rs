//! The history store on real files: appends and reads, reopening, retention, damaged entries, concurrent
//! appends through one owner, unusable directories, and the cost of an append (printed, not asserted).

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kres_test_support::{TempDir, Tmpfs};
use serde_json::{Value, json};

use super::*;

/// A configuration document that differs with `n`.
fn config(n: u64) -> Value {
    json!({"workers": n, "network": {"listen": [{"interface": "127.0.0.1@5353"}]}, "cache": {"size-max": "10M"}})
}

fn record(n: u64, result: Outcome) -> Record {
    Record {
        etag: format!("etag-{n}"),
        time: UNIX_EPOCH + Duration::from_millis(1_796_306_515_123 + n),
        source: Source::Api { method: "PUT".into(), route: "/v1/config/workers".into() },
        client: Some(Client::Peer { uid: 0, pid: 1000 + n as u32 }),
        result,
        duration: Duration::from_millis(n * 10),
        restarted_workers: vec![0, 1],
    }
}

fn applied(n: u64) -> Record {
    record(n, Outcome::Applied)
}

fn numbers(store: &HistoryStore) -> Vec<u64> {
    store.list(0, usize::MAX).generations.iter().map(|g| g.number).collect()
}

/// The names of the files in the history directory, sorted.
fn files(store_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(store_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn open(dir: &TempDir, retention: Retention) -> HistoryStore {
    HistoryStore::open(dir.path(), retention).unwrap_or_else(|e| panic!("open: {e}"))
}

#[test]
fn history_append_list_get() {
    let dir = TempDir::new("history");
    let mut store = open(&dir, Retention::default());
    assert!(store.is_empty() && store.newest().is_none() && store.last_applied().is_none());
    for n in 1..=4 {
        let generation = store.append(applied(n), &config(n)).unwrap();
        assert_eq!(generation.number, n);
    }
    let refused = record(5, Outcome::Refused { reason: "/workers: must be at least 1".into() });
    store.append(Record { source: Source::Sighup, client: None, ..refused }, &config(5)).unwrap();

    assert_eq!(store.len(), 5);
    let page = store.list(0, 2);
    assert_eq!((page.total, page.offset), (5, 0));
    assert_eq!(page.generations.iter().map(|g| g.number).collect::<Vec<_>>(), [5, 4]);
    assert_eq!(store.list(2, 2).generations.iter().map(|g| g.number).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(store.list(4, 10).generations.iter().map(|g| g.number).collect::<Vec<_>>(), [1]);
    assert!(store.list(5, 10).generations.is_empty());
    assert_eq!(store.list(9, 10).total, 5);

    let third = store.get(3).unwrap();
    assert_eq!(
        *third,
        Generation {
            number: 3,
            etag: "etag-3".into(),
            time: "2026-12-03T14:01:55.126Z".into(),
            source: Source::Api { method: "PUT".into(), route: "/v1/config/workers".into() },
            client: Some(Client::Peer { uid: 0, pid: 1003 }),
            result: Outcome::Applied,
            duration_ms: 30,
            restarted_workers: vec![0, 1],
        }
    );
    assert_eq!(store.config(3).unwrap(), config(3));
    assert_eq!(store.newest().unwrap().number, 5);
    assert_eq!(store.newest().unwrap().source, Source::Sighup);
    // The newest was refused: the one in force is the newest applied.
    assert_eq!(store.last_applied().unwrap().number, 4);
    assert!(store.get(6).is_none());
    assert!(matches!(store.config(6), Err(HistoryError::NotFound { number: 6 })));

    // On disk: one file per generation, the documented format.
    let history = dir.join("history");
    assert_eq!(store.dir(), history);
    assert_eq!(
        files(&history),
        [".lock", "0000000001.json", "0000000002.json", "0000000003.json", "0000000004.json", "0000000005.json"]
    );
    let on_disk: Value = serde_json::from_slice(&fs::read(history.join("0000000003.json")).unwrap()).unwrap();
    assert_eq!(on_disk["format"], 1);
    assert_eq!(on_disk["generation"], serde_json::to_value(third).unwrap());
    assert_eq!(on_disk["config"], config(3));
    let sizes: u64 = (1..=5).map(|n| fs::metadata(history.join(format!("000000000{n}.json"))).unwrap().len()).sum();
    assert_eq!(store.total_bytes(), sizes);
}

#[test]
fn history_survives_reopen_and_is_locked_while_open() {
    let dir = TempDir::new("history");
    let mut store = open(&dir, Retention::default());
    for n in 1..=3 {
        store.append(applied(n), &config(n)).unwrap();
    }
    let before = store.list(0, 10);
    match HistoryStore::open(dir.path(), Retention::default()) {
        Err(e @ HistoryError::Locked { .. }) => {
            assert!(e.to_string().contains(&dir.join("history").display().to_string()), "{e}")
        }
        other => panic!("a second store on the same directory: {other:?}"),
    }
    drop(store);

    let mut store = open(&dir, Retention::default());
    assert_eq!(store.list(0, 10), before);
    assert_eq!(store.config(2).unwrap(), config(2));
    assert_eq!(store.last_applied().unwrap().number, 3);
    assert_eq!(store.append(applied(4), &config(4)).unwrap().number, 4);
    drop(store);
    // Numbering continues after the highest, even when the oldest are gone.
    fs::remove_file(dir.join("history/0000000001.json")).unwrap();
    let mut store = open(&dir, Retention::default());
    assert_eq!(numbers(&store), [4, 3, 2]);
    assert_eq!(store.append(applied(5), &config(5)).unwrap().number, 5);
}

#[test]
fn history_retention_by_count() {
    let dir = TempDir::new("history");
    let mut store = open(&dir, Retention { max_count: 3, ..Retention::default() });
    for n in 1..=6 {
        store.append(applied(n), &config(n)).unwrap();
        assert!(store.len() <= 3);
    }
    assert_eq!(numbers(&store), [6, 5, 4]);
    assert_eq!(files(store.dir()), [".lock", "0000000004.json", "0000000005.json", "0000000006.json"]);
    drop(store);
    // A smaller limit at open prunes at once; numbering goes on.
    let mut store = open(&dir, Retention { max_count: 2, ..Retention::default() });
    assert_eq!(numbers(&store), [6, 5]);
    assert_eq!(files(store.dir()), [".lock", "0000000005.json", "0000000006.json"]);
    assert_eq!(store.append(applied(7), &config(7)).unwrap().number, 7);
    store.set_retention(Retention { max_count: 1, ..Retention::default() }).unwrap();
    assert_eq!(numbers(&store), [7]);
    assert_eq!(files(store.dir()), [".lock", "0000000007.json"]);
}

#[test]
fn history_retention_keeps_the_newest_and_the_one_in_force() {
    let dir = TempDir::new("history");
    let mut store = open(&dir, Retention { max_count: 2, ..Retention::default() });
    store.append(applied(1), &config(1)).unwrap();
    for n in 2..=5 {
        store.append(record(n, Outcome::Refused { reason: "invalid".into() }), &config(n)).unwrap();
    }
    // Generation 1 is still in force: it stays, with the newest.
    assert_eq!(numbers(&store), [5, 1]);
    store.append(record(6, Outcome::RolledBack { reason: "kresd refused".into() }), &config(6)).unwrap();
    assert_eq!(numbers(&store), [6, 1]);
    assert_eq!(store.last_applied().unwrap().number, 1);
    // Limits that nothing satisfies still keep those two.
    store.set_retention(Retention { max_count: 0, max_bytes: 0 }).unwrap();
    assert_eq!(numbers(&store), [6, 1]);
    assert_eq!(files(store.dir()), [".lock", "0000000001.json", "0000000006.json"]);
    drop(store);
    let store = open(&dir, Retention { max_count: 0, max_bytes: 0 });
    assert_eq!(numbers(&store), [6, 1]);
    assert_eq!(store.config(1).unwrap(), config(1));
}

#[test]
fn history_retention_by_size() {
    let dir = TempDir::new("history");
    let big = |n: u64| json!({"workers": n, "lua": {"script": "-- ".repeat(300)}});
    let mut store = open(&dir, Retention::default());
    store.append(applied(1), &big(1)).unwrap();
    let entry_size = store.total_bytes();
    assert!(entry_size > 900, "{entry_size}");
    // Room for three and a half entries (they differ by a few bytes at most).
    store.set_retention(Retention { max_count: 100, max_bytes: entry_size * 7 / 2 }).unwrap();
    for n in 2..=8 {
        store.append(applied(n), &big(n)).unwrap();
        assert!(store.total_bytes() <= entry_size * 7 / 2);
    }
    assert_eq!(numbers(&store), [8, 7, 6]);
    let on_disk: u64 = ["0000000006.json", "0000000007.json", "0000000008.json"]
        .iter()
        .map(|name| fs::metadata(store.dir().join(name)).unwrap().len())
        .sum();
    assert_eq!(store.total_bytes(), on_disk);
    assert_eq!(files(store.dir()).len(), 4);
}

#[test]
fn history_damaged_entries_are_skipped_and_cleaned() {
    let dir = TempDir::new("history");
    let mut store = open(&dir, Retention::default());
    for n in 1..=4 {
        store.append(applied(n), &config(n)).unwrap();
    }
    drop(store);
    let history = dir.join("history");
    let entry = |n: u64| history.join(format!("{n:010}.json"));
    // A truncated entry (crash without the rename's protection, a full disk).
    let whole = fs::read(entry(2)).unwrap();
    fs::write(entry(2), &whole[..whole.len() / 2]).unwrap();
    // An empty one, garbage, an entry under another number's name, a temp file left by a crash.
    fs::write(entry(3), "").unwrap();
    fs::write(entry(7), b"\x00\xff garbage").unwrap();
    fs::copy(entry(1), entry(5)).unwrap();
    fs::write(history.join("0000000008.json.tmp"), &whole[..10]).unwrap();
    // Left alone: an entry of a newer format, and files that are not entries.
    fs::write(entry(9), r#"{"format": 2, "whatever": true}"#).unwrap();
    fs::write(history.join("README"), "notes").unwrap();
    fs::write(history.join("12x.json"), "not an entry name").unwrap();

    let mut store = open(&dir, Retention::default());
    assert_eq!(numbers(&store), [4, 1]);
    assert_eq!(store.config(1).unwrap(), config(1));
    assert_eq!(store.last_applied().unwrap().number, 4);
    assert_eq!(
        files(&history),
        [".lock", "0000000001.json", "0000000004.json", "0000000009.json", "12x.json", "README"]
    );
    // Numbering continues after the highest number seen, damaged or newer.
    assert_eq!(store.append(applied(10), &config(10)).unwrap().number, 10);
    drop(store);

    // An entry damaged while the store is open is reported when its configuration is read.
    let store = open(&dir, Retention::default());
    fs::write(entry(4), "{").unwrap();
    match store.config(4) {
        Err(e @ HistoryError::Corrupt { .. }) => assert!(e.to_string().contains("0000000004.json"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn history_concurrent_appends_are_serialized() {
    // The actor owns the store; two tasks that share it go through its owner (here a mutex).
    let dir = TempDir::new("history");
    let store = Arc::new(Mutex::new(open(&dir, Retention::default())));
    const EACH: u64 = 25;
    std::thread::scope(|scope| {
        for task in 0..2u64 {
            let store = Arc::clone(&store);
            scope.spawn(move || {
                for i in 0..EACH {
                    let n = task * 1000 + i;
                    let number = store.lock().unwrap().append(applied(n), &config(n)).unwrap().number;
                    assert!((1..=2 * EACH).contains(&number));
                    std::thread::yield_now();
                }
            });
        }
    });
    let store = Arc::into_inner(store).unwrap().into_inner().unwrap();
    assert_eq!(numbers(&store), (1..=2 * EACH).rev().collect::<Vec<_>>());
    for task in 0..2u64 {
        // Each task's appends kept their order and their documents.
        let mine: Vec<u64> = store
            .list(0, usize::MAX)
            .generations
            .iter()
            .rev()
            .filter_map(|g| g.etag.strip_prefix("etag-").and_then(|n| n.parse().ok()))
            .filter(|n| n / 1000 == task)
            .collect();
        assert_eq!(mine, (0..EACH).map(|i| task * 1000 + i).collect::<Vec<_>>());
    }
    for generation in store.list(0, usize::MAX).generations {
        let n: u64 = generation.etag["etag-".len()..].parse().unwrap();
        assert_eq!(store.config(generation.number).unwrap(), config(n));
    }
    drop(store);
    assert_eq!(open(&dir, Retention::default()).len(), 2 * EACH as usize);
}

#[test]
fn history_unusable_directories_are_named() {
    let dir = TempDir::new("history");
    let missing = dir.join("no-such-dir");
    let e = HistoryStore::open(&missing, Retention::default()).unwrap_err();
    assert!(matches!(e, HistoryError::StateDirMissing { .. }), "{e:?}");
    assert!(e.to_string().contains(&missing.display().to_string()), "{e}");

    let file = dir.write("a-file", "");
    let e = HistoryStore::open(&file, Retention::default()).unwrap_err();
    assert!(matches!(e, HistoryError::NotADirectory { .. }), "{e:?}");
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");

    let state = dir.join("state");
    fs::create_dir(&state).unwrap();
    fs::write(state.join("history"), "").unwrap();
    let e = HistoryStore::open(&state, Retention::default()).unwrap_err();
    assert!(matches!(e, HistoryError::NotADirectory { .. }), "{e:?}");
    assert!(e.to_string().contains(&state.join("history").display().to_string()), "{e}");
}

#[test]
fn history_read_only_state_directory_is_refused_at_open() {
    let dir = TempDir::new("history");
    let state = dir.join("state");
    let existing = state.join("existing");
    // Root ignores file modes: a read-only file system is what stops it.
    let _tmpfs = if rustix::process::geteuid().is_root() {
        let tmpfs = Tmpfs::mount(&state, "1M");
        fs::create_dir_all(existing.join("history")).unwrap();
        let status = std::process::Command::new("mount").arg("-o").arg("remount,ro").arg(&state).status().unwrap();
        assert!(status.success(), "remount read-only: {status}");
        Some(tmpfs)
    } else {
        fs::create_dir_all(existing.join("history")).unwrap();
        for path in [existing.join("history"), state.clone()] {
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        }
        None
    };
    // No history directory yet: it cannot be created.
    let e = HistoryStore::open(&state, Retention::default()).unwrap_err();
    assert!(matches!(e, HistoryError::CreateDir { .. }), "{e:?}");
    assert!(e.to_string().contains(&state.join("history").display().to_string()), "{e}");
    // A history directory that cannot be written to.
    let e = HistoryStore::open(&existing, Retention::default()).unwrap_err();
    assert!(matches!(e, HistoryError::Unwritable { .. }), "{e:?}");
    assert!(e.to_string().contains(&existing.join("history").display().to_string()), "{e}");
}

#[test]
fn history_full_disk_records_nothing_and_recovers() {
    let dir = TempDir::new("history");
    let state = dir.join("state");
    // Needs root (the tests run as root, on the host and in the sid root).
    let tmpfs = Tmpfs::mount(&state, "256K");
    let mut store = HistoryStore::open(&state, Retention::default()).unwrap();
    store.append(applied(1), &config(1)).unwrap();
    tmpfs.fill("filler");
    let big = json!({"lua": {"script": "x".repeat(64 << 10)}});
    match store.append(applied(2), &big) {
        Err(e @ HistoryError::Write { .. }) => assert!(e.to_string().contains("0000000002.json"), "{e}"),
        other => panic!("append on a full disk: {other:?}"),
    }
    assert_eq!(numbers(&store), [1]);
    assert_eq!(files(store.dir()), [".lock", "0000000001.json"]);
    fs::remove_file(state.join("filler")).unwrap();
    // A failed write leaves a gap in the numbers.
    assert_eq!(store.append(applied(3), &big).unwrap().number, 3);
    assert_eq!(store.config(3).unwrap(), big);
    drop(store);
    assert_eq!(numbers(&HistoryStore::open(&state, Retention::default()).unwrap()), [3, 1]);
}

#[test]
fn history_time_stamps_are_rfc3339_utc() {
    assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
    assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_millis(1_796_306_515_999)), "2026-12-03T14:01:55.999Z");
    assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(4_107_542_399)), "2100-02-28T23:59:59.000Z");
    assert_eq!(rfc3339_utc(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01T00:00:00.000Z");
    let now = rfc3339_utc(SystemTime::now());
    assert!(now.len() == 24 && now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
}

/// The cost of an append, with and without the disk's sync latency (printed; the issue's target is 1 ms without
/// it). Run with `--nocapture` to see it.
#[test]
fn history_append_cost() {
    let dir = TempDir::new("history");
    let mut store = open(&dir, Retention { max_count: 50, ..Retention::default() });
    // A configuration of a realistic size (a few KiB): local data and several listeners.
    let records: Vec<Value> =
        (0..100).map(|i| json!(format!("host{i}.example.internal. 300 IN A 192.0.2.{}", i % 250))).collect();
    let document = json!({
        "workers": 4, "cache": {"size-max": "100M"},
        "network": {"listen": [
            {"interface": "127.0.0.1@53"}, {"interface": "::1@53"}, {"interface": "127.0.0.1@853", "kind": "dot"}
        ]},
        "local-data": {"records": records}, "logging": {"level": "info"}
    });
    const COUNT: u32 = 100;
    for (sync, label) in [(false, "without fsync"), (true, "with fsync")] {
        store.set_sync(sync);
        let start = Instant::now();
        for n in 0..COUNT {
            store.append(applied(u64::from(n)), &document).unwrap();
        }
        let each = start.elapsed() / COUNT;
        let size = store.total_bytes() / store.len() as u64;
        println!("history append ({label}): {each:?} per generation ({size} bytes each, pruning included)");
    }
    assert_eq!(store.len(), 50);
    // The disk's own latency, for comparison: one 5 KiB write + fdatasync, the least a durable append needs.
    let probe = dir.join("sync-probe");
    let bytes = vec![b'x'; 5 << 10];
    let start = Instant::now();
    for _ in 0..COUNT {
        let mut file = std::fs::File::create(&probe).unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        file.sync_data().unwrap();
    }
    println!("bare 5 KiB write + fdatasync on the same disk: {:?} each", start.elapsed() / COUNT);
}
