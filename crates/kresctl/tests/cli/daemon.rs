//! A real resolver for the online commands: the workspace's `knot-resolver` (built next to `kresctl`) with real
//! kresd workers, in a temp dir, on a free port, its management API on a unix socket in its rundir.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kres_test_support::{ChildGuard, TempDir, free_port, require_sid_root, try_kdig, wait_until};

use crate::support::{Run, kresctl};

/// The name every test resolver answers from its local data.
pub const TEST_NAME: &str = "test.example";
pub const TEST_ADDR: &str = "192.0.2.53";

/// The `knot-resolver` binary: cargo puts every binary of the workspace in the same directory.
pub fn knot_resolver_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_kresctl")).with_file_name("knot-resolver");
    assert!(
        bin.is_file(),
        "{} is missing: the online kresctl tests run the workspace's manager. Build it first \
         (`cargo build -p kres-manager`), or run the tests with `cargo xtask test` (`cargo xtask test -p kresctl` \
         builds it too)",
        bin.display()
    );
    bin
}

/// A running `knot-resolver`, killed on drop.
pub struct Daemon {
    pub dir: TempDir,
    pub port: u16,
    pub process: ChildGuard,
}

/// An offline test resolver listening on 127.0.0.1@`port`, everything else inside `dir`.
fn config(dir: &Path, port: u16, workers: usize) -> String {
    format!(
        "rundir: {dir}/run\nworkers: {workers}\ncache:\n  storage: {dir}/cache\n  size-max: 10M\n\
         management:\n  unix-socket: {dir}/run/kres-api.sock\n\
         network:\n  listen:\n    - interface: 127.0.0.1@{port}\n\
         options:\n  priming: false\n  time-jump-detection: false\n\
         dnssec:\n  enable: false\n\
         logging:\n  level: info\n\
         local-data:\n  records: |\n    {TEST_NAME}. 300 A {TEST_ADDR}\n\
         forward:\n  - subtree: .\n    servers: [127.0.0.1@9]\n    options: {{dnssec: false}}\n",
        dir = dir.display()
    )
}

impl Daemon {
    /// Starts a resolver with `workers` kresd and waits until it answers DNS and its API.
    pub fn start(workers: usize) -> Daemon {
        require_sid_root();
        let bin = knot_resolver_bin();
        let dir = TempDir::new("kresctl-online");
        fs::create_dir_all(dir.join("run")).unwrap();
        fs::create_dir_all(dir.join("cache")).unwrap();
        let port = free_port();
        fs::write(dir.join("config.yaml"), config(dir.path(), port, workers)).unwrap();
        let log = fs::File::create(dir.join("daemon.log")).unwrap();
        let process = ChildGuard::spawn(
            Command::new(bin)
                .arg("-c")
                .arg(dir.join("config.yaml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        )
        .expect("spawn knot-resolver");
        let mut daemon = Daemon { dir, port, process };
        let up = wait_until(Duration::from_secs(60), Duration::from_millis(20), || {
            if let Ok(Some(status)) = daemon.process.try_wait() {
                panic!("knot-resolver exited with {status} before it was up:\n{}", daemon.log());
            }
            daemon.answers() && daemon.socket().exists() && daemon.kresctl(["pids", "kresd"]).code == 0
        });
        assert!(up, "the resolver did not come up within 60 s:\n{}", daemon.log());
        daemon
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("run/kres-api.sock")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Whether the test name resolves right now.
    pub fn answers(&self) -> bool {
        try_kdig("127.0.0.1", self.port, TEST_NAME, "A", &["+timeout=1", "+retry=0"])
            .is_ok_and(|a| a.addresses().contains(&TEST_ADDR))
    }

    /// `kresctl -s <this resolver's socket> ARGS`.
    pub fn kresctl<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["-s".into(), self.socket().into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        kresctl(all)
    }

    /// The kresd PIDs `kresctl pids kresd` lists, sorted.
    pub fn kresd_pids(&self) -> Vec<u32> {
        let run = self.kresctl(["pids", "kresd"]).success();
        let mut pids: Vec<u32> = run.stdout.lines().map(|l| l.parse().unwrap_or_else(|_| panic!("{l:?}"))).collect();
        pids.sort_unstable();
        pids
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}
