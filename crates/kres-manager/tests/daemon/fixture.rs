//! A whole resolver started through the real `knot-resolver` binary, in its own rundir and on free ports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kres_test_support::{ChildGuard, TempDir, free_port, require_sid_root, try_kdig, wait_until};

pub const BIN: &str = env!("CARGO_BIN_EXE_knot-resolver");

/// The name every test resolver answers from local data.
pub const TEST_NAME: &str = "test.example";
pub const TEST_ADDR: &str = "192.0.2.53";

/// A running `knot-resolver` (the supervisor process), killed on drop.
pub struct Daemon {
    pub dir: TempDir,
    pub port: u16,
    pub process: ChildGuard,
}

/// A configuration for an offline test resolver listening on `port`, rundir and cache inside `dir`.
pub fn test_config(dir: &Path, port: u16, workers: usize, extra: &str) -> String {
    format!(
        "rundir: {dir}/run\nworkers: {workers}\ncache:\n  storage: {dir}/cache\n  size-max: 10M\n\
         management:\n  unix-socket: {dir}/run/kres-api.sock\n\
         network:\n  listen:\n    - interface: 127.0.0.1@{port}\n\
         options:\n  priming: false\n  time-jump-detection: false\n\
         dnssec:\n  enable: false\n\
         logging:\n  level: info\n\
         local-data:\n  records: |\n    {TEST_NAME}. 300 A {TEST_ADDR}\n\
         forward:\n  - subtree: .\n    servers: [127.0.0.1@9]\n    options: {{dnssec: false}}\n{extra}",
        dir = dir.display()
    )
}

impl Daemon {
    /// Writes the configuration and starts the daemon (does not wait).
    pub fn spawn_with(workers: usize, extra: &str) -> Daemon {
        Daemon::spawn_env(workers, extra, &[])
    }

    /// Like [`Daemon::spawn_with`], with extra environment variables for `knot-resolver`.
    pub fn spawn_env(workers: usize, extra: &str, env: &[(&str, &str)]) -> Daemon {
        require_sid_root();
        let dir = TempDir::new("daemon");
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::create_dir_all(dir.path().join("cache")).unwrap();
        let port = free_port();
        fs::write(dir.path().join("config.yaml"), test_config(dir.path(), port, workers, extra)).unwrap();
        Daemon::spawn_in(dir, port, env)
    }

    /// Starts the daemon on the `config.yaml` already in `dir` (again, e.g. after the last one was killed);
    /// the log is appended to `daemon.log`.
    pub fn spawn_in(dir: TempDir, port: u16, env: &[(&str, &str)]) -> Daemon {
        let log = fs::OpenOptions::new().create(true).append(true).open(dir.path().join("daemon.log")).unwrap();
        let mut command = Command::new(BIN);
        command
            .arg("-c")
            .arg(dir.path().join("config.yaml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let process = ChildGuard::spawn(&mut command).expect("spawn knot-resolver");
        Daemon { dir, port, process }
    }

    /// Starts the daemon and waits until DNS answers.
    pub fn start(workers: usize) -> Daemon {
        let mut d = Daemon::spawn_with(workers, "");
        d.wait_answering(Duration::from_secs(30));
        d
    }

    pub fn rundir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Whether the test name resolves right now.
    pub fn answers(&self) -> bool {
        try_kdig("127.0.0.1", self.port, TEST_NAME, "A", &["+timeout=1", "+retry=0"])
            .is_ok_and(|a| a.addresses().contains(&TEST_ADDR))
    }

    pub fn wait_answering(&mut self, timeout: Duration) {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            if let Ok(Some(status)) = self.process.try_wait() {
                panic!("knot-resolver exited with {status} before answering:\n{}", self.log());
            }
            self.answers()
        });
        assert!(ok, "no DNS answer within {timeout:?}:\n{}", self.log());
    }

    /// PIDs of this daemon's kresd workers (children of the supervisor named kresd).
    pub fn kresd_pids(&self) -> Vec<u32> {
        children_named(self.process.id(), "kresd")
    }

    /// PID of the manager process (the supervisor's child running knot-resolver).
    pub fn manager_pid(&self) -> Option<u32> {
        children_named(self.process.id(), "knot-resolver").first().copied()
    }
}

/// The PIDs of the processes whose parent is `parent` and whose command name is `name`.
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid ..."; comm may contain spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && comm == name {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// How many file descriptors `pid` has open (0 when it is gone).
pub fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Every live kresd on the machine whose working directory is `rundir` (the supervisor starts each child there),
/// whoever its parent is: finds leaked and orphaned workers, canaries and policy-loaders.
pub fn kresd_in(rundir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "kresd"
            && fs::read_link(entry.path().join("cwd")).is_ok_and(|c| c == rundir)
            && alive(pid)
        {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// A small tmpfs mounted over a directory of a test (the tests run as root inside the sid root); lazily unmounted
/// on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "kres-test-tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs on {} failed: {status}", path.display());
        Tmpfs { path: path.to_path_buf() }
    }

    /// Writes zeros into `name` until the file system is full.
    pub fn fill(&self, name: &str) {
        use std::io::Write;
        let mut file = fs::File::create(self.path.join(name)).unwrap();
        let block = vec![0u8; 64 << 10];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&block[..4096]).is_ok() {}
        let _ = file.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
