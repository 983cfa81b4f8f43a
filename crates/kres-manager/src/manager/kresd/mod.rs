//! The one place that talks to a running kresd: where its control socket is ([`control_socket`]), the
//! runtime commands the manager sends it ([`Command`], their Lua rendered through the datamodel's escaping), the
//! control-socket protocol ([`control`]), the drain before a worker is stopped ([`drain`]) and the health probe of
//! health-gated applies ([`probe`]).
//!
//! Everything else — the apply pipeline, the HTTP API (metrics, health, cache clear), the file watchers — goes
//! through here instead of writing Lua or socket paths itself.

pub mod control;
pub mod drain;
pub mod probe;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kres_datamodel::lua::escape::quote;

pub use control::ControlError;

/// The directory of the workers' control sockets, relative to the rundir.
const CONTROL_DIR: &str = "control";

/// Worker N's control socket, relative to the rundir (`control/<N>`; kresd creates it from `SYSTEMD_INSTANCE`).
pub fn control_socket_relative(instance: u32) -> String {
    format!("{CONTROL_DIR}/{instance}")
}

/// Worker N's control socket in `rundir`.
pub fn control_socket(rundir: &Path, instance: u32) -> PathBuf {
    rundir.join(CONTROL_DIR).join(instance.to_string())
}

/// Removes leftovers of a previous run that a new cold start must not reuse (stale control sockets).
pub fn remove_stale_control_sockets(rundir: &Path) {
    if let Ok(entries) = std::fs::read_dir(rundir.join(CONTROL_DIR)) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Which statistics a worker collects (`/monitoring/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stats {
    /// `collect_lazy_statistics()`.
    Lazy,
    /// `collect_statistics()`.
    Always,
}

/// A runtime command for a worker, sent over its control socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    /// The worker's statistics (`stats.list()` in the reference's shape).
    Stats(Stats),
    /// The worker's `worker.id` (its instance number as a string): a liveness probe.
    WorkerId,
    /// `cache.clear(name, exact_name, rr_type, chunk_size)`; the cache is shared, so one worker clears it for all.
    CacheClear {
        /// The name in punycode (`None`: the whole cache).
        name: Option<&'a str>,
        exact_name: bool,
        /// A record type kresd knows by name (`kres.type`).
        rr_type: Option<&'a str>,
        /// `None` with `exact_name`.
        chunk_size: Option<u64>,
    },
    /// Re-open the rules database the policy-loader wrote.
    RulesReset,
    /// Load the TLS certificate and key files again (`net.tls`).
    TlsReload { cert: &'a Path, key: &'a Path },
    /// Take the worker out of the load balancing before it is stopped (see [`drain`]).
    Drain,
    /// The drain's poll: queries in flight and busy client connections (see [`drain`]).
    DrainPoll,
    /// Listen for plain DNS on 127.0.0.1@`port` too: the worker's health-probe listener (see [`probe`]).
    ProbeListen { port: u16 },
}

impl Command<'_> {
    /// The Lua sent to kresd, one line (the control socket reads one command per line).
    pub fn lua(&self) -> String {
        match self {
            Command::Stats(Stats::Lazy) => "collect_lazy_statistics()".into(),
            Command::Stats(Stats::Always) => "collect_statistics()".into(),
            Command::WorkerId => "worker.id".into(),
            Command::CacheClear { name, exact_name, rr_type, chunk_size } => {
                let name = name.map_or("nil".to_owned(), quote);
                let rr_type = match rr_type {
                    Some(t) if t.bytes().all(|b| b.is_ascii_alphanumeric()) => format!("kres.type.{t}"),
                    Some(t) => format!("kres.type[{}]", quote(t)),
                    None => "nil".to_owned(),
                };
                let chunk = chunk_size.map_or("nil".to_owned(), |n| n.to_string());
                format!("cache.clear({name}, {exact_name}, {rr_type}, {chunk})")
            }
            Command::RulesReset => "require('ffi').C.kr_rules_reset()".into(),
            Command::TlsReload { cert, key } => {
                format!("net.tls({}, {})", quote(&cert.to_string_lossy()), quote(&key.to_string_lossy()))
            }
            Command::Drain => drain::DRAIN_LUA.into(),
            Command::DrainPoll => drain::poll_lua(),
            Command::ProbeListen { port } => {
                format!("net.listen('127.0.0.1', {port}, {{ kind = 'dns', freebind = false }})")
            }
        }
    }

    /// How long kresd may take to answer.
    pub fn timeout(&self) -> Duration {
        match self {
            // A scrape must not hang on one stuck worker.
            Command::Stats(_) => Duration::from_secs(3),
            Command::WorkerId | Command::Drain | Command::DrainPoll | Command::ProbeListen { .. } => {
                Duration::from_secs(2)
            }
            // Clearing a large cache subtree takes a while.
            Command::CacheClear { .. } => Duration::from_secs(60),
            Command::RulesReset | Command::TlsReload { .. } => Duration::from_secs(10),
        }
    }
}

/// Runs `command` in worker `instance` of `rundir` and returns kresd's JSON answer.
pub async fn run(rundir: &Path, instance: u32, command: &Command<'_>) -> Result<serde_json::Value, ControlError> {
    control::command(&control_socket(rundir, instance), &command.lua(), command.timeout()).await
}

/// Runs `command` in every worker of `instances` concurrently; one result per worker, in the given order.
pub async fn run_all(
    rundir: &Path,
    instances: impl IntoIterator<Item = u32>,
    command: &Command<'_>,
) -> Vec<(u32, Result<serde_json::Value, ControlError>)> {
    let lua = command.lua();
    let timeout = command.timeout();
    let calls = instances.into_iter().map(|i| {
        let socket = control_socket(rundir, i);
        let lua = &lua;
        async move { (i, control::command(&socket, lua, timeout).await) }
    });
    futures_util::future::join_all(calls).await
}

/// Drains worker `instance` before it is stopped (never fails; see [`drain`]).
pub async fn drain(rundir: &Path, instance: u32) {
    drain::drain(rundir, instance).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_render_one_line_of_escaped_lua() {
        let clear =
            |name, exact_name, rr_type, chunk_size| Command::CacheClear { name, exact_name, rr_type, chunk_size }.lua();
        assert_eq!(clear(None, false, None, Some(100)), "cache.clear(nil, false, nil, 100)");
        assert_eq!(clear(Some("a.test"), true, Some("AAAA"), None), "cache.clear('a.test', true, kres.type.AAAA, nil)");
        assert_eq!(
            clear(Some("x"), true, Some("NSAP-PTR"), None),
            "cache.clear('x', true, kres.type['NSAP-PTR'], nil)"
        );
        let (cert, key) = (Path::new("/etc/it's.pem"), Path::new("/k\n.pem"));
        let tls = Command::TlsReload { cert, key }.lua();
        assert!(tls.starts_with("net.tls(") && !tls.contains('\n'), "{tls}");
        assert!(!tls.contains("it's"), "the quote is escaped: {tls}");
        for c in [Command::Stats(Stats::Lazy), Command::RulesReset, Command::Drain, Command::DrainPoll] {
            assert!(!c.lua().contains('\n'));
        }
    }

    #[test]
    fn control_sockets_live_under_the_rundir() {
        assert_eq!(control_socket(Path::new("/run/kr"), 3), Path::new("/run/kr/control/3"));
        assert_eq!(control_socket_relative(3), "control/3");
    }
}
