//! The actor's record of what it applies: every apply becomes a numbered generation in the configuration history
//! (when the state directory is usable), its steps are published as [`Event`]s for `GET /v1/events`, and every
//! change is logged with who asked for it (the audit trail).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use serde_json::Value;

use super::apply::Actor;
use super::controller::Controller;
use super::handle::{ApplyError, ApplyOutcome, ApplyRequest, ApplyResult, Client, Edit, Event, EventKind, Source};
use crate::history::{HistoryStore, Outcome, Record, rfc3339_utc};

/// The configuration a change tried to put in force, kept by the executor for the history even when the change
/// was refused.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub raw: Value,
    pub etag: String,
}

/// Locks the shared history (a panic while it was held does not make it unusable: appends are atomic on disk).
pub fn lock(history: &Mutex<HistoryStore>) -> MutexGuard<'_, HistoryStore> {
    history.lock().unwrap_or_else(|p| p.into_inner())
}

/// How the audit log names a client.
pub fn describe_client(client: Option<&Client>) -> String {
    match client {
        Some(Client::Peer { uid, pid }) => format!("uid {uid}, pid {pid}"),
        Some(Client::Token { name }) => format!("token '{name}'"),
        None => "the manager".into(),
    }
}

/// How the audit log names a source.
pub fn describe_source(source: &Source) -> String {
    match source {
        Source::Startup { files } => format!("the configuration files at start ({})", files.join(", ")),
        Source::Api { method, route } => format!("API {method} {route}"),
        Source::Reload => "a reload of the configuration files".into(),
        Source::Sighup => "SIGHUP (reload of the configuration files)".into(),
        Source::Watcher { path } => format!("the file watcher ('{path}' changed)"),
        Source::Rollback { of } => format!("a rollback to generation {of}"),
        Source::Fleet => "the fleet".into(),
    }
}

impl<C: Controller> Actor<C> {
    /// The number the next recorded generation gets.
    pub(super) fn next_generation(&self) -> u64 {
        match &self.history {
            Some(history) => lock(history).next_number(),
            None => self.generation + 1,
        }
    }

    /// Publishes an event of the apply in progress (or a process event when no apply runs).
    pub(super) fn emit(&self, kind: EventKind) {
        let event = Event { time: rfc3339_utc(SystemTime::now()), generation: self.in_progress, kind };
        // No receiver is not an error: nobody watches.
        let _ = self.events.send(event);
    }

    /// Applies `request` (see [`Actor::apply`]), publishing its progress and recording the outcome as a new
    /// generation: applied, refused by kresd (policy-loader, canary), or rolled back. Dry runs, requests refused
    /// before anything was tried (invalid, failed precondition, forbidden) and changes that applied nothing are
    /// not recorded.
    pub(super) async fn apply_recorded(&mut self, request: ApplyRequest) -> ApplyResult {
        let (source, client, dry_run) = (request.source.clone(), request.client.clone(), request.dry_run);
        let (time, started) = (SystemTime::now(), Instant::now());
        if !dry_run {
            self.in_progress = Some(self.next_generation());
            self.emit(EventKind::Started { source: source.clone() });
        }
        self.candidate = None;
        let mut result = self.apply(request).await;
        if dry_run {
            return result;
        }
        let outcome = match &result {
            Ok(o) if o.changed || !o.restarted_workers.is_empty() || o.rules_reloaded => Some(Outcome::Applied),
            Ok(_) => None,
            Err(ApplyError::Rejected { .. }) => Some(Outcome::Refused { reason: first_line(&result) }),
            Err(ApplyError::RolledBack { .. } | ApplyError::Failed(_)) => {
                Some(Outcome::RolledBack { reason: first_line(&result) })
            }
            Err(_) => None,
        };
        let number = match (&outcome, self.candidate.take()) {
            (Some(outcome), Some(candidate)) => {
                let restarted = result.as_ref().map(|o| o.restarted_workers.clone()).unwrap_or_default();
                let record = Record {
                    etag: candidate.etag.clone(),
                    time,
                    source: source.clone(),
                    client: client.clone(),
                    result: outcome.clone(),
                    duration: started.elapsed(),
                    restarted_workers: restarted,
                };
                self.record(record, &candidate.raw)
            }
            _ => None,
        };
        // Without a history the generation is a counter of applied changes.
        let number = match (&outcome, number) {
            (Some(Outcome::Applied), None) if self.history.is_none() => Some(self.generation + 1),
            (_, number) => number,
        };
        if let (Ok(o), Some(number)) = (&mut result, number) {
            o.generation = Some(number);
            self.generation = number;
            self.publish().await;
        }
        let who = describe_client(client.as_ref());
        match (&outcome, number) {
            (Some(Outcome::Applied), Some(n)) => {
                tracing::info!("generation {n} applied: {} by {who}", describe_source(&source))
            }
            (Some(outcome), n) => tracing::warn!(
                "{} by {who} was not applied ({}){}",
                describe_source(&source),
                match outcome {
                    Outcome::Applied => "applied",
                    Outcome::Refused { .. } => "refused",
                    Outcome::RolledBack { .. } => "rolled back",
                },
                n.map(|n| format!("; recorded as generation {n}")).unwrap_or_default()
            ),
            (None, _) => {}
        }
        if let Some(outcome) = &outcome {
            self.metrics.apply_duration.observe(started.elapsed().as_secs_f64());
            self.metrics.last_apply_time =
                SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
            if let Outcome::RolledBack { .. } = outcome {
                self.metrics.rolled_back += 1;
            }
        }
        // Every apply ends with `done`: its recorded outcome, or, for one not recorded, applied (nothing to change)
        // or refused (invalid, a failed precondition, ...).
        let done = outcome.unwrap_or_else(|| match &result {
            Ok(_) => Outcome::Applied,
            Err(e) => Outcome::Refused { reason: e.to_string() },
        });
        let etag = done.is_applied().then(|| self.current.etag.clone());
        self.emit(EventKind::Done { result: done, etag, seconds: started.elapsed().as_secs_f64() });
        self.in_progress = None;
        result
    }

    /// Appends a generation to the history; a failure to write it is logged, never fatal (the change is in force).
    pub(super) fn record(&mut self, record: Record, config: &Value) -> Option<u64> {
        let history = self.history.as_ref()?;
        let mut store = lock(history);
        match store.append(record, config) {
            Ok(generation) => Some(generation.number),
            Err(e) => {
                tracing::error!("cannot record the configuration in the history: {e}");
                None
            }
        }
    }

    /// `POST /v1/history/{to}/rollback`: applies generation `to`'s configuration again, through the pipeline.
    pub(super) async fn rollback_to(&mut self, to: u64, request: ApplyRequest) -> ApplyResult {
        let Some(history) = self.history.clone() else {
            return Err(ApplyError::NotFound(
                "the configuration history is not available (see the manager's log for why)".into(),
            ));
        };
        let config = lock(&history).config(to);
        let config = config.map_err(|e| match e {
            crate::history::HistoryError::NotFound { .. } => ApplyError::NotFound(e.to_string()),
            other => ApplyError::Failed(other.to_string()),
        })?;
        self.apply_recorded(ApplyRequest { edit: Edit::Replace(config), ..request }).await
    }
}

fn first_line(result: &Result<ApplyOutcome, ApplyError>) -> String {
    result.as_ref().err().map(|e| e.to_string().lines().next().unwrap_or_default().to_owned()).unwrap_or_default()
}

/// The shared history handle, for the API's readers.
pub type SharedHistory = Arc<Mutex<HistoryStore>>;

/// Opens the configuration history in `/management/state-dir` (created when missing). An unusable state
/// directory is logged and the manager runs without a history.
pub fn open_history(management: &kres_datamodel::config::ManagementSchema) -> Option<SharedHistory> {
    let dir = management.state_dir.path();
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::error!(
            "cannot create the state directory '{}' (/management/state-dir): {e}; running without configuration history",
            dir.display()
        );
        return None;
    }
    let retention = crate::history::Retention {
        max_count: usize::try_from(management.history.max_count.0).unwrap_or(usize::MAX),
        max_bytes: management.history.max_size.bytes(),
    };
    match HistoryStore::open(dir, retention) {
        Ok(store) => Some(Arc::new(Mutex::new(store))),
        Err(e) => {
            tracing::error!("{e}; running without configuration history");
            None
        }
    }
}

/// The configuration to start from, given the files (`loaded`) and the history: the files, unless
/// `/management/start-from` is `last-generation` and the history has an applied generation that is valid. When the
/// files differ from the last applied generation, logs loudly what differs and how to get it back.
pub fn starting_config(
    loaded: super::LoadedConfig,
    history: Option<&SharedHistory>,
    files: &[std::path::PathBuf],
) -> super::LoadedConfig {
    let Some(history) = history else { return loaded };
    let store = lock(history);
    let Some(last) = store.last_applied().cloned() else { return loaded };
    if last.etag == loaded.etag {
        return loaded;
    }
    let config = match store.config(last.number) {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!("cannot compare the configuration files with the last applied generation: {e}");
            return loaded;
        }
    };
    drop(store);
    let changes = kres_datamodel::diff::changes(&config, &loaded.raw);
    let shown: Vec<String> = changes.iter().take(20).map(|c| format!("   {} {}", c.op, c.path)).collect();
    let more = if changes.len() > 20 { format!("\n   ... and {} more", changes.len() - 20) } else { String::new() };
    let from_generation = loaded.config.management.start_from == kres_datamodel::config::StartFrom::LastGeneration;
    tracing::warn!(
        "THE CONFIGURATION FILES DIFFER FROM THE LAST APPLIED CONFIGURATION, generation {} ({}, {}). From that \
         generation to the files:\n{}{more}",
        last.number,
        describe_source(&last.source),
        last.time,
        shown.join("\n"),
    );
    if !from_generation {
        tracing::warn!(
            "starting from the configuration files (/management/start-from: file); `kresctl rollback {}` restores \
             generation {}",
            last.number,
            last.number
        );
        return loaded;
    }
    match super::LoadedConfig::from_raw(config, files) {
        Ok(generation) => {
            tracing::warn!(
                "starting from generation {} (/management/start-from: last-generation), not from the files",
                last.number
            );
            generation
        }
        Err(e) => {
            tracing::error!(
                "generation {} is no longer valid ({e}); starting from the configuration files instead",
                last.number
            );
            loaded
        }
    }
}

/// After the start: records the configuration in force as a generation when it is not the last applied one.
pub(super) fn startup_generation<C: Controller>(actor: &mut Actor<C>, time: SystemTime, took: std::time::Duration) {
    let last = actor.history.as_ref().and_then(|h| lock(h).last_applied().cloned());
    if let Some(last) = &last
        && last.etag == actor.current.etag
    {
        actor.generation = last.number;
        return;
    }
    let source = Source::Startup { files: actor.files.iter().map(|f| f.display().to_string()).collect() };
    let record = Record {
        etag: actor.current.etag.clone(),
        time,
        source,
        client: None,
        result: Outcome::Applied,
        duration: took,
        restarted_workers: vec![],
    };
    let raw = actor.current.raw.clone();
    actor.generation = actor.record(record, &raw).unwrap_or(1);
}
