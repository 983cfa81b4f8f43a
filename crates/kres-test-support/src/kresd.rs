use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{ChildGuard, FixtureError, KRESD, TempDir};

/// How to start a [`Kresd`]; see [`Kresd::builder`].
#[derive(Debug)]
pub struct KresdBuilder {
    configs: Vec<(String, String)>,
    no_postconfig: bool,
    rundir: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    args: Vec<OsString>,
    timeout: Duration,
}

/// A running kresd that has sent `READY=1` on its `NOTIFY_SOCKET`; killed (SIGKILL) on drop.
///
/// It runs `/usr/sbin/kresd -c <name> ... -n` with cwd = its rundir (a fresh [`TempDir`] unless
/// [`KresdBuilder::rundir`] names one), exactly as the manager starts its workers. READY is sent after every `-c`
/// file ran and the listeners are bound, so a started `Kresd` is answering. A config error makes kresd exit 1
/// before READY; [`KresdBuilder::start`] then returns [`FixtureError::Exited`] with kresd's stderr.
#[derive(Debug)]
pub struct Kresd {
    // Field order = drop order: the process goes before the directories.
    child: ChildGuard,
    rundir: PathBuf,
    stderr_path: PathBuf,
    dir: TempDir,
}

impl Kresd {
    pub fn builder() -> KresdBuilder {
        KresdBuilder {
            configs: Vec::new(),
            no_postconfig: false,
            rundir: None,
            env: Vec::new(),
            args: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Starts kresd on one Lua config (written as `kresd.conf` in a fresh rundir).
    pub fn start(lua: &str) -> Result<Kresd, FixtureError> {
        Kresd::builder().config("kresd.conf", lua).start()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// kresd's working directory (where `control/`, `ruledb/`, `defer` and a relative cache live).
    pub fn rundir(&self) -> &Path {
        &self.rundir
    }

    /// kresd's control socket, `<rundir>/control/<pid>` (created by postconfig when the config sets none).
    pub fn control_socket(&self) -> PathBuf {
        self.rundir.join("control").join(self.pid().to_string())
    }

    /// Everything kresd wrote to stderr so far (its log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn process(&mut self) -> &mut ChildGuard {
        &mut self.child
    }

    /// SIGTERM and wait (SIGKILL after 5 s); kresd exits 0 and removes its control socket.
    pub fn stop(&mut self) -> io::Result<ExitStatus> {
        self.child.terminate(Duration::from_secs(5))
    }

    /// The fixture's own temp dir (notify socket, stdout/stderr files; also the rundir by default).
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl KresdBuilder {
    /// Adds a config file: `lua` is written to `<rundir>/<name>` and passed as `-c <name>`, in call order.
    pub fn config(mut self, name: &str, lua: &str) -> Self {
        self.configs.push((name.to_string(), lua.to_string()));
        self
    }

    /// Appends `-c -`, which keeps kresd from running `postconfig.lua` (no default listeners, control socket or
    /// cache). The manager starts its policy-loader this way.
    pub fn no_postconfig(mut self) -> Self {
        self.no_postconfig = true;
        self
    }

    /// Uses an existing directory as the rundir (for several kresd sharing one cache/ruledb). The fixture keeps its
    /// own temp dir for the notify socket and logs.
    pub fn rundir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rundir = Some(dir.into());
        self
    }

    /// Sets an environment variable for kresd (e.g. `SYSTEMD_INSTANCE`).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds a command-line argument (after the `-c` options and `-n`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How long to wait for READY (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Writes the configs, spawns kresd and waits for `READY=1` or its exit.
    ///
    /// # Panics
    /// When no config was added.
    pub fn start(self) -> Result<Kresd, FixtureError> {
        assert!(!self.configs.is_empty(), "KresdBuilder needs at least one config");
        let dir = TempDir::new("kresd");
        let rundir = self.rundir.clone().unwrap_or_else(|| dir.path().to_path_buf());
        for (name, lua) in &self.configs {
            let path = rundir.join(name);
            std::fs::write(&path, lua).map_err(FixtureError::io(format!("write {}", path.display())))?;
        }
        let notify_path = dir.join("notify");
        let notify = UnixDatagram::bind(&notify_path)
            .map_err(FixtureError::io(format!("bind notify socket {}", notify_path.display())))?;
        let stderr_path = dir.join("kresd.stderr");
        let stdout_path = dir.join("kresd.stdout");
        let stderr =
            File::create(&stderr_path).map_err(FixtureError::io(format!("create {}", stderr_path.display())))?;
        let stdout =
            File::create(&stdout_path).map_err(FixtureError::io(format!("create {}", stdout_path.display())))?;

        let mut cmd = Command::new(KRESD);
        for (name, _) in &self.configs {
            cmd.arg("-c").arg(name);
        }
        if self.no_postconfig {
            cmd.args(["-c", "-"]);
        }
        cmd.arg("-n")
            .args(&self.args)
            .current_dir(&rundir)
            .env("NOTIFY_SOCKET", &notify_path)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let mut child = ChildGuard::spawn(&mut cmd)
            .map_err(FixtureError::io(format!("cannot start {KRESD} (is this the sid root?)")))?;

        let read_stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let deadline = Instant::now() + self.timeout;
        notify
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(FixtureError::io("set notify socket timeout"))?;
        let mut buf = [0u8; 4096];
        loop {
            match notify.recv(&mut buf) {
                Ok(n) => {
                    if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
                        return Ok(Kresd { child, rundir, stderr_path, dir });
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(FixtureError::io("receive on notify socket")(e)),
            }
            if let Some(status) = child.try_wait().map_err(FixtureError::io("wait for kresd"))? {
                // It may have sent READY just before exiting (a config ending in `quit()`).
                if let Ok(n) = notify.recv(&mut buf)
                    && String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1")
                    && status.success()
                {
                    return Ok(Kresd { child, rundir, stderr_path, dir });
                }
                return Err(FixtureError::Exited { program: KRESD.into(), status, stderr: read_stderr() });
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                return Err(FixtureError::Timeout {
                    program: KRESD.into(),
                    after: self.timeout,
                    stderr: read_stderr(),
                });
            }
        }
    }
}

/// The canary check: does real kresd accept `lua`? Starts kresd on it in a fresh rundir and returns `Ok` once it
/// is READY (then kills it), or kresd's stderr when it exits first.
///
/// The config must set its own listeners (on a [`crate::free_port`]) and should start with
/// [`crate::OFFLINE_LUA_PRELUDE`]; without a DNS listener postconfig tries port 53.
pub fn kresd_accepts(lua: &str) -> Result<(), String> {
    match Kresd::start(lua) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
