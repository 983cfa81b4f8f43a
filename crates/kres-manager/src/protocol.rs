//! The typed protocol between the supervisor (the first process, parent of every other) and the manager
//! process. One JSON object per line over a unix stream socket in the rundir.
//!
//! The manager sends [`Request`]s tagged with a sequence number; the supervisor answers each with a [`Reply`]
//! carrying the same number (requests are served concurrently, so replies may come out of order) and pushes
//! [`Event`]s about process state changes at any time. The supervisor keeps running processes when the manager
//! dies; a new manager calls [`Request::List`] and adopts them.

use serde::{Deserialize, Serialize};

/// Name of the supervisor's control socket inside the rundir.
pub const SUPERVISOR_SOCKET: &str = "supervisor.sock";
/// Name of the datagram socket kresd processes send `READY=1` to (their `NOTIFY_SOCKET`).
pub const NOTIFY_SOCKET: &str = "supervisor-notify.sock";
/// Environment variable telling the manager process where the supervisor's socket is.
pub const ENV_SUPERVISOR_SOCKET: &str = "KRES_SUPERVISOR_SOCKET";
/// Exit code of the manager process meaning "failed, do not restart me" (e.g. an invalid configuration at
/// startup): the supervisor then stops everything and exits with code 1. Exit code 0 means a normal shutdown; any
/// other exit (a panic's 101, a signal) is a crash, and the supervisor restarts the manager.
pub const MANAGER_EXIT_FATAL: i32 = 2;
/// Environment variable telling the manager process to send [`Request::Ping`] every that many milliseconds. The
/// supervisor sets it only when systemd's watchdog is enabled (`WATCHDOG_USEC`): it feeds the watchdog only while
/// the manager keeps pinging.
pub const ENV_MANAGER_PING_MS: &str = "KRES_MANAGER_PING_MS";

/// What kind of process a supervised child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcKind {
    Kresd,
    PolicyLoader,
    Gc,
}

/// The state of a supervised child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcStatus {
    /// Spawned, readiness (`READY=1`) not reported yet.
    Starting,
    /// Running (and ready, for processes that report readiness).
    Running,
    /// Restarting after an unexpected exit (backoff).
    Backoff,
    /// Exited and will not be restarted (expected exit, or a one-shot process).
    Exited,
    /// Failed repeatedly or never became ready; given up.
    Fatal,
}

/// What a spawn request waits for before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "until", rename_all = "kebab-case")]
pub enum WaitFor {
    /// Answer once the process is started.
    Started,
    /// Answer once the process sent `READY=1` (or failed: exited, or timed out and was killed).
    Ready { timeout_ms: u64 },
    /// Answer once the process exited (one-shot processes such as the policy-loader).
    Exit { timeout_ms: u64 },
}

/// Whether the supervisor restarts a process that exits unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    Never,
    /// Restart with backoff; after `max_retries` failures within a short window the process becomes FATAL.
    OnFailure {
        max_retries: u32,
    },
}

/// How to start a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnSpec {
    /// Unique name, e.g. `kresd0`, `gc`, `policy-loader`.
    pub id: String,
    pub kind: ProcKind,
    /// Program and arguments (absolute program path).
    pub argv: Vec<String>,
    /// Extra environment variables (on top of the supervisor's environment).
    pub env: Vec<(String, String)>,
    /// Give the child `NOTIFY_SOCKET` and track its `READY=1`.
    pub notify: bool,
    pub wait: WaitFor,
    pub restart: Restart,
    /// Files to remove before every (re)start, relative to the rundir (e.g. a stale `control/0` socket).
    #[serde(default)]
    pub cleanup: Vec<String>,
    /// Opaque label of the configuration the process runs (the manager puts the configuration's ETag here),
    /// returned by `list` so that a restarted manager knows what its adopted workers run. Its wire name stays
    /// `generation`, so that a manager and a supervisor of the previous version understand each other.
    #[serde(rename = "generation")]
    pub etag: String,
}

/// A supervised child as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcInfo {
    pub id: String,
    pub kind: ProcKind,
    /// The current PID (0 when not running).
    pub pid: u32,
    pub status: ProcStatus,
    /// The [`SpawnSpec::etag`] it was started with (wire name `generation`, like there).
    #[serde(rename = "generation")]
    pub etag: String,
    /// How many times the supervisor restarted it after unexpected exits.
    pub restarts: u32,
    /// Exit code or `signal N` of the last exit, if any.
    pub last_exit: Option<String>,
}

/// A request from the manager to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    Spawn {
        spec: SpawnSpec,
    },
    /// Stop a process (SIGTERM, then SIGKILL after the timeout) and forget it.
    Stop {
        id: String,
        timeout_ms: u64,
    },
    /// Send a signal to a process (e.g. SIGHUP); the process stays supervised.
    Signal {
        id: String,
        signal: i32,
    },
    List,
    /// The manager finished starting: tell systemd `READY=1` with this status text.
    Ready {
        status: String,
    },
    /// Update systemd's `STATUS=` text (and optionally send `RELOADING=1`/`READY=1` around a reload).
    Notify {
        state: String,
    },
    /// Stop everything and exit (API `/stop`).
    Shutdown,
    /// A sign of life (answered `ok`): the supervisor feeds systemd's watchdog only while these keep coming.
    Ping,
}

/// The supervisor's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Reply {
    Ok,
    Proc {
        info: ProcInfo,
    },
    /// A one-shot process finished (`WaitFor::Exit`).
    Exited {
        info: ProcInfo,
        code: Option<i32>,
        output_tail: Vec<String>,
    },
    List {
        procs: Vec<ProcInfo>,
    },
    Error {
        message: String,
        output_tail: Vec<String>,
    },
}

/// Something that happened to a supervised process, pushed to the manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A process exited unexpectedly (`status` tells whether it is being restarted or is FATAL now).
    Exited { info: ProcInfo, output_tail: Vec<String> },
    /// A process was (re)started by the supervisor on its own (restart after a crash).
    Started { info: ProcInfo },
    /// A process became ready.
    Ready { info: ProcInfo },
    /// The supervisor is shutting down (signal received).
    ShuttingDown,
}

/// A line sent by the manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLine {
    pub seq: u64,
    #[serde(flatten)]
    pub request: Request,
}

/// A line sent by the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SupervisorLine {
    Reply {
        seq: u64,
        #[serde(flatten)]
        reply: Reply,
    },
    Event(Event),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let line = RequestLine { seq: 7, request: Request::Stop { id: "kresd1".into(), timeout_ms: 5000 } };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(text, r#"{"seq":7,"op":"stop","id":"kresd1","timeout_ms":5000}"#);
        assert_eq!(serde_json::from_str::<RequestLine>(&text).unwrap(), line);

        let reply = SupervisorLine::Reply { seq: 7, reply: Reply::Ok };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<SupervisorLine>(&text).unwrap(), reply);

        let ping = RequestLine { seq: 8, request: Request::Ping };
        assert_eq!(serde_json::to_string(&ping).unwrap(), r#"{"seq":8,"op":"ping"}"#);

        let event = SupervisorLine::Event(Event::ShuttingDown);
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<SupervisorLine>(&text).unwrap(), event);
    }
}
