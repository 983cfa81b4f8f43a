//! Exits, timers and restarts of the children: each exit is classified and each crash decided by `policy`; this
//! module carries the decisions out (replies, events, log lines, restart timers, SIGKILL at timeouts).

use std::time::Duration;

use rustix::process::Signal;
use tokio::time::Instant;

use super::children::WaitKind;
use super::policy::{self, Decision, ExitFacts, ExitKind, FAILURE_WINDOW};
use super::{EventLoop, Timer, after, error, secs, show_tail};
use crate::protocol::{Event, ProcStatus, Reply, Restart, WaitFor};
use crate::supervisor::process::Exit;

impl EventLoop {
    pub(super) fn on_exit(&mut self, serial: u64, exit: Exit) {
        self.drain_notify();
        if self.manager.handle.is_some() && self.manager.serial == serial {
            return self.on_manager_exit(exit);
        }
        let Some(id) =
            self.children.iter().find(|(_, c)| c.serial == serial && c.instance.is_some()).map(|(id, _)| id.clone())
        else {
            return;
        };
        let running = self.is_running();
        let child = self.children.get_mut(&id).expect("found above");
        let instance = child.instance.take().expect("found above");
        let pid = instance.handle.pid;
        child.last_exit = Some(exit.to_string());
        let tail = child.tail.lines();
        let waiters = std::mem::take(&mut child.waiters);

        let facts = ExitFacts {
            stopping: child.stopping.is_some(),
            shutting_down: !running,
            killed: instance.kill_reason.is_some(),
            exit_awaited: waiters.iter().any(|w| w.kind == WaitKind::Exit),
            ready_awaited: waiters.iter().any(|w| w.kind == WaitKind::Ready),
        };
        match policy::classify_exit(facts) {
            ExitKind::Stopped => {
                tracing::info!("stopped: {id} ({}) (PID {pid})", supervisord_exit(exit));
                self.children.remove(&id);
                for w in waiters {
                    let reply = match w.kind {
                        WaitKind::Stop => Reply::Ok,
                        WaitKind::Ready | WaitKind::Exit => error(format!("{id} was stopped ({exit})"), tail.clone()),
                    };
                    self.reply(w.conn, w.seq, reply);
                }
            }
            ExitKind::ShuttingDown => {
                tracing::info!("stopped: {id} ({}) (PID {pid})", supervisord_exit(exit));
                child.status = ProcStatus::Exited;
                for w in waiters {
                    self.reply(w.conn, w.seq, error(format!("{id} exited ({exit}): shutting down"), tail.clone()));
                }
            }
            ExitKind::Killed => {
                child.status = ProcStatus::Fatal;
                let message = format!("{id} {}", instance.kill_reason.unwrap_or_default());
                let info = child.info();
                if waiters.is_empty() {
                    // A restarted instance: nobody else reports it.
                    child.gave_up = true;
                    tracing::error!("{message}; it is FATAL now{}", show_tail(&tail));
                    self.event(Event::Exited { info, output_tail: tail });
                } else {
                    for w in waiters {
                        self.reply(w.conn, w.seq, error(message.clone(), tail.clone()));
                    }
                }
            }
            ExitKind::Awaited => {
                let Some(w) = waiters.iter().find(|w| w.kind == WaitKind::Exit) else { return };
                let expected = if exit == Exit::Code(0) { "expected" } else { "not expected" };
                tracing::info!("exited: {id} ({}; {expected}) (PID {pid})", supervisord_exit(exit));
                child.status = ProcStatus::Exited;
                let reply = Reply::Exited { info: child.info(), code: exit.code(), output_tail: tail };
                self.reply(w.conn, w.seq, reply);
            }
            ExitKind::NotReady => {
                let Some(w) = waiters.iter().find(|w| w.kind == WaitKind::Ready) else { return };
                child.status = ProcStatus::Fatal;
                let message = match exit {
                    Exit::Code(code) => format!("{id} exited with code {code} before it was ready"),
                    Exit::Signal(signal) => format!("{id} was killed by signal {signal} before it was ready"),
                };
                tracing::warn!("exited: {id} ({}; not expected): {message}", supervisord_exit(exit));
                self.reply(w.conn, w.seq, error(message, tail));
            }
            ExitKind::Crashed => {
                let expected = if exit == Exit::Code(0) { "expected" } else { "not expected" };
                tracing::warn!("exited: {id} ({}; {expected}) (PID {pid})", supervisord_exit(exit));
                self.on_unexpected_exit(&id, &exit.to_string(), exit == Exit::Code(0), tail);
            }
        }
    }

    /// Applies the restart policy to a child that exited on its own (or could not be restarted).
    fn on_unexpected_exit(&mut self, id: &str, why: &str, clean: bool, tail: Vec<String>) {
        let child = self.children.get_mut(id).expect("caller checked");
        let max_retries = match child.spec.restart {
            Restart::Never => {
                child.status = ProcStatus::Exited;
                if clean {
                    tracing::info!("{id} exited ({why})");
                } else {
                    tracing::warn!("{id} exited unexpectedly ({why})");
                }
                let info = child.info();
                return self.event(Event::Exited { info, output_tail: tail });
            }
            Restart::OnFailure { max_retries } => max_retries,
        };
        let delay = match policy::after_failure(max_retries, &mut child.failures, Instant::now()) {
            Decision::RestartNow => Duration::ZERO,
            Decision::RestartAfter(delay) => delay,
            Decision::GiveUp { failures } => {
                child.status = ProcStatus::Fatal;
                child.gave_up = true;
                tracing::error!("gave up: {id} entered FATAL state, too many start retries too quickly");
                tracing::error!(
                    "{id} exited unexpectedly ({why}) {failures} times within {}; giving up, it is FATAL now{}",
                    secs(FAILURE_WINDOW),
                    show_tail(&tail)
                );
                let info = child.info();
                return self.event(Event::Exited { info, output_tail: tail });
            }
        };
        child.status = ProcStatus::Backoff;
        tracing::warn!("{id} exited unexpectedly ({why}); restarting it{}", after(delay));
        let info = child.info();
        let serial = child.serial;
        self.event(Event::Exited { info, output_tail: tail });
        self.timer(delay, serial, Timer::Restart);
    }

    pub(super) fn on_timer(&mut self, serial: u64, timer: Timer) {
        if timer == Timer::ManagerRestart {
            if self.is_running() && self.manager.handle.is_none() && self.manager.serial == serial {
                self.restart_manager();
            }
            return;
        }
        let Some(id) = self.children.iter().find(|(_, c)| c.serial == serial).map(|(id, _)| id.clone()) else {
            return;
        };
        let running = self.is_running();
        let child = self.children.get_mut(&id).expect("found above");
        match timer {
            Timer::Ready | Timer::Exit => {
                let reason = if timer == Timer::Ready {
                    format!("did not become ready within {}", secs(child.ready_timeout()))
                } else {
                    let WaitFor::Exit { timeout_ms } = child.spec.wait else { return };
                    format!("did not exit within {}", secs(Duration::from_millis(timeout_ms)))
                };
                let stopping = child.stopping.is_some();
                let Some(instance) = child.instance.as_mut() else { return };
                if stopping || instance.kill_reason.is_some() || (timer == Timer::Ready && instance.ready) {
                    return;
                }
                tracing::warn!("{id} (PID {}) {reason}; killing it", instance.handle.pid);
                instance.kill_reason = Some(reason);
                instance.handle.signal(Signal::KILL);
            }
            Timer::Stop => {
                if let (Some(instance), Some(timeout)) = (&child.instance, child.stopping) {
                    tracing::warn!(
                        "{id} (PID {}) did not stop within {}; killing it",
                        instance.handle.pid,
                        secs(timeout)
                    );
                    instance.handle.signal(Signal::KILL);
                }
            }
            Timer::Restart => {
                if running && child.instance.is_none() && child.status == ProcStatus::Backoff {
                    self.restart(&id);
                }
            }
            Timer::ManagerRestart => unreachable!("handled above"),
        }
    }

    fn restart(&mut self, id: &str) {
        let started = self.start_instance(id);
        let child = self.children.get_mut(id).expect("caller checked");
        child.restarts += 1;
        match started {
            Ok(()) => {
                let info = child.info();
                tracing::info!("restarted {id} (PID {})", info.pid);
                self.event(Event::Started { info });
            }
            Err(e) => {
                let why = format!("cannot start {}: {e}", child.spec.argv[0]);
                self.on_unexpected_exit(id, &why, false, Vec::new());
            }
        }
    }
}

/// How supervisord describes an exit: `exit status 1`, `terminated by SIGTERM`.
fn supervisord_exit(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("exit status {code}"),
        Exit::Signal(signal) => match rustix::process::Signal::from_named_raw(signal) {
            Some(s) if s == rustix::process::Signal::TERM => "terminated by SIGTERM".to_owned(),
            Some(s) if s == rustix::process::Signal::KILL => "terminated by SIGKILL".to_owned(),
            Some(s) if s == rustix::process::Signal::INT => "terminated by SIGINT".to_owned(),
            Some(s) if s == rustix::process::Signal::ABORT => "terminated by SIGABRT".to_owned(),
            Some(s) if s == rustix::process::Signal::SEGV => "terminated by SIGSEGV".to_owned(),
            _ => format!("terminated by signal {signal}"),
        },
    }
}
