//! The manager actor and the executor of the apply pipeline: [`plan`](super::plan::plan) decides what a change
//! needs; [`Actor::apply`] carries it out through the [`Controller`]: policy-loader (rules) → canary kresd (probed,
//! then stopped) → rolling restart (or rules reset) → worker count → TLS → cache GC → logging → health hold →
//! publish. One change at a time; a refused change leaves everything as it was, and a change that fails the health
//! hold is rolled back to the configuration in force through the same steps.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kres_datamodel::lua::{RenderContext, RenderTarget};
use kres_datamodel::{ConfigError, KresConfig, SystemFacts, ValidationOptions};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::controller::{Controller, Probe};
use super::generations::{Candidate, SharedHistory};
use super::handle::{
    ApplyError, ApplyOutcome, ApplyRequest, ApplyResult, Client, Command, Edit, Event, EventKind, SelfMetrics,
    Snapshot, Source, WorkerInfo,
};
use super::kresd;
use super::kresd::probe as health;
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
    /// While a change that failed its health hold is rolled back: the workers the rollback's monitor probes (the
    /// rolling restart swaps in the restored workers before it drains the failed ones).
    watched: Option<Arc<Mutex<Vec<Target>>>>,
    /// On a fleet node: the fleet's document in force, merged over the local files (also by reloads).
    pub(super) fleet_layer: Option<super::fleet::FleetLayer>,
}

/// How often every worker is probed during the health hold (and during a rollback).
pub const HOLD_INTERVAL: Duration = Duration::from_millis(250);
/// How many probe ports a canary tries when kresd cannot bind the one it was given.
const CANARY_PORT_ATTEMPTS: usize = 3;
/// The stage named when a canary starts but fails its health probe.
pub const PROBE_STAGE: &str = "the canary's health probe";

/// A worker to probe: its instance and its probe listener's port (none: control socket only).
type Target = (u32, Option<u16>);

/// DNS probe queries sent, and those that failed (no answer, or a failure answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    sent: u64,
    failed: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.sent += other.sent;
        self.failed += other.failed;
    }
}

/// Why the health hold failed.
struct HoldFailure {
    reason: String,
    /// Probe queries of the failing round that failed.
    lost: u64,
    /// When the failing round of probes was sent.
    since: Instant,
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
            watched: None,
            fleet_layer: None,
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
            Command::Fleet { generation, layer, reply } => {
                let result = self.apply_fleet(layer).await;
                match &result {
                    Ok(_) => tracing::info!("fleet generation {generation} applied"),
                    Err(e) => tracing::error!("fleet generation {generation} was not applied: {e}"),
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
        // On a fleet node the fleet's part stays: the files hold only what is the node's own.
        let raw = super::fleet::merged(&loaded.raw, self.fleet_layer.as_ref())?;
        let request = ApplyRequest { force, client, ..ApplyRequest::new(Edit::Replace(raw), source) };
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
            plan.log_deferred();
            self.emit(EventKind::Validated { impact: plan.impact.map(|i| i.to_string()) });
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
            impact: plan.impact,
        };
        if plan.dry_run {
            if let Some(scratch) = &plan.dry_run_scratch {
                outcome.canary = Some(self.dry_run_canary(&plan.next.config, scratch, &plan.next.etag).await?);
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
            match self.rolling_restart(next.config.workers.count, next).await {
                Ok(restarted) => {
                    outcome.canary = Some(true);
                    self.metrics.worker_restarts += restarted as u64;
                }
                Err(e) => {
                    if let ApplyError::Rejected { .. } = e {
                        self.metrics.canary_failures += 1;
                    }
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
        // The gate's settings are those in force: a change of them applies from the next change on.
        let (hold, probe_name) = self.health_settings();
        if !hold.is_zero() && (plan.restart_workers || plan.reload_rules || plan.scale_to.is_some()) {
            self.emit(EventKind::HealthHold { seconds: hold.as_secs_f64() });
            match self.hold(hold, &probe_name).await {
                Ok(counts) => {
                    tracing::info!("health hold passed: {} probe queries, {} failed", counts.sent, counts.failed);
                    self.emit(EventKind::HealthHoldPassed);
                }
                Err(failure) => {
                    self.emit(EventKind::HealthHoldFailed { reason: failure.reason.clone() });
                    return Err(self.roll_back_change(&plan, failure, &probe_name).await);
                }
            }
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

    /// `/management/health-hold` (on a fleet node `/fleet/health-hold` when set) and `/management/health-probe` of
    /// the configuration in force.
    fn health_settings(&self) -> (Duration, String) {
        let config = &self.current.config;
        let management = &config.management;
        let fleet_hold = config.fleet.enable.then_some(config.fleet.health_hold.as_ref()).flatten();
        let hold = fleet_hold.unwrap_or(&management.health_hold);
        (Duration::from_micros(hold.micros()), management.health_probe.punycode().to_owned())
    }

    /// Starts a canary on `config` and stops it again (dry run): its control socket, shared-memory files and
    /// configuration live in `scratch` (see [`Plan::dry_run_scratch`]), removed afterwards; like every canary it must
    /// answer its health probe.
    async fn dry_run_canary(&mut self, config: &KresConfig, scratch: &Path, etag: &str) -> Result<bool, ApplyError> {
        let control = scratch.join("control");
        std::fs::create_dir_all(&control)
            .map_err(|e| ApplyError::Failed(format!("cannot create '{}': {e}", control.display())))?;
        let cx = RenderContext { rundir: scratch.to_path_buf(), ..RenderContext::from_config(config) };
        let result = self.canary(config.workers.count, config, &cx, etag, Some(&control)).await.map(|_| true);
        let _ = std::fs::remove_dir_all(scratch);
        result
    }

    /// Starts a canary kresd on `config` with the render context `cx`: the worker configuration without the
    /// service listeners and with a probe listener on a free loopback port (another port is tried when kresd cannot
    /// bind it), so that it serves no client. Once ready, it must answer the DNS probe and its control socket (in
    /// `control_dir`, when not the rundir's). It is stopped again whatever happens: the canary never becomes a
    /// worker. Its instance number is none of the `count` that the new workers take next (see
    /// [`Processes::canary_instance`]). Returns its instance number.
    async fn canary(
        &mut self,
        count: usize,
        config: &KresConfig,
        cx: &RenderContext,
        etag: &str,
        control_dir: Option<&Path>,
    ) -> Result<u32, ApplyError> {
        let instance = self.procs.canary_instance(count);
        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            let port = health::free_port()
                .map_err(|e| ApplyError::Failed(format!("no free loopback port for the canary's probe: {e}")))?;
            let lua = kres_datamodel::lua::render_with(config, cx, RenderTarget::Canary { probe_port: port })
                .map_err(|e| ApplyError::Failed(e.to_string()))?;
            match self.procs.start_canary(instance, &lua, etag, port).await {
                Ok(_) => break port,
                Err(e) if attempt < CANARY_PORT_ATTEMPTS && health::bind_failed(&e.to_string(), port) => {
                    tracing::warn!("the canary could not bind its probe port {port}; trying another");
                }
                Err(e) => return Err(rejected("the canary kresd", e)),
            }
        };
        let (_, name) = self.health_settings();
        let probe = Probe { name: &name, port: Some(port), control_dir };
        let outcome = self.procs.controller.probe(instance, &probe).await;
        if let Err(e) = self.procs.stop_worker_now(instance).await {
            tracing::error!("cannot stop the canary (worker {instance}): {e}");
        }
        match outcome.result {
            Ok(()) => Ok(instance),
            Err(e) => Err(ApplyError::Rejected { stage: PROBE_STAGE, message: e.to_string(), output: vec![] }),
        }
    }

    /// Replaces every worker with `count` ones running `next`'s worker Lua: first a canary (see [`Self::canary`]:
    /// probe-only, it must become ready and answer), stopped again; then the new workers (started at once, each
    /// ready, each given a probe listener); and only then are the old workers drained and stopped, so capacity
    /// never drops. Returns how many old workers were replaced.
    async fn rolling_restart(&mut self, count: usize, next: &Current) -> Result<usize, ApplyError> {
        let old: Vec<u32> = self.procs.workers.keys().copied().collect();
        let cx = RenderContext::from_config(&next.config);
        let canary = match self.canary(count, &next.config, &cx, &next.etag, None).await {
            Ok(canary) => canary,
            Err(e) => {
                if let ApplyError::Rejected { stage: PROBE_STAGE, message, .. } = &e {
                    self.emit(EventKind::HealthHoldFailed { reason: format!("the canary: {message}") });
                    tracing::error!("Kresd with the new config does not answer, rejecting config: {e}");
                } else {
                    tracing::error!("Kresd with the new config failed to start, rejecting config: {e}");
                }
                return Err(e);
            }
        };
        self.emit(EventKind::CanaryReady { instance: canary });
        let (new, error) = self.procs.start_many(count, &next.worker_lua, &next.etag).await;
        if let Some(e) = error {
            self.roll_back(&new, old.len()).await;
            return Err(ApplyError::Failed(format!("a replacement worker failed to start: {e}")));
        }
        if let Some(watched) = &self.watched {
            // A rollback: probe the restored workers from now on; the failed ones leave service now.
            *lock(watched) = self.targets();
        }
        self.procs.stop_many(&old).await;
        let total = new.len();
        for (i, &new) in new.iter().enumerate() {
            self.emit(EventKind::WorkerReplaced { old: old.get(i).copied(), new, done: i + 1, total });
        }
        Ok(old.len())
    }

    /// What the health probes go to: every running worker, with its probe port when it has one.
    fn targets(&self) -> Vec<Target> {
        self.procs.workers.values().map(|w| (w.instance, w.probe_port())).collect()
    }

    /// The health hold: for `hold`, every worker is probed (DNS on its probe listener, and its control socket)
    /// every [`HOLD_INTERVAL`]; the first failure ends it. At least one round of probes is sent.
    async fn hold(&self, hold: Duration, name: &str) -> Result<Counts, HoldFailure> {
        let deadline = Instant::now() + hold;
        let mut ticks = tokio::time::interval(HOLD_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut total = Counts::default();
        loop {
            ticks.tick().await;
            let since = Instant::now();
            let (counts, failure) = probe_round(&self.procs.controller, &self.targets(), name).await;
            total += counts;
            if let Some(reason) = failure {
                return Err(HoldFailure { reason, lost: counts.failed, since });
            }
            if Instant::now() >= deadline {
                return Ok(total);
            }
        }
    }

    /// After a failed health hold: puts the configuration in force back (see [`Self::restore`]) while the workers
    /// are still probed, then checks that every worker answers. Returns the error the change is answered with:
    /// [`ApplyError::RolledBack`] with the probe queries lost (unanswered or failed) from the failure until service
    /// was restored, or
    /// [`ApplyError::Failed`] when the rollback itself failed (logged loudly; not retried).
    async fn roll_back_change(&mut self, plan: &Plan, failure: HoldFailure, name: &str) -> ApplyError {
        let reason = failure.reason;
        tracing::error!("the new configuration failed its health hold ({reason}); rolling back to the previous one");
        let watched = Arc::new(Mutex::new(self.targets()));
        self.watched = Some(watched.clone());
        let stop = CancellationToken::new();
        let monitor = watch_workers(self.procs.controller.clone(), watched, name.to_owned(), stop.clone());
        let restore = async {
            let restored = self.restore(plan).await;
            stop.cancel();
            restored
        };
        let (restored, during) = tokio::join!(restore, monitor);
        self.watched = None;
        let mut lost = failure.lost + during.failed;
        let restored = match restored {
            Ok(()) => {
                let (counts, failed) = probe_round(&self.procs.controller, &self.targets(), name).await;
                lost += counts.failed;
                failed.map_or(Ok(()), |f| Err(format!("a restored worker does not answer: {f}")))
            }
            Err(e) => Err(e),
        };
        self.publish().await;
        match restored {
            Ok(()) => {
                tracing::error!(
                    "rolled back to the previous configuration {:.3} s after the failed probe; {lost} probe queries \
                     were lost",
                    failure.since.elapsed().as_secs_f64()
                );
                self.emit(EventKind::RolledBack { reason: reason.clone(), lost_queries: lost });
                ApplyError::RolledBack { reason, lost_queries: lost }
            }
            Err(e) => {
                tracing::error!(
                    "ROLLING BACK FAILED: {e}. The new configuration failed its health hold ({reason}) and the \
                     previous one could not be restored; the resolver may run a mix of both. Apply a configuration \
                     (e.g. `kresctl reload --force`) to bring it in line."
                );
                ApplyError::Failed(format!(
                    "the new configuration failed the health check ({reason}) and rolling it back failed: {e}"
                ))
            }
        }
    }

    /// Puts the configuration in force back after `plan` was carried out (the rollback of a failed health hold),
    /// through the same steps: the policy-loader with the previous rules if they changed, a rolling restart to the
    /// previous worker Lua (its canary probed too) or a rules reset, the worker count, TLS, the cache GC, logging.
    async fn restore(&mut self, plan: &Plan) -> Result<(), String> {
        let previous = self.current.clone();
        if plan.reload_rules {
            unlink(&plan.unlink_before_rules);
            if let Err(e) = self.procs.run_policy_loader(&previous.policy_lua, &previous.etag).await {
                return Err(format!("the policy-loader failed on the previous rules: {e}"));
            }
        }
        if plan.restart_workers {
            unlink(&plan.unlink_before_workers);
            if let Err(e) = self.rolling_restart(previous.config.workers.count, &previous).await {
                return Err(format!("the workers of the previous configuration did not start: {e}"));
            }
        } else if plan.reload_rules {
            self.reset_rules(&previous.worker_lua, &previous.etag).await;
        }
        if plan.scale_to.is_some() {
            let count = previous.config.workers.count;
            if let Err(e) = self.procs.scale_workers(count, &previous.worker_lua, &previous.etag).await {
                return Err(format!("cannot restore the number of workers: {e}"));
            }
        }
        if plan.reload_tls {
            self.reload_tls_files(&previous).await;
        }
        if plan.restart_gc {
            let _ = self.procs.controller.stop_gc().await;
        }
        let gc = previous.config.cache.garbage_collector.enable;
        if let Err(e) = self.procs.ensure_gc(gc, &previous.gc_argv, &previous.etag).await {
            tracing::error!("cannot start the cache garbage collector: {e}");
        }
        if plan.logging_changed {
            crate::logging::apply(&previous.config.logging);
        }
        Ok(())
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

/// Probes every worker of `targets` at once; the queries sent and failed, and the first failure.
async fn probe_round<C: Controller>(controller: &C, targets: &[Target], name: &str) -> (Counts, Option<String>) {
    let probes = targets.iter().map(|&(instance, port)| async move {
        (instance, controller.probe(instance, &Probe { name, port, control_dir: None }).await)
    });
    let mut counts = Counts::default();
    let mut failure = None;
    for (instance, outcome) in futures_util::future::join_all(probes).await {
        counts += Counts { sent: outcome.sent, failed: outcome.failed };
        if let Err(e) = outcome.result {
            failure.get_or_insert_with(|| format!("worker {instance}: {e}"));
        }
    }
    (counts, failure)
}

/// Probes the workers in `targets` (which the rollback updates) every [`HOLD_INTERVAL`] until `stop`; the queries
/// sent and failed.
async fn watch_workers<C: Controller>(
    controller: C,
    targets: Arc<Mutex<Vec<Target>>>,
    name: String,
    stop: CancellationToken,
) -> Counts {
    let mut total = Counts::default();
    let mut ticks = tokio::time::interval(HOLD_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return total,
            _ = ticks.tick() => {}
        }
        let round = lock(&targets).clone();
        tokio::select! {
            _ = stop.cancelled() => return total,
            (counts, _) = probe_round(&controller, &round, &name) => total += counts,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
