//! The supervised children: their state across restarts, and the manager's `spawn`, `stop` and `signal`.

use std::io;
use std::path::{Component, Path};
use std::time::Duration;

use rustix::process::Signal;

use super::policy::Failures;
use super::{EventLoop, Msg, Timer, error};
use crate::protocol::{ProcInfo, ProcStatus, Reply, SpawnSpec, WaitFor};
use crate::supervisor::process::{self, Launch, Output, ProcHandle, Tail};

/// How long a restarted notify-type child may take to send `READY=1` when its spawn request named no timeout
/// (the reference's supervisord `startsecs` for kresd).
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A pending request, answered when something happens to a child.
#[derive(Debug)]
pub(super) struct Waiter {
    pub(super) conn: u64,
    pub(super) seq: u64,
    pub(super) kind: WaitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WaitKind {
    /// A spawn waiting for `READY=1`.
    Ready,
    /// A spawn waiting for the exit.
    Exit,
    /// A stop waiting for the exit.
    Stop,
}

/// A supervised child (kept across restarts).
#[derive(Debug)]
pub(super) struct Child {
    pub(super) spec: SpawnSpec,
    pub(super) status: ProcStatus,
    pub(super) restarts: u32,
    pub(super) last_exit: Option<String>,
    /// Times of recent unexpected exits (within [`super::policy::FAILURE_WINDOW`]).
    pub(super) failures: Failures,
    /// Serial of the current (or last) instance.
    pub(super) serial: u64,
    pub(super) instance: Option<Instance>,
    pub(super) waiters: Vec<Waiter>,
    /// `Some(timeout)` once a stop was requested: the next exit is expected and the child is forgotten then.
    pub(super) stopping: Option<Duration>,
    /// Output of the current (or last) instance.
    pub(super) tail: Tail,
    /// FATAL after failing on its own (repeated crashes, or a restart that never became ready), as opposed to a
    /// spawn the manager was answered with an error: such a child makes the resolver unhealthy (systemd watchdog).
    pub(super) gave_up: bool,
}

/// A running instance of a child.
#[derive(Debug)]
pub(super) struct Instance {
    pub(super) handle: ProcHandle,
    pub(super) ready: bool,
    /// Set when the supervisor killed it for not becoming ready (or not exiting) in time: it is FATAL then.
    pub(super) kill_reason: Option<String>,
}

impl Child {
    pub(super) fn new(spec: SpawnSpec) -> Child {
        Child {
            spec,
            status: ProcStatus::Starting,
            restarts: 0,
            last_exit: None,
            failures: Failures::default(),
            serial: 0,
            instance: None,
            waiters: Vec::new(),
            stopping: None,
            tail: Tail::default(),
            gave_up: false,
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.instance.as_ref().map(|i| i.handle.pid)
    }

    /// Running, starting or waiting for a restart: a new spawn with the same id is refused.
    pub(super) fn is_supervised(&self) -> bool {
        self.instance.is_some() || self.status == ProcStatus::Backoff
    }

    pub(super) fn info(&self) -> ProcInfo {
        ProcInfo {
            id: self.spec.id.clone(),
            kind: self.spec.kind,
            pid: self.pid().unwrap_or(0),
            status: self.status,
            etag: self.spec.etag.clone(),
            restarts: self.restarts,
            last_exit: self.last_exit.clone(),
        }
    }

    pub(super) fn ready_timeout(&self) -> Duration {
        match self.spec.wait {
            WaitFor::Ready { timeout_ms } => Duration::from_millis(timeout_ms),
            _ => DEFAULT_READY_TIMEOUT,
        }
    }
}

impl EventLoop {
    pub(super) fn spawn(&mut self, conn: u64, seq: u64, spec: SpawnSpec) {
        if let Err(message) = self.check_spawn(&spec) {
            return self.reply(conn, seq, error(message, Vec::new()));
        }
        let id = spec.id.clone();
        let wait = spec.wait;
        self.children.insert(id.clone(), Child::new(spec));
        if let Err(e) = self.start_instance(&id) {
            let child = self.children.remove(&id).expect("inserted above");
            let message = format!("cannot start {id} ({}): {e}", child.spec.argv[0]);
            tracing::warn!("{message}");
            return self.reply(conn, seq, error(message, Vec::new()));
        }
        let child = self.children.get_mut(&id).expect("inserted above");
        match wait {
            WaitFor::Started => {
                let info = child.info();
                self.reply(conn, seq, Reply::Proc { info });
            }
            // The ready timer is set by `start_instance`.
            WaitFor::Ready { .. } => child.waiters.push(Waiter { conn, seq, kind: WaitKind::Ready }),
            WaitFor::Exit { timeout_ms } => {
                child.waiters.push(Waiter { conn, seq, kind: WaitKind::Exit });
                let serial = child.serial;
                self.timer(Duration::from_millis(timeout_ms), serial, Timer::Exit);
            }
        }
    }

    fn check_spawn(&self, spec: &SpawnSpec) -> Result<(), String> {
        let id = &spec.id;
        if !self.is_running() {
            return Err(format!("cannot start {id}: the supervisor is shutting down"));
        }
        if id.is_empty() {
            return Err("cannot start a process without an id".into());
        }
        if spec.argv.is_empty() {
            return Err(format!("cannot start {id}: empty command"));
        }
        if matches!(spec.wait, WaitFor::Ready { .. }) && !spec.notify {
            return Err(format!("cannot wait for {id} to become ready: it is not started with NOTIFY_SOCKET"));
        }
        if let Some(bad) = spec.cleanup.iter().find(|p| !is_inside(Path::new(p))) {
            return Err(format!(
                "cannot start {id}: the cleanup path '{bad}' is not a relative path inside the rundir"
            ));
        }
        match self.children.get(id) {
            Some(c) if c.is_supervised() => match c.pid() {
                Some(pid) => Err(format!("{id} is already running (PID {pid})")),
                None => Err(format!("{id} is already supervised (waiting for a restart)")),
            },
            _ => Ok(()),
        }
    }

    /// Starts a new instance of the child `id` (removing its cleanup files first).
    pub(super) fn start_instance(&mut self, id: &str) -> io::Result<()> {
        let serial = self.next_serial();
        let rundir = &self.opts.rundir;
        let child = self.children.get_mut(id).expect("caller checked");
        for path in &child.spec.cleanup {
            let path = rundir.join(path);
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!("removed {} before starting {id}", path.display()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {} before starting {id}: {e}", path.display()),
            }
        }
        child.tail = Tail::default();
        let tx = self.tx.clone();
        let handle = process::spawn(
            Launch {
                argv: &child.spec.argv,
                env: &child.spec.env,
                cwd: rundir,
                notify_socket: child.spec.notify.then_some(self.notify_path.as_path()),
                output: Output::Capture { name: id.to_string(), tail: child.tail.clone() },
            },
            move |exit| {
                let _ = tx.send(Msg::Exited { serial, exit });
            },
        )?;
        // The lines supervisord logs for the reference (spawned/success/waiting/stopped/exited/gave up).
        tracing::info!("spawned: '{id}' with pid {}", handle.pid);
        tracing::debug!("started {id} (PID {}): {}", handle.pid, child.spec.argv.join(" "));
        if !child.spec.notify {
            tracing::info!(
                "success: {id} entered RUNNING state, process has stayed up for > than 0 seconds (startsecs)"
            );
        }
        child.serial = serial;
        child.instance = Some(Instance { handle, ready: false, kill_reason: None });
        child.status = if child.spec.notify { ProcStatus::Starting } else { ProcStatus::Running };
        if child.spec.notify {
            let timeout = child.ready_timeout();
            self.timer(timeout, serial, Timer::Ready);
        }
        Ok(())
    }

    pub(super) fn stop(&mut self, conn: u64, seq: u64, id: &str, timeout: Duration) {
        let Some(child) = self.children.get_mut(id) else {
            tracing::debug!("stop {id}: no such process; nothing to do");
            return self.reply(conn, seq, Reply::Ok);
        };
        let Some(instance) = &child.instance else {
            tracing::debug!("forgetting {id} ({:?})", child.status);
            self.children.remove(id);
            return self.reply(conn, seq, Reply::Ok);
        };
        child.waiters.push(Waiter { conn, seq, kind: WaitKind::Stop });
        if child.stopping.is_none() {
            tracing::info!("waiting for {id} to stop");
            child.stopping = Some(timeout);
            instance.handle.signal(Signal::TERM);
            let serial = child.serial;
            self.timer(timeout, serial, Timer::Stop);
        }
    }

    pub(super) fn signal(&self, id: &str, raw: i32) -> Reply {
        let Some(signal) = process::signal_from_raw(raw) else {
            return error(format!("cannot send signal {raw} to {id}: not a supported signal"), Vec::new());
        };
        match self.children.get(id).and_then(|c| c.instance.as_ref()) {
            Some(instance) => {
                tracing::debug!("sending signal {raw} to {id} (PID {})", instance.handle.pid);
                instance.handle.signal(signal);
                Reply::Ok
            }
            None => error(format!("cannot send signal {raw} to {id}: it is not running"), Vec::new()),
        }
    }
}

/// Removes and returns the waiters of the matching kinds.
pub(super) fn take_waiters(waiters: &mut Vec<Waiter>, matches: impl Fn(WaitKind) -> bool) -> Vec<Waiter> {
    let (taken, kept) = std::mem::take(waiters).into_iter().partition(|w| matches(w.kind));
    *waiters = kept;
    taken
}

/// Whether `path` is relative and stays inside the directory it is joined to.
fn is_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_paths_stay_inside() {
        assert!(is_inside(Path::new("control/0")));
        assert!(!is_inside(Path::new("/etc/passwd")));
        assert!(!is_inside(Path::new("../x")));
        assert!(!is_inside(Path::new("control/../../x")));
        assert!(!is_inside(Path::new("")));
    }
}
