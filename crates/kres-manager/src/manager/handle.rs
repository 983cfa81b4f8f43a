//! The running state, owned by one task (the manager actor). Everything else — the HTTP API, SIGHUP, file
//! watchers, later remote config sources — talks to it through a [`ManagerHandle`]: config changes are
//! [`Command`]s applied one at a time, and reads come from the latest published [`Snapshot`].

use std::sync::{Arc, Mutex};

pub use kres_datamodel::api::events::{Event, EventKind};
pub use kres_datamodel::api::history::{Client, Source};
use kres_datamodel::json_pointer::JsonPointer;
use kres_datamodel::{KresConfig, ValidationErrors};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::history::HistoryStore;

/// A running kresd worker as the rest of the manager sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// Instance number (`SYSTEMD_INSTANCE`, `control/<N>`).
    pub instance: u32,
    pub pid: u32,
}

/// Counters about the manager itself (exported as metrics).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SelfMetrics {
    /// Configuration changes applied since start.
    pub applied: u64,
    /// Changes refused because the canary (or the policy-loader) rejected them.
    pub canary_failures: u64,
    /// Changes rolled out, then rolled back (a failed health check, or a failure half-way).
    pub rolled_back: u64,
    /// Worker restarts done by rolling restarts.
    pub worker_restarts: u64,
    /// Duration of the last successful apply, seconds.
    pub last_apply_seconds: f64,
    /// When the last apply (of any result) finished, seconds since the Unix epoch (0: none yet).
    pub last_apply_time: f64,
    /// The durations of every recorded apply (applied, refused by kresd, rolled back).
    pub apply_duration: Histogram,
}

/// The upper bounds (seconds) of [`SelfMetrics::apply_duration`]'s buckets; the last bucket is `+Inf`.
pub const APPLY_DURATION_BUCKETS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A Prometheus-style histogram: cumulative counts per upper bound, plus the sum and the count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// `counts[i]`: observations <= `APPLY_DURATION_BUCKETS[i]` (cumulative).
    pub counts: [u64; APPLY_DURATION_BUCKETS.len()],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, value: f64) {
        for (count, bound) in self.counts.iter_mut().zip(APPLY_DURATION_BUCKETS) {
            if value <= bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }
}

/// What readers see: the configuration in force and the processes running it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The configuration as the user wrote it (what `GET /v1/config` serves).
    pub raw: Arc<serde_json::Value>,
    /// ETag of `raw` (without quotes).
    pub etag: String,
    pub config: Arc<KresConfig>,
    /// A counter incremented by every applied change.
    pub generation: u64,
    pub workers: Vec<WorkerInfo>,
    /// PID of the cache garbage collector, when running.
    pub gc_pid: Option<u32>,
    pub metrics: SelfMetrics,
}

/// A change of the configuration document.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace the whole document.
    Replace(serde_json::Value),
    /// Set the value at a pointer (add or replace; `-` appends to a list).
    Put { pointer: JsonPointer, value: serde_json::Value },
    /// Remove the value at a pointer.
    Delete { pointer: JsonPointer },
    /// Apply an RFC 6902 patch.
    Patch(serde_json::Value),
    /// Re-apply the current document (renew).
    Keep,
}

/// HTTP-style preconditions on the current ETag.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    /// `If-Match`: the current ETag must be one of these (`*` matches any).
    pub if_match: Option<Vec<String>>,
    /// `If-None-Match`: the current ETag must be none of these (`*` matches any).
    pub if_none_match: Option<Vec<String>>,
}

impl Preconditions {
    /// Whether the preconditions hold for `etag`.
    pub fn hold(&self, etag: &str) -> bool {
        let matches = |list: &Vec<String>| list.iter().any(|t| t == "*" || t == etag);
        self.if_match.as_ref().is_none_or(matches) && !self.if_none_match.as_ref().is_some_and(matches)
    }
}

/// A request to change the running configuration.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub edit: Edit,
    pub preconditions: Preconditions,
    /// Validate and test (canary) only; change nothing.
    pub dry_run: bool,
    /// Restart every worker and re-run the policy-loader even if nothing changed. Without it, the policy-loader
    /// runs when the rules or the files they read (RPZ, hosts files) changed, and an unchanged document applies
    /// nothing.
    pub force: bool,
    /// Where the change comes from (recorded in the history).
    pub source: Source,
    /// Who asked (recorded in the history and logged), when known.
    pub client: Option<Client>,
}

impl ApplyRequest {
    pub fn new(edit: Edit, source: Source) -> Self {
        ApplyRequest {
            edit,
            preconditions: Preconditions::default(),
            dry_run: false,
            force: false,
            source,
            client: None,
        }
    }
}

/// What an apply did (or, for a dry run, would do): the API's write answer, defined once in the contract.
pub use kres_datamodel::api::config::WriteOutcome as ApplyOutcome;

/// Why a change was not applied. Each maps to an HTTP status (see the server).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A precondition on the ETag failed (412, or 304 for reads).
    #[error("the configuration has changed (ETag precondition failed)")]
    PreconditionFailed,
    /// The pointer names nothing (404).
    #[error("{0}")]
    NotFound(String),
    /// Malformed pointer or patch (400).
    #[error("{0}")]
    BadRequest(String),
    /// The new document is invalid (400).
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// A change that cannot be made at runtime (409).
    #[error("{0}")]
    Forbidden(String),
    /// kresd refused the new configuration (policy-loader or canary); nothing changed (422).
    #[error("{stage} rejected the new configuration: {message}{}", tail(output))]
    Rejected { stage: &'static str, message: String, output: Vec<String> },
    /// The change was rolled out but failed a health check (a worker stopped answering the DNS probe or its
    /// control socket during the hold); the previous generation was restored (422).
    #[error(
        "the new configuration failed the health check: {reason}; it was rolled back to the previous configuration \
         ({lost_queries} probe queries lost)"
    )]
    RolledBack { reason: String, lost_queries: u64 },
    /// The configuration files could not be read (reload) (400).
    #[error("{0}")]
    Load(String),
    /// Something failed half-way; the manager tried to roll back (500).
    #[error("{0}")]
    Failed(String),
    /// The manager is shutting down (503).
    #[error("the manager is shutting down")]
    ShuttingDown,
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!("\nkresd output:\n{}", lines.join("\n")) }
}

pub type ApplyResult = Result<ApplyOutcome, ApplyError>;

/// Messages to the manager actor.
#[derive(Debug)]
pub enum Command {
    Apply(ApplyRequest, oneshot::Sender<ApplyResult>),
    /// Re-read the configuration files and apply them (`source`: `Reload` or `Sighup`).
    Reload {
        force: bool,
        source: Source,
        client: Option<Client>,
        reply: oneshot::Sender<ApplyResult>,
    },
    /// Apply the configuration of history generation `to` again.
    Rollback {
        to: u64,
        preconditions: Preconditions,
        client: Option<Client>,
        reply: oneshot::Sender<ApplyResult>,
    },
    /// Apply fleet generation `generation`: the local files with `layer` (the published document) merged over
    /// them; `None`: the local files alone.
    Fleet {
        generation: u64,
        layer: Option<super::fleet::FleetLayer>,
        reply: oneshot::Sender<ApplyResult>,
    },
    /// Stop the resolver.
    Stop,
}

/// A cheap, cloneable way to talk to the manager actor.
#[derive(Clone)]
pub struct ManagerHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    events: broadcast::Sender<Event>,
    history: Option<Arc<Mutex<HistoryStore>>>,
}

/// How many events a slow `/v1/events` reader may fall behind before it misses some.
pub const EVENT_BACKLOG: usize = 1024;

impl ManagerHandle {
    pub fn new(
        commands: mpsc::Sender<Command>,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        events: broadcast::Sender<Event>,
        history: Option<Arc<Mutex<HistoryStore>>>,
    ) -> Self {
        ManagerHandle { commands, snapshot, events, history }
    }

    /// Every event from now on (apply progress, process events).
    pub fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The configuration history, when the state directory is usable.
    pub fn history(&self) -> Option<&Arc<Mutex<HistoryStore>>> {
        self.history.as_ref()
    }

    /// The configuration and processes in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// A receiver that sees every published snapshot (for watchers and streaming).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    pub async fn apply(&self, request: ApplyRequest) -> ApplyResult {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Apply(request, tx)).await.map_err(|_| ApplyError::ShuttingDown)?;
        rx.await.map_err(|_| ApplyError::ShuttingDown)?
    }

    pub async fn reload(&self, force: bool, source: Source, client: Option<Client>) -> ApplyResult {
        let (tx, rx) = oneshot::channel();
        let command = Command::Reload { force, source, client, reply: tx };
        self.commands.send(command).await.map_err(|_| ApplyError::ShuttingDown)?;
        rx.await.map_err(|_| ApplyError::ShuttingDown)?
    }

    pub async fn renew(&self, force: bool, source: Source, client: Option<Client>) -> ApplyResult {
        self.apply(ApplyRequest { force, client, ..ApplyRequest::new(Edit::Keep, source) }).await
    }

    /// Applies fleet generation `generation` (see [`Command::Fleet`]).
    pub async fn fleet_apply(&self, generation: u64, layer: Option<super::fleet::FleetLayer>) -> ApplyResult {
        let (tx, rx) = oneshot::channel();
        let command = Command::Fleet { generation, layer, reply: tx };
        self.commands.send(command).await.map_err(|_| ApplyError::ShuttingDown)?;
        rx.await.map_err(|_| ApplyError::ShuttingDown)?
    }

    /// Applies the configuration of history generation `to` again (a new generation).
    pub async fn rollback(&self, to: u64, preconditions: Preconditions, client: Option<Client>) -> ApplyResult {
        let (tx, rx) = oneshot::channel();
        let command = Command::Rollback { to, preconditions, client, reply: tx };
        self.commands.send(command).await.map_err(|_| ApplyError::ShuttingDown)?;
        rx.await.map_err(|_| ApplyError::ShuttingDown)?
    }

    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop).await;
    }

    /// Runs a runtime command in every worker concurrently (control sockets); one result per worker.
    pub async fn command_workers(
        &self,
        command: &super::kresd::Command<'_>,
    ) -> Vec<(WorkerInfo, Result<serde_json::Value, super::kresd::ControlError>)> {
        let snapshot = self.snapshot();
        let results =
            super::kresd::run_all(snapshot.config.rundir.path(), snapshot.workers.iter().map(|w| w.instance), command)
                .await;
        snapshot.workers.iter().cloned().zip(results.into_iter().map(|(_, r)| r)).collect()
    }
}
