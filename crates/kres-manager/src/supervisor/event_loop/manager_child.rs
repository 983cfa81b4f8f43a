//! The manager child: started first, restarted with backoff when it crashes (the workers keep running), given up
//! on (shutdown, exit code 1) when it keeps crashing or exits with [`MANAGER_EXIT_FATAL`]. SIGHUP goes to it.

use std::io;
use std::time::Duration;

use rustix::process::Signal;
use tokio::time::Instant;

use super::policy::{self, Decision, FAILURE_WINDOW, Failures};
use super::{EventLoop, Msg, Timer, after, secs};
use crate::protocol::{ENV_SUPERVISOR_SOCKET, MANAGER_EXIT_FATAL};
use crate::supervisor::process::{self, Exit, Launch, Output, ProcHandle};

/// The manager child.
#[derive(Debug, Default)]
pub(super) struct Manager {
    pub(super) handle: Option<ProcHandle>,
    pub(super) serial: u64,
    /// Times of recent crashes (within [`super::policy::FAILURE_WINDOW`]).
    pub(super) crashes: Failures,
}

impl EventLoop {
    pub(super) fn start_manager(&mut self) -> io::Result<()> {
        let serial = self.next_serial();
        let mut env = vec![(ENV_SUPERVISOR_SOCKET.to_string(), self.socket_path.to_string_lossy().into_owned())];
        env.extend(self.opts.manager_env.iter().cloned());
        let tx = self.tx.clone();
        let handle = process::spawn(
            Launch {
                argv: &self.opts.manager_argv,
                env: &env,
                cwd: &self.opts.rundir,
                notify_socket: None,
                output: Output::Inherit,
            },
            move |exit| {
                let _ = tx.send(Msg::Exited { serial, exit });
            },
        )?;
        tracing::debug!("started the manager (PID {})", handle.pid);
        self.manager.serial = serial;
        self.manager.handle = Some(handle);
        Ok(())
    }

    pub(super) fn restart_manager(&mut self) {
        match self.start_manager() {
            Ok(()) => {
                tracing::info!("restarted the manager (PID {})", self.manager.handle.as_ref().map_or(0, |h| h.pid));
            }
            Err(e) => {
                tracing::error!("cannot restart the manager ({}): {e}", self.opts.manager_argv.join(" "));
                self.begin_shutdown(1, "the manager cannot be restarted");
            }
        }
    }

    pub(super) fn on_manager_exit(&mut self, exit: Exit) {
        let pid = self.manager.handle.take().map_or(0, |h| h.pid);
        if !self.is_running() {
            tracing::debug!("the manager (PID {pid}) exited ({exit})");
            return;
        }
        match exit {
            Exit::Code(0) => self.begin_shutdown(0, "the manager exited"),
            Exit::Code(MANAGER_EXIT_FATAL) => {
                tracing::error!("the manager failed and must not be restarted (exit code {MANAGER_EXIT_FATAL})");
                self.begin_shutdown(1, "the manager failed");
            }
            _ => {
                let limit = self.opts.manager_restart_limit;
                let delay = match policy::after_failure(limit, &mut self.manager.crashes, Instant::now()) {
                    Decision::RestartNow => Duration::ZERO,
                    Decision::RestartAfter(delay) => delay,
                    Decision::GiveUp { failures: crashes } => {
                        tracing::error!(
                            "the manager (PID {pid}) exited unexpectedly ({exit}), {crashes} times within {}",
                            secs(FAILURE_WINDOW)
                        );
                        return self.begin_shutdown(1, "the manager keeps crashing");
                    }
                };
                tracing::warn!("the manager (PID {pid}) exited unexpectedly ({exit}); restarting it{}", after(delay));
                self.timer(delay, self.manager.serial, Timer::ManagerRestart);
            }
        }
    }

    pub(super) fn on_hangup(&self) {
        match &self.manager.handle {
            Some(manager) => {
                tracing::info!("SIGHUP received; passing it on to the manager (PID {})", manager.pid);
                manager.signal(Signal::HUP);
            }
            None => tracing::info!("SIGHUP received; ignored, the manager is not running"),
        }
    }
}
