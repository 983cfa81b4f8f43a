//! Graceful shutdown, in phases: SIGTERM to the manager, then to the children, SIGKILL to whatever is left at
//! each deadline. A second SIGTERM/SIGINT kills everything at once.

use std::time::Duration;

use rustix::process::Signal;
use tokio::time::Instant;

use super::{EventLoop, secs};
use crate::protocol::{Event, ProcStatus};

/// How long the manager gets to exit after SIGTERM at shutdown.
const MANAGER_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for processes to be reaped after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    /// SIGTERM sent to the manager; SIGKILL at the deadline.
    StoppingManager(Instant),
    /// SIGTERM sent to the children; SIGKILL at the deadline.
    StoppingChildren(Instant),
    /// SIGKILL sent to everything; give up waiting at the deadline.
    Killing(Instant),
    Done,
}

impl Phase {
    pub(super) fn deadline(self) -> Option<Instant> {
        match self {
            Phase::StoppingManager(d) | Phase::StoppingChildren(d) | Phase::Killing(d) => Some(d),
            Phase::Running | Phase::Done => None,
        }
    }
}

impl EventLoop {
    pub(super) fn on_stop_signal(&mut self, name: &str) {
        match self.phase {
            Phase::Running => self.begin_shutdown(0, &format!("{name} received")),
            Phase::StoppingManager(_) | Phase::StoppingChildren(_) => {
                tracing::warn!("{name} received again; killing every process");
                self.kill_all();
                self.phase = Phase::Killing(Instant::now() + KILL_TIMEOUT);
            }
            Phase::Killing(_) | Phase::Done => {}
        }
    }

    /// Starts the graceful shutdown: the manager first, then the children.
    pub(super) fn begin_shutdown(&mut self, code: i32, reason: &str) {
        if !self.is_running() {
            return;
        }
        tracing::info!("shutting down: {reason}");
        self.exit_code = code;
        self.shutdown.send_replace(true);
        self.notify_systemd("STOPPING=1");
        self.event(Event::ShuttingDown);
        match &self.manager.handle {
            Some(manager) => {
                manager.signal(Signal::TERM);
                self.phase = Phase::StoppingManager(Instant::now() + MANAGER_STOP_TIMEOUT);
            }
            None => self.terminate_children(),
        }
    }

    fn terminate_children(&mut self) {
        for (id, child) in &mut self.children {
            match &child.instance {
                Some(instance) => {
                    tracing::debug!("stopping {id} (PID {})", instance.handle.pid);
                    instance.handle.signal(Signal::TERM);
                }
                None if child.status == ProcStatus::Backoff => child.status = ProcStatus::Exited,
                None => {}
            }
        }
        self.phase = Phase::StoppingChildren(Instant::now() + self.opts.stop_timeout);
    }

    fn kill_all(&self) {
        if let Some(manager) = &self.manager.handle {
            manager.signal(Signal::KILL);
        }
        for child in self.children.values() {
            if let Some(instance) = &child.instance {
                instance.handle.signal(Signal::KILL);
            }
        }
    }

    /// Processes that have not exited yet (`kresd0 (PID 12)`, ...).
    fn remaining(&self) -> Vec<String> {
        let manager = self.manager.handle.iter().map(|h| format!("the manager (PID {})", h.pid));
        let children = self.children.iter().filter_map(|(id, c)| c.pid().map(|pid| format!("{id} (PID {pid})")));
        manager.chain(children).collect()
    }

    /// Moves the shutdown on as far as the processes' state allows (possibly several steps at once).
    pub(super) fn advance_shutdown(&mut self) {
        loop {
            match self.phase {
                Phase::StoppingManager(_) if self.manager.handle.is_none() => self.terminate_children(),
                Phase::StoppingChildren(_) | Phase::Killing(_) if self.remaining().is_empty() => {
                    tracing::debug!("every process has exited");
                    self.phase = Phase::Done;
                }
                _ => return,
            }
        }
    }

    pub(super) fn on_deadline(&mut self) {
        match self.phase {
            Phase::StoppingManager(_) => {
                tracing::warn!("the manager did not stop within {}; killing it", secs(MANAGER_STOP_TIMEOUT));
                if let Some(manager) = &self.manager.handle {
                    manager.signal(Signal::KILL);
                }
                self.terminate_children();
            }
            Phase::StoppingChildren(_) => {
                tracing::warn!(
                    "{} did not stop within {}; killing",
                    self.remaining().join(", "),
                    secs(self.opts.stop_timeout)
                );
                self.kill_all();
                self.phase = Phase::Killing(Instant::now() + KILL_TIMEOUT);
            }
            Phase::Killing(_) => {
                tracing::error!("{} did not exit even after SIGKILL; giving up", self.remaining().join(", "));
                self.phase = Phase::Done;
            }
            Phase::Running | Phase::Done => {}
        }
    }
}
