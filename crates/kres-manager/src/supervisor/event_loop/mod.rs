//! The event loop: the one owner of the supervisor's state (the process table, the manager child, the manager's
//! connection, the shutdown phase). Everything that happens reaches it either as a `select!` branch (signals,
//! notifications, new connections, the shutdown deadline) or as a [`Msg`] from a helper task (request lines,
//! process exits, timers). Handlers are synchronous and never wait, so a slow child cannot stall the others.
//!
//! Processes are identified across restarts by their id (`kresd0`); each started instance gets a fresh serial, and
//! exit reports and timers carry the serial, so a late report about an old instance is recognised and ignored.
//!
//! Protocol semantics worth knowing on the manager's side:
//! * `spawn` is refused while a process with the same id is supervised (running, starting or in backoff); an
//!   exited or FATAL one is replaced. Cleanup files must be relative paths inside the rundir.
//! * `WaitFor::Ready` is answered with `proc` at `READY=1`, or with an error: `kresd0 exited with code 1 before it
//!   was ready` (with kresd's output in `output_tail`) or `kresd0 did not become ready within 10 s` (it was
//!   SIGKILLed). Either way the process is FATAL and not restarted: the manager decides what to do.
//!   `WaitFor::Exit` is answered with `exited` (or an error after its timeout, the process SIGKILLed).
//! * A restart policy applies only to processes that were running: an unexpected exit sends `exited` (status
//!   `backoff`, or `fatal` after more than `max_retries` failures within a minute), a restart `started`, and
//!   readiness `ready`. `ready` is not sent when a request waits for that readiness (the reply says it).
//!   Restarted notify-type processes that do not become ready in time (the spawn's ready timeout, else 60 s) are
//!   killed and FATAL.
//! * `stop` of an unknown id is `ok` (nothing to do); a stopped process is forgotten.
//! * `ProcInfo::last_exit` reads `exit code 1` or `signal 9`.
//! * Replies to requests of a connection that was replaced are dropped, as are events while no manager is
//!   connected.
//! * With systemd's watchdog enabled (`WATCHDOG_USEC`), the manager is started with `KRES_MANAGER_PING_MS` and
//!   must send `ping` (or any request) that often; `WATCHDOG=1` goes to systemd every `WATCHDOG_USEC`/2 only while
//!   the manager is connected, its last line is more recent than that period, and no kresd worker is FATAL after
//!   failing on its own (a canary refused in a spawn reply does not count: the manager was told).
//!
//! The state and the `select!` loop are here; the handlers are `impl EventLoop` blocks by concern: `requests`
//! (the manager's connection), `children` (spawn, stop, signal), `readiness` (`READY=1`), `exits` (exits, timers,
//! restarts), `manager_child`, `shutdown`, `watchdog`. What an exit means and whether to restart is decided by the
//! pure functions of `policy`.

mod children;
mod exits;
mod manager_child;
mod policy;
mod readiness;
mod requests;
mod shutdown;
mod watchdog;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::notify::NotifySocket;
use super::process::Exit;
use super::server::Connection;
use super::systemd::{self, Systemd};
use super::{Error, SupervisorOptions};
use crate::protocol::{ENV_MANAGER_PING_MS, Event, NOTIFY_SOCKET, Reply, SUPERVISOR_SOCKET, SupervisorLine};
use children::Child;
use manager_child::Manager;
use shutdown::Phase;
use watchdog::Watchdog;

/// What helper tasks tell the event loop.
#[derive(Debug)]
pub enum Msg {
    /// A line from the manager's connection `conn`.
    Line { conn: u64, line: String },
    /// The manager's connection `conn` ended.
    Disconnected { conn: u64 },
    /// The process instance `serial` has been reaped (and its output drained).
    Exited { serial: u64, exit: Exit },
    /// A timer set for the process instance (or manager) `serial` expired.
    Timer { serial: u64, timer: Timer },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// A notify-type child has not sent `READY=1` in time.
    Ready,
    /// A child waited for with `WaitFor::Exit` has not exited in time.
    Exit,
    /// A stopped child ignored SIGTERM.
    Stop,
    /// Restart a crashed child (its backoff is over).
    Restart,
    /// Restart the crashed manager.
    ManagerRestart,
}

pub struct EventLoop {
    opts: SupervisorOptions,
    listener: UnixListener,
    notify: NotifySocket,
    notify_path: PathBuf,
    socket_path: PathBuf,
    systemd: Option<Systemd>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    children: BTreeMap<String, Child>,
    manager: Manager,
    conn: Option<Connection>,
    last_serial: u64,
    phase: Phase,
    exit_code: i32,
    /// The cancellation token: set once shutdown begins; pending timers (restarts above all) end on it.
    shutdown: watch::Sender<bool>,
    watchdog: Option<Watchdog>,
}

impl EventLoop {
    pub fn new(mut opts: SupervisorOptions, listener: UnixListener, notify: NotifySocket) -> EventLoop {
        let (tx, rx) = mpsc::unbounded_channel();
        let systemd = Systemd::from_env();
        let watchdog = systemd.as_ref().and(systemd::watchdog_period()).map(|period| {
            let ping = (period / 2).max(Duration::from_millis(10));
            tracing::info!(
                "systemd watchdog enabled: WATCHDOG=1 every {} while the manager pings (every {}) and no worker is FATAL",
                secs(period),
                secs(ping)
            );
            opts.manager_env.push((ENV_MANAGER_PING_MS.to_string(), ping.as_millis().to_string()));
            Watchdog { period, last_seen: None, unhealthy: None }
        });
        EventLoop {
            notify_path: opts.rundir.join(NOTIFY_SOCKET),
            socket_path: opts.rundir.join(SUPERVISOR_SOCKET),
            opts,
            listener,
            notify,
            systemd,
            tx,
            rx,
            children: BTreeMap::new(),
            manager: Manager::default(),
            conn: None,
            last_serial: 0,
            phase: Phase::Running,
            exit_code: 0,
            shutdown: watch::Sender::new(false),
            watchdog,
        }
    }

    /// Starts the manager and runs until everything has stopped; returns the exit code.
    pub async fn run(mut self) -> Result<i32, Error> {
        let mut sigterm = signal(SignalKind::terminate()).map_err(Error::io("cannot handle SIGTERM"))?;
        let mut sigint = signal(SignalKind::interrupt()).map_err(Error::io("cannot handle SIGINT"))?;
        let mut sighup = signal(SignalKind::hangup()).map_err(Error::io("cannot handle SIGHUP"))?;
        self.notify_systemd("STATUS=Starting...");
        self.start_manager()
            .map_err(Error::io(format!("cannot start the manager ({})", self.opts.manager_argv.join(" "))))?;
        let period = self.watchdog.as_ref().map_or(Duration::from_secs(3600), |w| w.period);
        let mut watchdog_ticks = tokio::time::interval_at(Instant::now() + period, period);
        watchdog_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        while self.phase != Phase::Done {
            let deadline = self.phase.deadline();
            // Biased: a pending SIGTERM/SIGINT is seen before the exits it causes (Ctrl-C reaches the children
            // too), so they are not mistaken for crashes and restarted.
            tokio::select! {
                biased;
                _ = sigterm.recv() => self.on_stop_signal("SIGTERM"),
                _ = sigint.recv() => self.on_stop_signal("SIGINT"),
                _ = sighup.recv() => self.on_hangup(),
                datagram = self.notify.recv() => match datagram {
                    Ok(d) => self.on_notify(d),
                    Err(e) => tracing::warn!("cannot receive on the notify socket: {e}"),
                },
                Some(msg) = self.rx.recv() => self.on_message(msg),
                accepted = self.listener.accept(), if self.phase == Phase::Running => match accepted {
                    Ok((stream, _)) => self.on_connection(stream),
                    Err(e) => tracing::warn!("cannot accept a connection on {}: {e}", self.socket_path.display()),
                },
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.on_deadline();
                }
                _ = watchdog_ticks.tick(), if self.watchdog.is_some() => self.on_watchdog_tick(),
            }
            self.advance_shutdown();
        }
        Ok(self.exit_code)
    }

    fn next_serial(&mut self) -> u64 {
        self.last_serial += 1;
        self.last_serial
    }

    fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Sends [`Msg::Timer`] after `after`, unless the supervisor starts shutting down first.
    fn timer(&self, after: Duration, serial: u64, timer: Timer) {
        let tx = self.tx.clone();
        let mut shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(after) => {
                    let _ = tx.send(Msg::Timer { serial, timer });
                }
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
        });
    }

    fn notify_systemd(&self, state: &str) {
        if let Some(systemd) = &self.systemd {
            systemd.notify(state);
        }
    }

    fn reply(&self, conn: u64, seq: u64, reply: Reply) {
        match &self.conn {
            Some(c) if c.id == conn => c.send(SupervisorLine::Reply { seq, reply }),
            _ => tracing::debug!("the connection of request {seq} is gone; dropping its reply {reply:?}"),
        }
    }

    /// Pushes an event to the connected manager; without one it is dropped (a new manager calls `list`).
    fn event(&self, event: Event) {
        if let Some(c) = &self.conn {
            c.send(SupervisorLine::Event(event));
        }
    }
}

fn error(message: String, output_tail: Vec<String>) -> Reply {
    Reply::Error { message, output_tail }
}

/// `2 s`, `0.5 s`.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

fn after(delay: Duration) -> String {
    if delay.is_zero() { String::new() } else { format!(" in {}", secs(delay)) }
}

/// The output tail for a log message.
fn show_tail(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    let mut text = String::from("; its last output:");
    for line in tail {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(secs(Duration::from_secs(60)), "60 s");
        assert_eq!(secs(Duration::from_millis(500)), "0.5 s");
        assert_eq!(after(Duration::ZERO), "");
        assert_eq!(after(Duration::from_secs(2)), " in 2 s");
    }
}
