use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A spawned process that is killed (SIGKILL, by its PID) and reaped when the guard is dropped, so a failing test
/// never leaves a kresd or knotd behind.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Guards an already spawned child; `name` is used in messages.
    pub fn new(child: Child, name: impl Into<String>) -> ChildGuard {
        ChildGuard { child: Some(child), name: name.into() }
    }

    /// Spawns `cmd` and guards it.
    pub fn spawn(cmd: &mut Command) -> io::Result<ChildGuard> {
        let name = cmd.get_program().to_string_lossy().into_owned();
        Ok(ChildGuard::new(cmd.spawn()?, name))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.child().id()
    }

    pub fn child(&self) -> &Child {
        self.child.as_ref().expect("child is present until drop")
    }

    pub fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("child is present until drop")
    }

    /// `Some(status)` if the process has exited (it is reaped then).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child_mut().try_wait()
    }

    /// Sends a signal by name (`"TERM"`, `"INT"`, `"HUP"`, ...) with `kill(1)`, by PID.
    pub fn signal(&mut self, signal: &str) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() || self.try_wait()?.is_some() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -{signal} {} failed: {status}", self.id())))
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the exit status.
    pub fn terminate(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        self.signal("TERM")?;
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        self.kill()
    }

    /// SIGKILL and reap. Returns the exit status.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        let child = self.child_mut();
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        child.kill()?;
        child.wait()
    }

    /// Gives up the guard: the process is no longer killed on drop.
    pub fn into_inner(mut self) -> Child {
        self.child.take().expect("child is present until drop")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Polls `condition` every `poll` until it returns true or `timeout` has passed; returns whether it became true.
/// The condition is always checked at least once, and once more right at the deadline.
pub fn wait_until(timeout: Duration, poll: Duration, mut condition: impl FnMut() -> bool) -> bool {
    wait_for(timeout, poll, || condition().then_some(())).is_some()
}

/// Polls `probe` every `poll` until it returns `Some` or `timeout` has passed.
pub fn wait_for<T>(timeout: Duration, poll: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep(poll.min(deadline - now));
    }
}
