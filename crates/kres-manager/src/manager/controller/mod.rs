//! The manager's view of process control, in the manager's terms: start worker N on this Lua, drain and stop
//! it, run the policy-loader, start or stop the cache garbage collector, list what runs, run a runtime command
//! in a worker. The [`Controller`] trait is what the apply pipeline drives; [`Supervised`] implements it over our
//! supervisor process (it writes the configuration files into the rundir and speaks the supervisor protocol),
//! and a fake in-memory one (`fake.rs`, tests only) lets the pipeline's decisions be tested on the host. Another
//! backend (systemd units) would be another implementation.

#[cfg(test)]
pub(crate) mod fake;
mod supervisor;

use std::path::Path;

use serde_json::Value;

use super::kresd::probe::ProbeOutcome;
use super::kresd::{Command, ControlError};
pub use supervisor::{Supervised, SupervisorClient};

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("lost the connection to the supervisor: {0}")]
    Disconnected(String),
    #[error("{message}")]
    Failed { message: String, output_tail: Vec<String> },
    #[error("unexpected reply from the supervisor: {0}")]
    Unexpected(String),
}

impl ControllerError {
    /// The process output that explains a failure (kresd's own error text), if any.
    pub fn output_tail(&self) -> &[String] {
        match self {
            ControllerError::Failed { output_tail, .. } => output_tail,
            _ => &[],
        }
    }
}

/// Why a process could not be started (or the policy-loader failed).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot render the Lua configuration: {0}")]
    Render(String),
    #[error("cannot write '{path}': {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the policy-loader failed (exit code {code}); the configuration may be invalid:\n{output}")]
    PolicyLoader { code: String, output: String },
    #[error("{what}: {message}{output}")]
    Process { what: String, message: String, output: String },
    #[error(transparent)]
    Controller(#[from] ControllerError),
}

/// A process's output lines as the tail of an error message.
pub(crate) fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!("\n{}", lines.join("\n")) }
}

/// What a child process is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// kresd worker N (`SYSTEMD_INSTANCE=N`, `kresd<N>.conf`, `control/<N>`).
    Worker(u32),
    PolicyLoader,
    /// The cache garbage collector.
    Gc,
    /// Something this manager did not start (ignored).
    Other(String),
}

/// Whether a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Running, starting, or restarting after a crash.
    Up,
    /// Exited and not restarted.
    Exited,
    /// Failed repeatedly; given up.
    Fatal,
}

/// A child process as the manager sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub role: Role,
    /// 0 when not running.
    pub pid: u32,
    pub state: ChildState,
    /// ETag of the configuration it was started with.
    pub etag: String,
}

/// What the health probe of a worker checks (see [`super::kresd::probe`]).
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    /// The name queried (type A): `/management/health-probe`.
    pub name: &'a str,
    /// The worker's probe listener (127.0.0.1@port), when it has one; without, only its control socket is checked.
    pub port: Option<u16>,
    /// The directory of its control socket when that is not the rundir's `control/` (a dry run's canary).
    pub control_dir: Option<&'a Path>,
}

/// Starting, stopping and listing the resolver's processes, and talking to its running workers. Cloning shares the
/// backend (the health hold probes the workers while the executor rolls a change back).
pub trait Controller: Clone {
    /// Writes worker N's configuration (`lua`) and starts it, answering once it is ready (`READY=1`) with its
    /// PID. On failure nothing of it is left behind.
    fn start_worker(&self, instance: u32, lua: &str, etag: &str) -> impl Future<Output = Result<u32, ProcessError>>;
    /// Stops worker N at once (SIGTERM, SIGKILL after a timeout) and removes its configuration.
    fn stop_worker(&self, instance: u32) -> impl Future<Output = Result<(), ProcessError>>;
    /// Takes worker N out of the load balancing and waits until it answered what it was sent (bounded; never
    /// fails: see [`super::kresd::drain`]).
    fn drain_worker(&self, instance: u32) -> impl Future<Output = ()>;
    /// Gives running worker N a DNS listener of its own on a free loopback port, for the health probes; its port,
    /// or `None` (logged) when it could not get one.
    fn listen_probe(&self, instance: u32) -> impl Future<Output = Option<u16>>;
    /// Probes worker N: the DNS probe on its probe listener (when it has one) and its control socket.
    fn probe(&self, instance: u32, probe: &Probe<'_>) -> impl Future<Output = ProbeOutcome>;
    /// Runs a runtime command in worker N.
    fn command(&self, instance: u32, command: &Command<'_>) -> impl Future<Output = Result<Value, ControlError>>;
    /// Runs the policy-loader on `lua` (it builds the rules database) until it exits; an error unless it exits 0.
    fn run_policy_loader(&self, lua: &str, etag: &str) -> impl Future<Output = Result<(), ProcessError>>;
    /// Starts the cache garbage collector with `argv`.
    fn start_gc(&self, argv: &[String], etag: &str) -> impl Future<Output = Result<(), ControllerError>>;
    /// Stops the cache garbage collector.
    fn stop_gc(&self) -> impl Future<Output = Result<(), ControllerError>>;
    /// Every child process.
    fn list(&self) -> impl Future<Output = Result<Vec<Child>, ControllerError>>;
    /// The manager is up: tell the service manager (systemd) `READY=1` with `status`.
    fn ready(&self, status: &str) -> impl Future<Output = Result<(), ControllerError>>;
    /// Pass `state` (newline-separated `sd_notify` assignments: `RELOADING=1`, `MONOTONIC_USEC=`, `READY=1`,
    /// `STATUS=`) on to the service manager; ignored once the resolver is stopping.
    fn notify(&self, state: &str) -> impl Future<Output = Result<(), ControllerError>>;
    /// Stop the whole resolver.
    fn shutdown(&self) -> impl Future<Output = Result<(), ControllerError>>;
}
