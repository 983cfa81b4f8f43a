//! The manager actor and the executor of the apply pipeline: [`plan`](super::plan::plan) decides what a change
//! needs; [`Actor::apply`] carries it out through the [`Controller`]: policy-loader (rules) → canary kresd →
//! rolling restart (or rules reset) → worker count → TLS → cache GC → logging → publish. One change at a time; a
//! refused change leaves everything as it was.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kres_datamodel::{ConfigError, SystemFacts, ValidationOptions};
use tokio::sync::{broadcast, watch};

use super::controller::Controller;
use super::generations::{Candidate, SharedHistory};
use super::handle::{
    ApplyError, ApplyOutcome, ApplyRequest, ApplyResult, Client, Command, Edit, Event, EventKind, SelfMetrics,
    Snapshot, Source, WorkerInfo,
};
use super::kresd;
use super::load_config;
use super::plan::{self, Current, Plan};
use super::processes::{ProcessError, Processes};

/// The manager actor: owns the processes and the configuration in force.
pub(super) struct Actor<C> {
    pub procs: Processes<C>,
    pub current: Current,
    pub files: Vec<PathBuf>,
    pub snapshot: watch::Sender<Arc<Snapshot>>,
    pub metrics: SelfMetrics,
    /// The generation in force (its number in the history, or a counter of applied changes without one).
    pub generation: u64,
    /// The configuration history, when the state directory is usable; shared with the API's readers.
    pub history: Option<SharedHistory>,
    pub events: broadcast::Sender<Event>,
    /// The generation number of the apply in progress (for its events).
    pub in_progress: Option<u64>,
    /// The configuration the last planned change tried to put in force.
    pub(super) candidate: Option<Candidate>,
}

impl<C: Controller> Actor<C> {
    pub fn new(
        procs: Processes<C>,
        current: Current,
        files: Vec<PathBuf>,
        snapshot: watch::Sender<Arc<Snapshot>>,
        events: broadcast::Sender<Event>,
        history: Option<SharedHistory>,
    ) -> Self {
        Actor {
            procs,
            current,
            files,
            snapshot,
            metrics: SelfMetrics::default(),
            generation: 0,
            history,
            events,
            in_progress: None,
            candidate: None,
        }
    }

    /// Publishes the state in force to readers.
    pub async fn publish(&mut self) {
        let gc_pid = self.procs.gc_pid().await;
        let snapshot = Snapshot {
            raw: Arc::new(self.current.raw.clone()),
            etag: self.current.etag.clone(),
            config: Arc::new(self.current.config.clone()),
            generation: self.generation,
            workers: self.procs.workers.values().map(|w| WorkerInfo { instance: w.instance, pid: w.pid }).collect(),
            gc_pid,
            metrics: self.metrics.clone(),
        };
        self.snapshot.send_replace(Arc::new(snapshot));
    }

    /// Handles one command; returns false when the manager should stop. Reloads and renews log what the
    /// reference logs when they finish.
    pub async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Apply(request, reply) => {
                let renew = matches!(request.edit, Edit::Keep) && !request.dry_run;
                let result = self.apply_recorded(request).await;
                if renew {
                    match &result {
                        Ok(_) => tracing::info!("Configuration successfully renewed"),
                        Err(e) => {
                            tracing::error!("Renewing the configuration failed: {e}");
                            tracing::error!("Configuration has NOT been renewed.");
                        }
                    }
                }
                let _ = reply.send(result);
            }
            Command::Reload { force, source, client, reply } => {
                let result = self.reload(force, source, client).await;
                if result.is_ok() {
                    tracing::info!("Configuration file successfully reloaded");
                }
                let _ = reply.send(result);
            }
            Command::Rollback { to, preconditions, client, reply } => {
                let request = ApplyRequest {
                    preconditions,
                    client,
                    ..ApplyRequest::new(Edit::Keep, Source::Rollback { of: to })
                };
                let result = self.rollback_to(to, request).await;
                match &result {
                    Ok(_) => tracing::info!("Configuration rolled back to generation {to}"),
                    Err(e) => tracing::error!("Rolling back to generation {to} failed: {e}"),
                }
                let _ = reply.send(result);
            }
            Command::Stop => return false,
        }
        true
    }

    /// Re-reads the configuration files and applies them; logs a failure like the reference.
    async fn reload(&mut self, force: bool, source: Source, client: Option<Client>) -> ApplyResult {
        let loaded = match load_config(&self.files) {
            Ok(loaded) => loaded,
            Err(e) => {
                match &e {
                    ConfigError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                        tracing::error!(
                            "Configuration file was not found at '{path}'. Something must have happened to it while \
                             we were running."
                        )
                    }
                    _ => tracing::error!("Failed to parse the updated configuration file: {e}"),
                }
                tracing::error!("Configuration has NOT been changed.");
                return Err(ApplyError::Load(e.to_string()));
            }
        };
        let request = ApplyRequest { force, client, ..ApplyRequest::new(Edit::Replace(loaded.raw), source) };
        let result = self.apply_recorded(request).await;
        if let Err(e) = &result {
            match e {
                ApplyError::Invalid(_) => tracing::error!("Failed to parse the updated configuration file: {e}"),
                _ => tracing::error!("Reloading of the configuration file failed: {e}"),
            }
            tracing::error!("Configuration has NOT been changed.");
        }
        result
    }

    /// The apply pipeline: plans the change, then carries the plan out.
    pub async fn apply(&mut self, request: ApplyRequest) -> ApplyResult {
        let started = Instant::now();
        let workers: Vec<u32> = self.procs.workers.keys().copied().collect();
        let opts = ValidationOptions::new(true, kres_datamodel::resolve_root(&self.files), SystemFacts::from_system());
        let plan = match plan::plan(&self.current, &workers, &request, &opts, &self.procs.exe.cache_gc) {
            Ok(plan) => plan,
            Err(e @ ApplyError::Forbidden(_)) => {
                tracing::error!(
                    "Configuration validation failed. The reasons are:\n - {}",
                    e.to_string().replace('\n', "\n - ")
                );
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.candidate = Some(Candidate { raw: plan.next.raw.clone(), etag: plan.next.etag.clone() });
        if !plan.dry_run {
            self.emit(EventKind::Validated { impact: None });
        }
        self.execute(plan, started).await
    }

    /// Carries out a [`Plan`].
    pub async fn execute(&mut self, plan: Plan, started: Instant) -> ApplyResult {
        let mut outcome = ApplyOutcome {
            etag: plan.next.etag.clone(),
            changed: plan.changed,
            dry_run: plan.dry_run,
            restarted_workers: plan.replaced.clone(),
            rules_reloaded: plan.reload_rules,
            canary: None,
            seconds: 0.0,
            generation: None,
        };
        if plan.dry_run {
            if let Some((lua, scratch)) = &plan.canary {
                outcome.canary = Some(self.dry_run_canary(lua, scratch, &plan.next.etag).await?);
            }
            outcome.seconds = started.elapsed().as_secs_f64();
            return Ok(outcome);
        }
        if plan.nothing {
            // Nothing to apply; like the reference, re-send TLS certificate files so a reload picks up renewed
            // certificates.
            if plan.reload_tls {
                self.reload_tls_files(&plan.next).await;
            }
            outcome.seconds = started.elapsed().as_secs_f64();
            return Ok(outcome);
        }
        let next = &plan.next;
        if plan.reload_rules {
            unlink(&plan.unlink_before_rules);
            if let Err(e) = self.procs.run_policy_loader(&next.policy_lua, &next.etag).await {
                // A failed policy-loader exits before it commits its transaction: the rules in force are intact.
                self.metrics.canary_failures += 1;
                let e = rejected("the policy-loader", e);
                tracing::error!("Failed to load policy rules: {e}");
                return Err(e);
            }
            self.emit(EventKind::PolicyLoaderDone);
        }
        if plan.restart_workers {
            unlink(&plan.unlink_before_workers);
            match self.rolling_restart(next.config.workers.count, &next.worker_lua, &next.etag).await {
                Ok(restarted) => {
                    outcome.canary = Some(true);
                    self.metrics.worker_restarts += restarted as u64;
                }
                Err(e) => {
                    if plan.reload_rules {
                        self.restore_rules().await;
                    }
                    return Err(e);
                }
            }
        } else if plan.reload_rules {
            self.reset_rules(&next.worker_lua, &next.etag).await;
            self.emit(EventKind::RulesReset);
        }
        if let Some(count) = plan.scale_to
            && let Err(e) = self.procs.scale_workers(count, &next.worker_lua, &next.etag).await
        {
            return Err(ApplyError::Failed(format!("cannot change the number of workers: {e}")));
        }
        if plan.reload_tls {
            self.reload_tls_files(next).await;
        }
        if plan.restart_gc {
            let _ = self.procs.controller.stop_gc().await;
        }
        let gc = next.config.cache.garbage_collector.enable;
        if let Err(e) = self.procs.ensure_gc(gc, &next.gc_argv, &next.etag).await {
            tracing::error!("cannot start the cache garbage collector: {e}");
        }
        if plan.logging_changed {
            crate::logging::apply(&next.config.logging);
        }
        self.current = plan.next;
        self.metrics.applied += 1;
        self.metrics.last_apply_seconds = started.elapsed().as_secs_f64();
        self.publish().await;
        if plan.changed || plan.force {
            // The reference's line after it applied a changed (or forced) configuration; a renew that only re-read
            // changed rule files does not log it.
            tracing::info!("Config applied successfully to all workers");
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    /// Starts a canary on the new worker configuration and stops it again (dry run); its files live in
    /// `scratch` (see [`Plan::canary`]), removed afterwards.
    async fn dry_run_canary(&mut self, lua: &str, scratch: &PathBuf, etag: &str) -> Result<bool, ApplyError> {
        std::fs::create_dir_all(scratch)
            .map_err(|e| ApplyError::Failed(format!("cannot create '{}': {e}", scratch.display())))?;
        let instance = self.procs.free_instance();
        let result = match self.procs.start_worker(instance, lua, etag).await {
            Ok(_) => {
                let _ = self.procs.stop_worker_now(instance).await;
                Ok(true)
            }
            Err(e) => Err(rejected("the canary kresd", e)),
        };
        let _ = std::fs::remove_dir_all(scratch);
        result
    }

    /// Replaces every worker with `count` ones running `lua`: first a canary (a new worker that must become
    /// ready), then the other new workers (started at once, each ready), and only then are the old workers drained
    /// and stopped, so capacity never drops. Returns how many old workers were replaced.
    async fn rolling_restart(&mut self, count: usize, lua: &str, etag: &str) -> Result<usize, ApplyError> {
        let old: Vec<u32> = self.procs.workers.keys().copied().collect();
        let canary = self.procs.free_instance();
        if let Err(e) = self.procs.start_worker(canary, lua, etag).await {
            self.metrics.canary_failures += 1;
            let e = rejected("the canary kresd", e);
            tracing::error!("Kresd with the new config failed to start, rejecting config: {e}");
            return Err(e);
        }
        self.emit(EventKind::CanaryReady { instance: canary });
        let (mut new, error) = self.procs.start_many(count.saturating_sub(1), lua, etag).await;
        new.push(canary);
        if let Some(e) = error {
            self.roll_back(&new, old.len()).await;
            return Err(ApplyError::Failed(format!("a replacement worker failed to start: {e}")));
        }
        self.procs.stop_many(&old).await;
        // The canary first, as it started.
        let order: Vec<u32> = std::iter::once(canary).chain(new.iter().copied().filter(|&i| i != canary)).collect();
        let total = order.len();
        for i in 0..total {
            let (old, new) = (old.get(i).copied(), order.get(i).copied());
            if let Some(new) = new {
                self.emit(EventKind::WorkerReplaced { old, new, done: i + 1, total });
            }
        }
        Ok(old.len())
    }

    /// After a rolling restart failed half-way (the canary passed, a later worker did not start): stops the
    /// workers already running the new configuration and starts workers with the configuration in force until
    /// the old count runs again, so the resolver ends as it was before the change.
    async fn roll_back(&mut self, new: &[u32], old_count: usize) {
        tracing::error!("rolling back: stopping {} worker(s) of the refused configuration", new.len());
        self.procs.stop_many(new).await;
        let (lua, etag) = (self.current.worker_lua.clone(), self.current.etag.clone());
        if let Err(e) = self.procs.scale_workers(old_count, &lua, &etag).await {
            tracing::error!("cannot restore the workers of the configuration in force: {e}");
        }
    }

    /// Makes every worker re-open the rules database after a policy-loader run. A worker that does not answer
    /// (hung, or stopped) would go on serving the old rules: it is replaced by a new worker running `lua`, which
    /// opens the new database.
    async fn reset_rules(&mut self, lua: &str, etag: &str) {
        for instance in self.command_all(&kresd::Command::RulesReset).await {
            tracing::error!("worker {instance} did not reload the rules; replacing it");
            let fresh = self.procs.free_instance();
            match self.procs.start_worker(fresh, lua, etag).await {
                Ok(_) => {
                    if let Err(e) = self.procs.stop_worker_now(instance).await {
                        tracing::error!("cannot stop worker {instance}: {e}");
                    }
                }
                Err(e) => tracing::error!("cannot start a worker to replace worker {instance}: {e}"),
            }
        }
    }

    /// After a refused change: rebuild the rules database from the configuration in force.
    async fn restore_rules(&mut self) {
        let (lua, etag) = (self.current.policy_lua.clone(), self.current.etag.clone());
        if let Err(e) = self.procs.run_policy_loader(&lua, &etag).await {
            tracing::error!("cannot restore the rules of the configuration in force: {e}");
        }
        let lua = self.current.worker_lua.clone();
        self.reset_rules(&lua, &etag).await;
    }

    /// Re-sends TLS certificate files to the workers (`net.tls`), when present; logs like the reference.
    async fn reload_tls_files(&self, next: &Current) {
        let tls = &next.config.network.tls;
        let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else { return };
        if !cert.path().exists() {
            tracing::error!("TLS cert files reload failed: cert-file {} file don't exist", cert.display());
        } else if !key.path().exists() {
            tracing::error!("TLS cert files failed: cert-file {} file don't exist", key.display());
        } else {
            tracing::info!("TLS cert files reload triggered");
            self.command_all(&kresd::Command::TlsReload { cert: cert.path(), key: key.path() }).await;
        }
    }

    /// Runs `command` in every worker concurrently; returns the workers it failed in.
    async fn command_all(&self, command: &kresd::Command<'_>) -> Vec<u32> {
        let calls =
            self.procs.workers.keys().map(|&i| async move { (i, self.procs.controller.command(i, command).await) });
        let mut failed = Vec::new();
        for (instance, result) in futures_util::future::join_all(calls).await {
            if let Err(e) = result {
                tracing::error!("worker {instance}: '{}' failed: {e}", command.lua());
                failed.push(instance);
            }
        }
        failed
    }
}

/// Removes shared files that must be recreated because their settings changed (as the reference does).
fn unlink(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

fn rejected(stage: &'static str, error: ProcessError) -> ApplyError {
    match error {
        ProcessError::PolicyLoader { code, output } => ApplyError::Rejected {
            stage,
            message: format!("exit code {code}"),
            output: output.lines().map(str::to_owned).collect(),
        },
        ProcessError::Process { message, output, .. } => ApplyError::Rejected {
            stage,
            message,
            output: output.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        },
        other => ApplyError::Failed(other.to_string()),
    }
}
