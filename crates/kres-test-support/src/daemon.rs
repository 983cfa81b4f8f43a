//! A whole resolver started through the real `knot-resolver` binary: an offline configuration in a temp dir
//! (rundir, cache, API socket inside it), DNS on a free loopback port, the log in `daemon.log`, the supervisor
//! killed on drop (its children follow it through `PR_SET_PDEATHSIG`).
//!
//! The binary is passed in by the caller: `env!("CARGO_BIN_EXE_knot-resolver")` only exists in the crate that
//! defines it (kres-manager); other crates find it next to their own binaries in the target directory.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::procfs::children_named;
use crate::{ChildGuard, TempDir, free_port, require_sid_root, try_kdig, wait_until};

/// The name every test resolver answers from its local data, and its address.
pub const TEST_NAME: &str = "test.example";
pub const TEST_ADDR: &str = "192.0.2.53";

/// How long [`DaemonBuilder::start`] waits for DNS and the API.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A configuration for an offline test resolver listening on 127.0.0.1@`port`, with rundir (and the API socket
/// in it) and cache inside `dir`, and `extra` YAML appended.
pub fn test_config(dir: &Path, port: u16, workers: usize, extra: &str) -> String {
    format!(
        "rundir: {dir}/run\nworkers: {workers}\ncache:\n  storage: {dir}/cache\n  size-max: 10M\n\
         management:\n  unix-socket: {dir}/run/kres-api.sock\n  state-dir: {dir}/state\n  health-hold: 300ms\n\
         network:\n  listen:\n    - interface: 127.0.0.1@{port}\n\
         options:\n  priming: false\n  time-jump-detection: false\n\
         dnssec:\n  enable: false\n\
         logging:\n  level: info\n\
         local-data:\n  records: |\n    {TEST_NAME}. 300 A {TEST_ADDR}\n\
         forward:\n  - subtree: .\n    servers: [127.0.0.1@9]\n    options: {{dnssec: false}}\n{extra}",
        dir = dir.display()
    )
}

/// A running `knot-resolver` (the supervisor process), killed on drop.
pub struct Daemon {
    pub dir: TempDir,
    pub port: u16,
    pub process: ChildGuard,
}

/// What to start: see [`Daemon::builder`].
#[derive(Debug, Clone)]
pub struct DaemonBuilder {
    bin: PathBuf,
    workers: usize,
    extra: String,
    env: Vec<(OsString, OsString)>,
    tag: String,
}

impl DaemonBuilder {
    /// The number of kresd workers (default 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// YAML appended to [`test_config`].
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra = yaml.to_owned();
        self
    }

    /// An environment variable for `knot-resolver`.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The tag of the temp dir's name (default `daemon`).
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_owned();
        self
    }

    /// Writes the configuration and starts the daemon; does not wait.
    pub fn spawn(self) -> Daemon {
        require_sid_root();
        let dir = TempDir::new(&self.tag);
        fs::create_dir_all(dir.join("run")).unwrap();
        fs::create_dir_all(dir.join("cache")).unwrap();
        let port = free_port();
        fs::write(dir.join("config.yaml"), test_config(dir.path(), port, self.workers, &self.extra)).unwrap();
        Daemon::spawn_env(&self.bin, dir, port, &self.env)
    }

    /// Starts the daemon and waits until it answers DNS and its API reports every worker ready
    /// ([`Daemon::wait_ready`]).
    pub fn start(self) -> Daemon {
        let mut daemon = self.spawn();
        daemon.wait_ready(START_TIMEOUT);
        daemon
    }
}

impl Daemon {
    /// A daemon of `bin` (the `knot-resolver` binary) with one worker and the plain [`test_config`].
    pub fn builder(bin: impl Into<PathBuf>) -> DaemonBuilder {
        DaemonBuilder { bin: bin.into(), workers: 1, extra: String::new(), env: Vec::new(), tag: "daemon".into() }
    }

    /// Starts `bin` on the `config.yaml` already in `dir` (again, e.g. after the last one was killed); the log is
    /// appended to `daemon.log`.
    pub fn spawn_in(bin: &Path, dir: TempDir, port: u16) -> Daemon {
        Daemon::spawn_env(bin, dir, port, &[])
    }

    fn spawn_env(bin: &Path, dir: TempDir, port: u16, env: &[(OsString, OsString)]) -> Daemon {
        let log = fs::OpenOptions::new().create(true).append(true).open(dir.join("daemon.log")).unwrap();
        let mut command = Command::new(bin);
        command
            .arg("-c")
            .arg(dir.join("config.yaml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let process = ChildGuard::spawn(&mut command).expect("spawn knot-resolver");
        Daemon { dir, port, process }
    }

    /// Starts `bin` in `dir` on [`test_config`] with the management API on TCP 127.0.0.1:`api` instead of the unix
    /// socket and `management` (YAML lines indented by two spaces) added to `/management`; waits until it answers
    /// DNS.
    pub fn start_with_tcp_api(bin: &Path, dir: TempDir, api: u16, management: &str) -> Daemon {
        require_sid_root();
        fs::create_dir_all(dir.join("run")).unwrap();
        fs::create_dir_all(dir.join("cache")).unwrap();
        let port = free_port();
        let config = test_config(dir.path(), port, 1, "").replace(
            &format!("  unix-socket: {}/run/kres-api.sock\n", dir.path().display()),
            &format!("  interface: 127.0.0.1@{api}\n{management}"),
        );
        assert!(config.contains("  interface: 127.0.0.1@"), "the management block changed:\n{config}");
        fs::write(dir.join("config.yaml"), config).unwrap();
        let mut daemon = Daemon::spawn_in(bin, dir, port);
        daemon.wait_answering(START_TIMEOUT);
        daemon
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.yaml")
    }

    pub fn rundir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// The management API's unix socket.
    pub fn socket(&self) -> PathBuf {
        self.rundir().join("kres-api.sock")
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Whether the test name resolves right now.
    pub fn answers(&self) -> bool {
        try_kdig("127.0.0.1", self.port, TEST_NAME, "A", &["+timeout=1", "+retry=0"])
            .is_ok_and(|a| a.addresses().contains(&TEST_ADDR))
    }

    /// Whether the API answers `GET /readyz` with 200: every configured worker runs and answers on its control
    /// socket.
    pub fn api_ready(&self) -> bool {
        let Ok(mut stream) = UnixStream::connect(self.socket()) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let mut reply = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply.split(' ').nth(1) == Some("200")
    }

    /// Waits until the test name resolves; panics with the log if the daemon exits first or time runs out.
    pub fn wait_answering(&mut self, timeout: Duration) {
        self.wait("answering DNS", timeout, Daemon::answers);
    }

    /// Waits until the test name resolves and the API reports every worker ready.
    pub fn wait_ready(&mut self, timeout: Duration) {
        self.wait("answering DNS with every worker ready", timeout, |d| d.answers() && d.api_ready());
    }

    fn wait(&mut self, what: &str, timeout: Duration, ready: impl Fn(&Daemon) -> bool) {
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            if let Ok(Some(status)) = self.process.try_wait() {
                panic!("knot-resolver exited with {status} before {what}:\n{}", self.log());
            }
            ready(self)
        });
        assert!(ok, "knot-resolver was not {what} within {timeout:?}:\n{}", self.log());
    }

    /// PIDs of this daemon's kresd processes (children of the supervisor named kresd), sorted.
    pub fn kresd_pids(&self) -> Vec<u32> {
        children_named(self.process.id(), "kresd")
    }

    /// PID of the manager process (the supervisor's child running knot-resolver).
    pub fn manager_pid(&self) -> Option<u32> {
        children_named(self.process.id(), "knot-resolver").first().copied()
    }
}
