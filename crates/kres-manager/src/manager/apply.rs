//! The manager actor and the apply pipeline:
//! validate → refuse runtime-immutable changes → policy-loader (rules) → canary kresd → rolling restart →
//! worker count → cache GC → publish. One change at a time; a refused change leaves everything as it was.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use kres_datamodel::json_patch;
use kres_datamodel::node::Node;
use kres_datamodel::{ConfigError, KresConfig, SystemFacts, ValidationOptions};
use serde_json::Value;
use tokio::sync::watch;

use super::controller::{Controller, SupervisorClient};
use super::handle::{
    ApplyError, ApplyOutcome, ApplyRequest, ApplyResult, Command, Edit, SelfMetrics, Snapshot, WorkerInfo,
};
use super::processes::{self, GC_ID, ProcessError, Processes, STOP_TIMEOUT};
use super::{LoadedConfig, kresd, load_config};
use crate::watch::Fingerprint;

/// The configuration in force and what was rendered from it.
pub(super) struct Current {
    pub raw: Value,
    pub config: KresConfig,
    pub etag: String,
    pub worker_lua: String,
    pub policy_lua: String,
    pub gc_argv: Vec<String>,
    /// The files the policy-loader read, as they were when it last ran (a renew re-reads them only when one
    /// changed).
    pub rule_files: RuleFiles,
}

/// The files the policy-loader reads (hosts files, RPZ files, rule files) with their fingerprints.
pub(super) type RuleFiles = Vec<(PathBuf, Option<Fingerprint>)>;

/// Fingerprints the files `config`'s rules read, in configuration order.
pub(super) fn rule_files(config: &KresConfig) -> RuleFiles {
    let local_data = &config.local_data;
    let hosts = local_data.addresses_files.iter().flatten();
    let rules = local_data.rules.iter().flatten().flat_map(|r| r.file.iter().flatten());
    let rpz = local_data.rpz.iter().flatten().map(|r| &r.file);
    hosts.chain(rules).chain(rpz).map(|f| (f.path().to_path_buf(), Fingerprint::of(f.path()))).collect()
}

impl Current {
    pub fn new(loaded: LoadedConfig, exe: &processes::Executables) -> Result<Current, ProcessError> {
        let worker_lua = render(&loaded.config, false)?;
        let policy_lua = render(&loaded.config, true)?;
        let gc_argv = processes::gc_argv(&exe.cache_gc, &loaded.config);
        let rule_files = rule_files(&loaded.config);
        Ok(Current {
            raw: loaded.raw,
            config: loaded.config,
            etag: loaded.etag,
            worker_lua,
            policy_lua,
            gc_argv,
            rule_files,
        })
    }
}

fn render(config: &KresConfig, policy: bool) -> Result<String, ProcessError> {
    let lua = if policy {
        kres_datamodel::lua::render_policy_loader(config)
    } else {
        kres_datamodel::lua::render_worker(config)
    };
    lua.map_err(|e| ProcessError::Render(e.to_string()))
}

/// The manager actor: owns the processes and the configuration in force.
pub(super) struct Actor {
    pub procs: Processes<SupervisorClient>,
    pub current: Current,
    pub files: Vec<PathBuf>,
    pub snapshot: watch::Sender<Arc<Snapshot>>,
    pub metrics: SelfMetrics,
    pub generation: u64,
}

impl Actor {
    /// Publishes the state in force to readers.
    pub async fn publish(&mut self) {
        let gc_pid = match self.procs.controller.list().await {
            Ok(list) => list.iter().find(|p| p.id == GC_ID && p.pid != 0).map(|p| p.pid),
            Err(_) => None,
        };
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
                let result = self.apply(request).await;
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
            Command::Reload { force, reply } => {
                let result = self.reload(force).await;
                if result.is_ok() {
                    tracing::info!("Configuration file successfully reloaded");
                }
                let _ = reply.send(result);
            }
            Command::Stop => return false,
        }
        true
    }

    /// Re-reads the configuration files and applies them; logs a failure like the reference.
    async fn reload(&mut self, force: bool) -> ApplyResult {
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
        let result = self.apply(ApplyRequest { force, ..ApplyRequest::new(Edit::Replace(loaded.raw)) }).await;
        if let Err(e) = &result {
            match e {
                ApplyError::Invalid(_) => tracing::error!("Failed to parse the updated configuration file: {e}"),
                _ => tracing::error!("Reloading of the configuration file failed: {e}"),
            }
            tracing::error!("Configuration has NOT been changed.");
        }
        result
    }

    /// The apply pipeline.
    pub async fn apply(&mut self, request: ApplyRequest) -> ApplyResult {
        let started = Instant::now();
        if !request.preconditions.hold(&self.current.etag) {
            return Err(ApplyError::PreconditionFailed);
        }
        let raw = edit(&self.current.raw, request.edit)?;
        let config = self.validate(&raw)?;
        if let Err(e) = deny_runtime_changes(&self.current.config, &config) {
            tracing::error!(
                "Configuration validation failed. The reasons are:\n - {}",
                e.to_string().replace('\n', "\n - ")
            );
            return Err(e);
        }
        let etag = kres_datamodel::etag::etag(&raw);
        let worker_lua = render(&config, false).map_err(|e| ApplyError::Failed(e.to_string()))?;
        let policy_lua = render(&config, true).map_err(|e| ApplyError::Failed(e.to_string()))?;
        let gc_argv = processes::gc_argv(&self.procs.exe.cache_gc, &config);
        // The files the rules read (RPZ, hosts files) are re-read when one of them changed on disk since the
        // policy-loader last ran (a renew after an RPZ update), or when forced; an unchanged reload or renew
        // applies nothing.
        let rule_files = rule_files(&config);
        let restart_workers = request.force || worker_lua != self.current.worker_lua;
        let reload_rules =
            request.force || policy_lua != self.current.policy_lua || rule_files != self.current.rule_files;
        let mut outcome = ApplyOutcome {
            etag: etag.clone(),
            changed: etag != self.current.etag,
            dry_run: request.dry_run,
            restarted_workers: if restart_workers { self.procs.workers.keys().copied().collect() } else { vec![] },
            rules_reloaded: reload_rules,
            canary: None,
            seconds: 0.0,
        };
        if request.dry_run {
            if restart_workers {
                outcome.canary = Some(self.dry_run_canary(&config, &etag).await?);
            }
            outcome.seconds = started.elapsed().as_secs_f64();
            return Ok(outcome);
        }
        if !restart_workers && !reload_rules && gc_argv == self.current.gc_argv && !outcome.changed {
            // Nothing to apply; like the reference, re-send TLS certificate files so a reload picks up renewed
            // certificates.
            self.reload_tls_files(&config).await;
            outcome.seconds = started.elapsed().as_secs_f64();
            return Ok(outcome);
        }

        if reload_rules {
            self.unlink_for_policy(&config);
            if let Err(e) = self.procs.run_policy_loader(&config, &etag).await {
                // A failed policy-loader exits before it commits its transaction: the rules in force are intact.
                self.metrics.canary_failures += 1;
                let e = rejected("the policy-loader", e);
                tracing::error!("Failed to load policy rules: {e}");
                return Err(e);
            }
        }
        if restart_workers {
            self.unlink_for_workers(&config);
            match self.rolling_restart(&config, &worker_lua, &etag).await {
                Ok(restarted) => {
                    outcome.canary = Some(true);
                    self.metrics.worker_restarts += restarted as u64;
                }
                Err(e) => {
                    if reload_rules {
                        self.restore_rules().await;
                    }
                    return Err(e);
                }
            }
        } else if reload_rules {
            self.reset_rules(&worker_lua, &etag).await;
        }
        if !restart_workers && self.procs.workers.len() != config.workers.count {
            // The count is only part of the worker Lua through defer; with defer off the Lua stays the same, so the
            // workers run the right configuration and only their number changes.
            if let Err(e) = self.procs.scale_workers(config.workers.count, &worker_lua, &etag).await {
                return Err(ApplyError::Failed(format!("cannot change the number of workers: {e}")));
            }
        }
        if !restart_workers || request.force {
            // The reference re-sends the certificate files whenever the workers' configuration is unchanged or
            // the apply is forced.
            self.reload_tls_files(&config).await;
        }
        if gc_argv != self.current.gc_argv {
            let _ = self.procs.controller.stop(GC_ID, STOP_TIMEOUT).await;
        }
        if let Err(e) = self.procs.ensure_gc(&config, &etag).await {
            tracing::error!("cannot start the cache garbage collector: {e}");
        }
        if config.logging != self.current.config.logging {
            crate::logging::apply(&config.logging);
        }
        self.current = Current { raw, config, etag, worker_lua, policy_lua, gc_argv, rule_files };
        self.generation += 1;
        self.metrics.applied += 1;
        self.metrics.last_apply_seconds = started.elapsed().as_secs_f64();
        self.publish().await;
        if outcome.changed || request.force {
            // The reference's line after it applied a changed (or forced) configuration; a renew that only re-read
            // changed rule files does not log it.
            tracing::info!("Config applied successfully to all workers");
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    fn validate(&self, raw: &Value) -> Result<KresConfig, ApplyError> {
        let opts = ValidationOptions::new(true, kres_datamodel::resolve_root(&self.files), SystemFacts::from_system());
        kres_datamodel::validate(&Node::from_json(raw), &opts).map_err(ApplyError::Invalid)
    }

    /// Starts a canary on the new worker configuration and stops it again (dry run). Its shared-memory files
    /// (`defer`, `ratelimiting`) and control socket live in a scratch directory, so that a changed worker count
    /// or rate limit does not clash with the running workers' files and nothing in the rundir changes.
    async fn dry_run_canary(&mut self, config: &KresConfig, etag: &str) -> Result<bool, ApplyError> {
        let mut cx = kres_datamodel::lua::RenderContext::from_config(config);
        cx.rundir = cx.rundir.join("dry-run");
        let scratch = cx.rundir.clone();
        std::fs::create_dir_all(&scratch)
            .map_err(|e| ApplyError::Failed(format!("cannot create '{}': {e}", scratch.display())))?;
        let lua = kres_datamodel::lua::render_with(config, &cx, kres_datamodel::lua::RenderTarget::Worker)
            .map_err(|e| ApplyError::Failed(e.to_string()))?;
        let instance = self.procs.free_instance();
        let result = match self.procs.start_worker(instance, &lua, etag).await {
            Ok(_) => {
                let _ = self.procs.stop_worker_now(instance).await;
                Ok(true)
            }
            Err(e) => Err(rejected("the canary kresd", e)),
        };
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    /// Replaces every worker with one running `worker_lua`: first a canary (a new worker that must become
    /// ready), then the other new workers (started at once, each ready), and only then are the old workers drained
    /// and stopped, so capacity never drops. Returns how many old workers were replaced.
    async fn rolling_restart(&mut self, config: &KresConfig, lua: &str, etag: &str) -> Result<usize, ApplyError> {
        let target = config.workers.count;
        let old: Vec<u32> = self.procs.workers.keys().copied().collect();
        let canary = self.procs.free_instance();
        if let Err(e) = self.procs.start_worker(canary, lua, etag).await {
            self.metrics.canary_failures += 1;
            let e = rejected("the canary kresd", e);
            tracing::error!("Kresd with the new config failed to start, rejecting config: {e}");
            return Err(e);
        }
        let (mut new, error) = self.procs.start_many(target.saturating_sub(1), lua, etag).await;
        new.push(canary);
        if let Some(e) = error {
            self.roll_back(&new, old.len()).await;
            return Err(ApplyError::Failed(format!("a replacement worker failed to start: {e}")));
        }
        self.procs.stop_many(&old).await;
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
        let config = self.current.config.clone();
        if let Err(e) = self.procs.run_policy_loader(&config, &self.current.etag.clone()).await {
            tracing::error!("cannot restore the rules of the configuration in force: {e}");
        }
        let (lua, etag) = (self.current.worker_lua.clone(), self.current.etag.clone());
        self.reset_rules(&lua, &etag).await;
    }

    /// Re-sends TLS certificate files to the workers (`net.tls`), when configured and present; logs like the
    /// reference.
    async fn reload_tls_files(&self, config: &KresConfig) {
        let tls = &config.network.tls;
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

    /// Runs `command` in every worker; returns the workers it failed in.
    async fn command_all(&self, command: &kresd::Command<'_>) -> Vec<u32> {
        let rundir = self.current.config.rundir.path();
        let mut failed = Vec::new();
        for (instance, result) in kresd::run_all(rundir, self.procs.workers.keys().copied(), command).await {
            if let Err(e) = result {
                tracing::error!("worker {instance}: '{}' failed: {e}", command.lua());
                failed.push(instance);
            }
        }
        failed
    }

    /// Shared files that must be recreated when their settings change (as the reference does).
    fn unlink_for_workers(&self, new: &KresConfig) {
        let old = &self.current.config;
        let rundir = new.rundir.path();
        if old.workers != new.workers || old.defer != new.defer {
            let _ = std::fs::remove_file(rundir.join("defer"));
        }
        if old.rate_limiting != new.rate_limiting {
            let _ = std::fs::remove_file(rundir.join("ratelimiting"));
        }
    }

    fn unlink_for_policy(&self, new: &KresConfig) {
        if self.current.config.cache.size_max != new.cache.size_max {
            let _ = std::fs::remove_file(new.cache.storage.path().join("top"));
        }
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

/// Applies an edit to the raw document.
fn edit(current: &Value, edit: Edit) -> Result<Value, ApplyError> {
    match edit {
        Edit::Replace(v) => Ok(v),
        Edit::Keep => Ok(current.clone()),
        Edit::Put { pointer, value } => json_patch::put(current, &pointer, value).map_err(edit_error),
        Edit::Delete { pointer } => json_patch::delete(current, &pointer).map_err(edit_error),
        Edit::Patch(patch) => {
            json_patch::apply_patch(current, &patch).map_err(|e| ApplyError::BadRequest(e.to_string()))
        }
    }
}

fn edit_error(e: json_patch::EditError) -> ApplyError {
    if e.is_not_found() { ApplyError::NotFound(e.to_string()) } else { ApplyError::BadRequest(e.to_string()) }
}

/// Changes the running manager cannot make (the reference's verifiers).
fn deny_runtime_changes(old: &KresConfig, new: &KresConfig) -> Result<(), ApplyError> {
    let mut reasons = Vec::new();
    if old.rundir != new.rundir {
        reasons.push("/rundir: changing the manager's rundir at runtime is not allowed; restart the resolver");
    }
    if old.management != new.management {
        reasons.push(
            "/management: changing the management API configuration at runtime is not allowed; restart the resolver",
        );
    }
    let (og, ng) = (&old.monitoring.graphite, &new.monitoring.graphite);
    if og.enable && og != ng {
        reasons
            .push("/monitoring/graphite: once enabled, the Graphite bridge cannot be changed or disabled at runtime");
    }
    if reasons.is_empty() { Ok(()) } else { Err(ApplyError::Forbidden(reasons.join("\n"))) }
}
