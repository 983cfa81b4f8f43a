//! Deciding what a configuration change needs, without doing any of it: [`plan`] checks the ETag
//! preconditions, edits the document, validates it, refuses runtime-immutable changes, renders the worker and
//! policy-loader Lua once, and decides about the workers (canary and rolling restart or not), the rules
//! (policy-loader and rules reset), the worker count, the cache garbage collector, TLS certificates and logging.
//! The executor (`apply.rs`) carries a [`Plan`] out.
//!
//! Which changes are refused, and the impact a change reports, come from the impact table
//! ([`kres_datamodel::impact`]) that the schema's `x-kres-apply` shows; the decisions about the workers come from
//! the rendered Lua. The test in `plan/impact_tests.rs` changes every field of the schema and checks that both
//! agree.

use std::path::PathBuf;

use kres_datamodel::impact::{self, Changed, Impact};
use kres_datamodel::json_patch;
use kres_datamodel::lua::{RenderContext, RenderTarget};
use kres_datamodel::node::Node;
use kres_datamodel::{KresConfig, ValidationOptions};
use serde_json::Value;

use super::LoadedConfig;
use super::handle::{ApplyError, ApplyRequest, Edit};
use super::processes::{self, ProcessError};
use crate::watch::Fingerprint;

/// The configuration in force (or about to be) and what was rendered from it.
#[derive(Debug, Clone)]
pub struct Current {
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
pub type RuleFiles = Vec<(PathBuf, Option<Fingerprint>)>;

/// Fingerprints the files `config`'s rules read, in configuration order.
pub fn rule_files(config: &KresConfig) -> RuleFiles {
    let local_data = &config.local_data;
    let hosts = local_data.addresses_files.iter().flatten();
    let rules = local_data.rules.iter().flatten().flat_map(|r| r.file.iter().flatten());
    let rpz = local_data.rpz.iter().flatten().map(|r| &r.file);
    hosts.chain(rules).chain(rpz).map(|f| (f.path().to_path_buf(), Fingerprint::of(f.path()))).collect()
}

impl Current {
    /// Renders `config` (worker Lua, policy-loader Lua, cache GC command line with the program `cache_gc`).
    pub fn render(raw: Value, config: KresConfig, etag: String, cache_gc: &str) -> Result<Current, ProcessError> {
        let render = |target| {
            kres_datamodel::lua::render_with(&config, &RenderContext::from_config(&config), target)
                .map_err(|e| ProcessError::Render(e.to_string()))
        };
        let worker_lua = render(RenderTarget::Worker)?;
        let policy_lua = render(RenderTarget::PolicyLoader)?;
        let gc_argv = processes::gc_argv(cache_gc, &config);
        let rule_files = rule_files(&config);
        Ok(Current { raw, config, etag, worker_lua, policy_lua, gc_argv, rule_files })
    }

    pub fn from_loaded(loaded: LoadedConfig, cache_gc: &str) -> Result<Current, ProcessError> {
        Current::render(loaded.raw, loaded.config, loaded.etag, cache_gc)
    }
}

/// What a change needs, decided by [`plan`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// The configuration to put in force, rendered.
    pub next: Current,
    /// Whether the document changed.
    pub changed: bool,
    pub dry_run: bool,
    pub force: bool,
    /// Replace every worker (canary first, then a rolling restart): the worker Lua changed, or forced.
    pub restart_workers: bool,
    /// Run the policy-loader: the rules or the files they read changed, or forced. Without a worker restart
    /// the workers then reset their rules.
    pub reload_rules: bool,
    /// The worker instances a restart replaces.
    pub replaced: Vec<u32>,
    /// Nothing to apply (only the TLS certificate files are re-sent, like the reference).
    pub nothing: bool,
    /// For a dry run that needs a canary: the scratch directory its shared-memory files (`defer`,
    /// `ratelimiting`) and control socket live in, so that a changed worker count or rate limit does not clash
    /// with the running workers' files and nothing in the rundir changes.
    pub dry_run_scratch: Option<PathBuf>,
    /// Start or stop workers until this many run (only the count changed).
    pub scale_to: Option<usize>,
    /// Re-send the TLS certificate files to the workers (`net.tls`), when configured.
    pub reload_tls: bool,
    /// Stop the cache garbage collector first: its command line changed.
    pub restart_gc: bool,
    pub logging_changed: bool,
    /// Shared files to remove before the policy-loader runs (their settings changed; the reference does it).
    pub unlink_before_rules: Vec<PathBuf>,
    /// Shared files to remove before the new workers start.
    pub unlink_before_workers: Vec<PathBuf>,
    /// The changed fields (in the validated models) and what each takes.
    pub changes: Vec<Changed>,
    /// What the change takes overall: the worst of `changes`, at least `restart` when forced and `rules` when only
    /// the files the rules read changed; `None` when nothing is applied.
    pub impact: Option<Impact>,
}

impl Plan {
    /// Warns about the changes that take effect only after a restart of the manager.
    pub fn log_deferred(&self) {
        for change in self.changes.iter().filter(|c| c.impact == Impact::Manager) {
            tracing::warn!(
                "{}: the change is recorded but takes effect only after the manager is restarted ({})",
                change.path,
                change.rule.why
            );
        }
    }
}

/// The precondition, edit, validation and runtime-change steps of [`plan`]: the edited document and its model.
/// The HTTP API's tests use it as their fake manager.
pub fn edit_and_validate(
    raw: &Value,
    config: &KresConfig,
    etag: &str,
    request: &ApplyRequest,
    opts: &ValidationOptions,
) -> Result<(Value, KresConfig), ApplyError> {
    edit_and_check(raw, config, etag, request, opts).map(|(raw, new, _)| (raw, new))
}

/// [`edit_and_validate`], also returning the changed fields.
fn edit_and_check(
    raw: &Value,
    config: &KresConfig,
    etag: &str,
    request: &ApplyRequest,
    opts: &ValidationOptions,
) -> Result<(Value, KresConfig, Vec<Changed>), ApplyError> {
    if !request.preconditions.hold(etag) {
        return Err(ApplyError::PreconditionFailed);
    }
    let raw = edit(raw, &request.edit)?;
    let new = kres_datamodel::validate(&Node::from_json(&raw), opts).map_err(ApplyError::Invalid)?;
    let changes = impact::changes(config, &new);
    deny_runtime_changes(&changes)?;
    Ok((raw, new, changes))
}

/// Decides what `request` needs, given the configuration in force and the running worker instances.
pub fn plan(
    current: &Current,
    workers: &[u32],
    request: &ApplyRequest,
    opts: &ValidationOptions,
    cache_gc: &str,
) -> Result<Plan, ApplyError> {
    let (raw, config, changes) = edit_and_check(&current.raw, &current.config, &current.etag, request, opts)?;
    let etag = kres_datamodel::etag::etag(&raw);
    let next = Current::render(raw, config, etag, cache_gc).map_err(|e| ApplyError::Failed(e.to_string()))?;
    let old = &current.config;
    let new = &next.config;
    let changed = next.etag != current.etag;
    let restart_workers = request.force || next.worker_lua != current.worker_lua;
    // The files the rules read (RPZ, hosts files) are re-read when one of them changed on disk since the
    // policy-loader last ran (a renew after an RPZ update), or when forced; an unchanged reload or renew
    // applies nothing.
    let rule_files_changed = next.rule_files != current.rule_files;
    let reload_rules = request.force || next.policy_lua != current.policy_lua || rule_files_changed;
    let restart_gc = next.gc_argv != current.gc_argv;
    let nothing = !restart_workers && !reload_rules && !restart_gc && !changed;
    let dry_run_scratch = (request.dry_run && restart_workers).then(|| new.rundir.path().join("dry-run"));
    // The count is only part of the worker Lua through defer; with defer off the Lua stays the same, so the
    // workers run the right configuration and only their number changes.
    let scale_to = (!nothing && !restart_workers && workers.len() != new.workers.count).then_some(new.workers.count);
    let tls = &new.network.tls;
    // The reference re-sends the certificate files whenever the workers' configuration is unchanged or the
    // apply is forced.
    let reload_tls = tls.cert_file.is_some() && tls.key_file.is_some() && (!restart_workers || request.force);
    let rundir = new.rundir.path();
    let mut unlink_before_workers = Vec::new();
    if old.workers != new.workers || old.defer != new.defer {
        unlink_before_workers.push(rundir.join("defer"));
    }
    if old.rate_limiting != new.rate_limiting {
        unlink_before_workers.push(rundir.join("ratelimiting"));
    }
    let mut unlink_before_rules = Vec::new();
    if old.cache.size_max != new.cache.size_max {
        unlink_before_rules.push(new.cache.storage.path().join("top"));
    }
    let mut overall = impact::overall(&changes);
    if request.force {
        overall = overall.max(Some(Impact::Restart));
    } else if rule_files_changed {
        overall = overall.max(Some(Impact::Rules));
    }
    Ok(Plan {
        changed,
        dry_run: request.dry_run,
        force: request.force,
        restart_workers,
        reload_rules,
        replaced: if restart_workers { workers.to_vec() } else { vec![] },
        nothing,
        dry_run_scratch,
        scale_to,
        reload_tls,
        restart_gc,
        logging_changed: old.logging != new.logging,
        unlink_before_rules,
        unlink_before_workers,
        changes,
        impact: overall,
        next,
    })
}

/// Applies an edit to the raw document.
fn edit(current: &Value, edit: &Edit) -> Result<Value, ApplyError> {
    match edit {
        Edit::Replace(v) => Ok(v.clone()),
        Edit::Keep => Ok(current.clone()),
        Edit::Put { pointer, value } => json_patch::put(current, pointer, value.clone()).map_err(edit_error),
        Edit::Delete { pointer } => json_patch::delete(current, pointer).map_err(edit_error),
        Edit::Patch(patch) => {
            json_patch::apply_patch(current, patch).map_err(|e| ApplyError::BadRequest(e.to_string()))
        }
    }
}

fn edit_error(e: json_patch::EditError) -> ApplyError {
    if e.is_not_found() { ApplyError::NotFound(e.to_string()) } else { ApplyError::BadRequest(e.to_string()) }
}

/// Refuses the changes the running manager cannot make (the `immutable` ones of the impact table; the reference's
/// verifiers), each named by its path.
fn deny_runtime_changes(changes: &[Changed]) -> Result<(), ApplyError> {
    let reasons: Vec<String> = changes
        .iter()
        .filter(|c| c.impact == Impact::Immutable)
        .map(|c| format!("{}: {}", c.path, c.rule.why))
        .collect();
    if reasons.is_empty() { Ok(()) } else { Err(ApplyError::Forbidden(reasons.join("\n"))) }
}

#[cfg(test)]
mod impact_tests;
