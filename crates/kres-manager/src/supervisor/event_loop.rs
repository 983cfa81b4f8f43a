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

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rustix::process::Signal;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::notify::{Datagram, NotifySocket};
use super::process::{self, Exit, Launch, Output, ProcHandle, Tail};
use super::server::Connection;
use super::systemd::{self, Systemd};
use super::{Error, SupervisorOptions};
use crate::protocol::{
    ENV_MANAGER_PING_MS, ENV_SUPERVISOR_SOCKET, Event, MANAGER_EXIT_FATAL, NOTIFY_SOCKET, ProcInfo, ProcKind,
    ProcStatus, Reply, Request, RequestLine, Restart, SUPERVISOR_SOCKET, SpawnSpec, SupervisorLine, WaitFor,
};

/// Failures (of a child or of the manager) older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long a restarted notify-type child may take to send `READY=1` when its spawn request named no timeout
/// (the reference's supervisord `startsecs` for kresd).
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the manager gets to exit after SIGTERM at shutdown.
const MANAGER_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for processes to be reaped after SIGKILL.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
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
    fn deadline(self) -> Option<Instant> {
        match self {
            Phase::StoppingManager(d) | Phase::StoppingChildren(d) | Phase::Killing(d) => Some(d),
            Phase::Running | Phase::Done => None,
        }
    }
}

/// A pending request, answered when something happens to a child.
#[derive(Debug)]
struct Waiter {
    conn: u64,
    seq: u64,
    kind: WaitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    /// A spawn waiting for `READY=1`.
    Ready,
    /// A spawn waiting for the exit.
    Exit,
    /// A stop waiting for the exit.
    Stop,
}

/// A supervised child (kept across restarts).
#[derive(Debug)]
struct Child {
    spec: SpawnSpec,
    status: ProcStatus,
    restarts: u32,
    last_exit: Option<String>,
    /// Times of recent unexpected exits (within [`FAILURE_WINDOW`]).
    failures: VecDeque<Instant>,
    /// Serial of the current (or last) instance.
    serial: u64,
    instance: Option<Instance>,
    waiters: Vec<Waiter>,
    /// `Some(timeout)` once a stop was requested: the next exit is expected and the child is forgotten then.
    stopping: Option<Duration>,
    /// Output of the current (or last) instance.
    tail: Tail,
    /// FATAL after failing on its own (repeated crashes, or a restart that never became ready), as opposed to a
    /// spawn the manager was answered with an error: such a child makes the resolver unhealthy (systemd watchdog).
    gave_up: bool,
}

/// A running instance of a child.
#[derive(Debug)]
struct Instance {
    handle: ProcHandle,
    ready: bool,
    /// Set when the supervisor killed it for not becoming ready (or not exiting) in time: it is FATAL then.
    kill_reason: Option<String>,
}

impl Child {
    fn new(spec: SpawnSpec) -> Child {
        Child {
            spec,
            status: ProcStatus::Starting,
            restarts: 0,
            last_exit: None,
            failures: VecDeque::new(),
            serial: 0,
            instance: None,
            waiters: Vec::new(),
            stopping: None,
            tail: Tail::default(),
            gave_up: false,
        }
    }

    fn pid(&self) -> Option<u32> {
        self.instance.as_ref().map(|i| i.handle.pid)
    }

    /// Running, starting or waiting for a restart: a new spawn with the same id is refused.
    fn is_supervised(&self) -> bool {
        self.instance.is_some() || self.status == ProcStatus::Backoff
    }

    fn info(&self) -> ProcInfo {
        ProcInfo {
            id: self.spec.id.clone(),
            kind: self.spec.kind,
            pid: self.pid().unwrap_or(0),
            status: self.status,
            generation: self.spec.generation.clone(),
            restarts: self.restarts,
            last_exit: self.last_exit.clone(),
        }
    }

    fn ready_timeout(&self) -> Duration {
        match self.spec.wait {
            WaitFor::Ready { timeout_ms } => Duration::from_millis(timeout_ms),
            _ => DEFAULT_READY_TIMEOUT,
        }
    }
}

/// The manager child.
#[derive(Debug, Default)]
struct Manager {
    handle: Option<ProcHandle>,
    serial: u64,
    crashes: VecDeque<Instant>,
}

/// systemd's watchdog (`WatchdogSec=`), fed only while the resolver is healthy.
#[derive(Debug)]
struct Watchdog {
    /// How often `WATCHDOG=1` is sent (half of `WATCHDOG_USEC`); the manager must have sent a line within it.
    period: Duration,
    /// When the connected manager last sent a line (or connected).
    last_seen: Option<Instant>,
    /// Why the watchdog was not fed at the last tick (for logging changes only).
    unhealthy: Option<String>,
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

    fn on_connection(&mut self, stream: UnixStream) {
        let id = self.next_serial();
        if self.conn.is_some() {
            tracing::info!("a new manager connection replaces the previous one");
        } else {
            tracing::debug!("the manager connected");
        }
        // Dropping the old connection closes it.
        self.conn = Some(Connection::start(id, stream, self.tx.clone()));
        self.manager_seen();
    }

    /// The connected manager showed a sign of life.
    fn manager_seen(&mut self) {
        if let Some(w) = &mut self.watchdog {
            w.last_seen = Some(Instant::now());
        }
    }

    /// Why systemd's watchdog must not be fed now, if it must not.
    fn unhealthy(&self, period: Duration) -> Option<String> {
        if !self.is_running() {
            return Some("shutting down".into());
        }
        if self.conn.is_none() {
            return Some("the manager is not connected".into());
        }
        let since = self.watchdog.as_ref().and_then(|w| w.last_seen).map(|t| t.elapsed());
        if since.is_none_or(|s| s > period) {
            return Some(format!("the manager has sent nothing for {}", secs(since.unwrap_or_default())));
        }
        let fatal: Vec<&str> = self
            .children
            .iter()
            .filter(|(_, c)| c.spec.kind == ProcKind::Kresd && c.status == ProcStatus::Fatal && c.gave_up)
            .map(|(id, _)| id.as_str())
            .collect();
        if !fatal.is_empty() {
            return Some(format!("{} {} FATAL", fatal.join(", "), if fatal.len() == 1 { "is" } else { "are" }));
        }
        None
    }

    fn on_watchdog_tick(&mut self) {
        let Some(period) = self.watchdog.as_ref().map(|w| w.period) else { return };
        let unhealthy = self.unhealthy(period);
        match &unhealthy {
            None => self.notify_systemd("WATCHDOG=1"),
            Some(reason) if self.is_running() => {
                if self.watchdog.as_ref().is_some_and(|w| w.unhealthy.as_ref() != Some(reason)) {
                    tracing::warn!("not feeding the systemd watchdog: {reason}");
                }
            }
            Some(_) => {}
        }
        if let Some(w) = &mut self.watchdog {
            if unhealthy.is_none() && w.unhealthy.is_some() {
                tracing::info!("healthy again; feeding the systemd watchdog");
            }
            w.unhealthy = unhealthy;
        }
    }

    fn on_message(&mut self, msg: Msg) {
        match msg {
            Msg::Line { conn, line } => self.on_line(conn, &line),
            Msg::Disconnected { conn } => {
                if self.conn.as_ref().is_some_and(|c| c.id == conn) {
                    tracing::debug!("the manager disconnected");
                    self.conn = None;
                }
            }
            Msg::Exited { serial, exit } => self.on_exit(serial, exit),
            Msg::Timer { serial, timer } => self.on_timer(serial, timer),
        }
    }

    fn on_line(&mut self, conn: u64, line: &str) {
        if self.conn.as_ref().is_none_or(|c| c.id != conn) {
            return; // a line that was already queued when the connection was replaced
        }
        self.manager_seen();
        match serde_json::from_str::<RequestLine>(line) {
            Ok(RequestLine { seq, request }) => self.on_request(conn, seq, request),
            Err(e) => {
                tracing::warn!("invalid request from the manager ({e}): {line}");
                let seq = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("seq")?.as_u64());
                if let Some(seq) = seq {
                    self.reply(conn, seq, error(format!("invalid request: {e}"), Vec::new()));
                }
            }
        }
    }

    fn on_request(&mut self, conn: u64, seq: u64, request: Request) {
        if request != Request::Ping {
            tracing::debug!("request {seq}: {request:?}");
        }
        match request {
            Request::Spawn { spec } => self.spawn(conn, seq, spec),
            Request::Stop { id, timeout_ms } => self.stop(conn, seq, &id, Duration::from_millis(timeout_ms)),
            Request::Signal { id, signal } => {
                let reply = self.signal(&id, signal);
                self.reply(conn, seq, reply);
            }
            Request::List => {
                let procs = self.children.values().map(Child::info).collect();
                self.reply(conn, seq, Reply::List { procs });
            }
            // After STOPPING=1, systemd must not hear READY=1 again.
            Request::Ready { status } => {
                if self.is_running() {
                    self.notify_systemd(&format!("READY=1\nSTATUS={status}"));
                }
                self.reply(conn, seq, Reply::Ok);
            }
            Request::Notify { state } => {
                if self.is_running() {
                    self.notify_systemd(&state);
                }
                self.reply(conn, seq, Reply::Ok);
            }
            Request::Shutdown => {
                self.reply(conn, seq, Reply::Ok);
                self.begin_shutdown(0, "the manager asked for it");
            }
            Request::Ping => self.reply(conn, seq, Reply::Ok),
        }
    }

    // ---- spawn, stop, signal ----

    fn spawn(&mut self, conn: u64, seq: u64, spec: SpawnSpec) {
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
    fn start_instance(&mut self, id: &str) -> io::Result<()> {
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

    fn stop(&mut self, conn: u64, seq: u64, id: &str, timeout: Duration) {
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

    fn signal(&self, id: &str, raw: i32) -> Reply {
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

    // ---- readiness ----

    fn on_notify(&mut self, datagram: Datagram) {
        let Some(pid) = datagram.pid else {
            tracing::debug!("ignoring a notification without credentials: {:?}", datagram.text);
            return;
        };
        let Some(id) = self.children.iter().find(|(_, c)| c.pid() == Some(pid)).map(|(id, _)| id.clone()) else {
            tracing::debug!("ignoring a notification from PID {pid}, not a supervised process: {:?}", datagram.text);
            return;
        };
        for line in datagram.text.lines() {
            if line == "READY=1" {
                self.on_ready(&id);
            } else {
                tracing::debug!("{id} (PID {pid}) notified {line}");
            }
        }
    }

    /// Handles the notifications that are already queued (a `READY=1` sent right before an exit).
    fn drain_notify(&mut self) {
        while let Ok(Some(datagram)) = self.notify.try_recv() {
            self.on_notify(datagram);
        }
    }

    fn on_ready(&mut self, id: &str) {
        let Some(child) = self.children.get_mut(id) else { return };
        let Some(instance) = child.instance.as_mut() else { return };
        if instance.ready || instance.kill_reason.is_some() || child.stopping.is_some() {
            return;
        }
        instance.ready = true;
        tracing::info!("success: {id} entered RUNNING state, process sent notification via $NOTIFY_SOCKET");
        if child.status == ProcStatus::Starting {
            child.status = ProcStatus::Running;
        }
        let info = child.info();
        let waiting = take_waiters(&mut child.waiters, |k| k == WaitKind::Ready);
        let others = !child.waiters.is_empty();
        if waiting.is_empty() && !others {
            self.event(Event::Ready { info });
        } else {
            for w in waiting {
                self.reply(w.conn, w.seq, Reply::Proc { info: info.clone() });
            }
        }
    }

    // ---- exits and restarts ----

    fn on_exit(&mut self, serial: u64, exit: Exit) {
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

        if child.stopping.is_some() {
            tracing::info!("stopped: {id} ({}) (PID {pid})", supervisord_exit(exit));
            self.children.remove(&id);
            for w in waiters {
                let reply = match w.kind {
                    WaitKind::Stop => Reply::Ok,
                    WaitKind::Ready | WaitKind::Exit => error(format!("{id} was stopped ({exit})"), tail.clone()),
                };
                self.reply(w.conn, w.seq, reply);
            }
            return;
        }
        if !running {
            tracing::info!("stopped: {id} ({}) (PID {pid})", supervisord_exit(exit));
            child.status = ProcStatus::Exited;
            for w in waiters {
                self.reply(w.conn, w.seq, error(format!("{id} exited ({exit}): shutting down"), tail.clone()));
            }
            return;
        }
        if let Some(reason) = instance.kill_reason {
            child.status = ProcStatus::Fatal;
            let message = format!("{id} {reason}");
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
            return;
        }
        if let Some(w) = waiters.iter().find(|w| w.kind == WaitKind::Exit) {
            let expected = if exit == Exit::Code(0) { "expected" } else { "not expected" };
            tracing::info!("exited: {id} ({}; {expected}) (PID {pid})", supervisord_exit(exit));
            child.status = ProcStatus::Exited;
            let reply = Reply::Exited { info: child.info(), code: exit.code(), output_tail: tail };
            return self.reply(w.conn, w.seq, reply);
        }
        if let Some(w) = waiters.iter().find(|w| w.kind == WaitKind::Ready) {
            child.status = ProcStatus::Fatal;
            let message = match exit {
                Exit::Code(code) => format!("{id} exited with code {code} before it was ready"),
                Exit::Signal(signal) => format!("{id} was killed by signal {signal} before it was ready"),
            };
            tracing::warn!("exited: {id} ({}; not expected): {message}", supervisord_exit(exit));
            return self.reply(w.conn, w.seq, error(message, tail));
        }
        let expected = if exit == Exit::Code(0) { "expected" } else { "not expected" };
        tracing::warn!("exited: {id} ({}; {expected}) (PID {pid})", supervisord_exit(exit));
        self.on_unexpected_exit(&id, &exit.to_string(), exit == Exit::Code(0), tail);
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
        let failures = record_failure(&mut child.failures);
        if failures > max_retries as usize {
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
        child.status = ProcStatus::Backoff;
        let delay = backoff(failures);
        tracing::warn!("{id} exited unexpectedly ({why}); restarting it{}", after(delay));
        let info = child.info();
        let serial = child.serial;
        self.event(Event::Exited { info, output_tail: tail });
        self.timer(delay, serial, Timer::Restart);
    }

    fn on_timer(&mut self, serial: u64, timer: Timer) {
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

    // ---- the manager ----

    fn start_manager(&mut self) -> io::Result<()> {
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

    fn restart_manager(&mut self) {
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

    fn on_manager_exit(&mut self, exit: Exit) {
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
                let crashes = record_failure(&mut self.manager.crashes);
                if crashes > self.opts.manager_restart_limit as usize {
                    tracing::error!(
                        "the manager (PID {pid}) exited unexpectedly ({exit}), {crashes} times within {}",
                        secs(FAILURE_WINDOW)
                    );
                    self.begin_shutdown(1, "the manager keeps crashing");
                } else {
                    let delay = backoff(crashes);
                    tracing::warn!(
                        "the manager (PID {pid}) exited unexpectedly ({exit}); restarting it{}",
                        after(delay)
                    );
                    self.timer(delay, self.manager.serial, Timer::ManagerRestart);
                }
            }
        }
    }

    fn on_hangup(&self) {
        match &self.manager.handle {
            Some(manager) => {
                tracing::info!("SIGHUP received; passing it on to the manager (PID {})", manager.pid);
                manager.signal(Signal::HUP);
            }
            None => tracing::info!("SIGHUP received; ignored, the manager is not running"),
        }
    }

    // ---- shutdown ----

    fn on_stop_signal(&mut self, name: &str) {
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
    fn begin_shutdown(&mut self, code: i32, reason: &str) {
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
    fn advance_shutdown(&mut self) {
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

    fn on_deadline(&mut self) {
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

fn error(message: String, output_tail: Vec<String>) -> Reply {
    Reply::Error { message, output_tail }
}

/// Removes and returns the waiters of the matching kinds.
fn take_waiters(waiters: &mut Vec<Waiter>, matches: impl Fn(WaitKind) -> bool) -> Vec<Waiter> {
    let (taken, kept) = std::mem::take(waiters).into_iter().partition(|w| matches(w.kind));
    *waiters = kept;
    taken
}

/// Records a failure now and returns how many happened within [`FAILURE_WINDOW`].
fn record_failure(failures: &mut VecDeque<Instant>) -> usize {
    let now = Instant::now();
    while failures.front().is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW) {
        failures.pop_front();
    }
    failures.push_back(now);
    failures.len()
}

/// The wait before the restart after the `failures`-th failure in a row: none for the first one (a killed worker
/// must be answering again at once), then 0.5 s, 1 s, 2 s, ... up to [`MAX_BACKOFF`].
fn backoff(failures: usize) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let exponent = u32::try_from(failures - 2).unwrap_or(u32::MAX).min(10);
    (Duration::from_millis(500) * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

/// Whether `path` is relative and stays inside the directory it is joined to.
fn is_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
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
    fn backoff_grows_and_is_capped() {
        let secs: Vec<f64> = (1..=8).map(|n| backoff(n).as_secs_f64()).collect();
        assert_eq!(secs, [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }

    #[test]
    fn cleanup_paths_stay_inside() {
        assert!(is_inside(Path::new("control/0")));
        assert!(!is_inside(Path::new("/etc/passwd")));
        assert!(!is_inside(Path::new("../x")));
        assert!(!is_inside(Path::new("control/../../x")));
        assert!(!is_inside(Path::new("")));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(secs(Duration::from_secs(60)), "60 s");
        assert_eq!(secs(Duration::from_millis(500)), "0.5 s");
        assert_eq!(after(Duration::ZERO), "");
        assert_eq!(after(Duration::from_secs(2)), " in 2 s");
    }
}
