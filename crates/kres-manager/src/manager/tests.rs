//! The apply pipeline's decisions and failure paths against the fake controller (`controller/fake.rs`): no kresd,
//! runs on the host with `cargo test -p kres-manager --lib`. Whether kresd really does what the controller is
//! told is tested against real workers in `tests/daemon/`.

use std::sync::Arc;

use kres_datamodel::json_pointer::JsonPointer;
use kres_datamodel::node::Node;
use kres_datamodel::{SystemFacts, ValidationOptions};
use kres_test_support::TempDir;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::apply::Actor;
use super::controller::fake::FakeController;
use super::handle::{ApplyError, ApplyOutcome, ApplyRequest, Edit, Preconditions, SelfMetrics, Snapshot};
use super::plan::{self, Current};
use super::processes::{Executables, Processes};
use super::{LoadedConfig, bring_up};

const GC: &str = "/usr/sbin/kres-cache-gc";

struct Resolver {
    actor: Actor<FakeController>,
    fake: FakeController,
    dir: TempDir,
}

/// A configuration with its rundir and cache in `dir`, offline.
fn document(dir: &TempDir, workers: usize) -> Value {
    json!({
        "rundir": dir.join("run"),
        "workers": workers,
        "cache": {"storage": dir.join("cache"), "garbage-collector": {"enable": false}},
        "network": {"listen": [{"interface": "127.0.0.1@53535"}]},
        "local-data": {"records": "a.test. 300 A 192.0.2.1\n"},
        // The health hold's own tests turn it on.
        "management": {"unix-socket": dir.join("run/api.sock"), "health-hold": "0s"},
    })
}

fn opts(dir: &TempDir) -> ValidationOptions {
    ValidationOptions::new(true, dir.path(), SystemFacts::from_system())
}

/// A resolver brought up on `document` by the fake, like the manager's cold start.
async fn resolver(workers: usize) -> Resolver {
    let dir = TempDir::new("plan");
    for d in ["run", "cache"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let raw = document(&dir, workers);
    let config = kres_datamodel::validate(&Node::from_json(&raw), &opts(&dir)).unwrap();
    let loaded = LoadedConfig { etag: kres_datamodel::etag::etag(&raw), raw, config };
    let fake = FakeController::default();
    let exe = Executables { kresd: "/usr/sbin/kresd".into(), cache_gc: GC.into() };
    let mut procs = Processes::new(fake.clone(), exe);
    bring_up(&mut procs, &loaded).await.unwrap();
    let current = Current::from_loaded(loaded, GC).unwrap();
    let snapshot = Snapshot {
        raw: Arc::new(current.raw.clone()),
        etag: current.etag.clone(),
        config: Arc::new(current.config.clone()),
        generation: 0,
        workers: vec![],
        gc_pid: None,
        metrics: SelfMetrics::default(),
    };
    let (events, _) = tokio::sync::broadcast::channel(16);
    let snapshot = watch::channel(Arc::new(snapshot)).0;
    let mut actor = Actor::new(procs, current, vec![dir.join("config.yaml")], snapshot, events, None);
    actor.generation = 1;
    fake.take_calls();
    Resolver { actor, fake, dir }
}

fn api() -> super::handle::Source {
    super::handle::Source::Api { method: "PUT".into(), route: "/v1/config".into() }
}

fn put(pointer: &str, value: Value) -> ApplyRequest {
    ApplyRequest::new(Edit::Put { pointer: JsonPointer::parse(pointer).unwrap(), value }, api())
}

/// A change of the worker Lua only.
fn worker_change() -> ApplyRequest {
    put("/network/edns-buffer-size", json!({"upstream": "1220B", "downstream": "1220B"}))
}

/// A change of the rules only.
fn rules_change() -> ApplyRequest {
    put("/local-data/records", json!("b.test. 300 A 192.0.2.2\n"))
}

impl Resolver {
    async fn apply(&mut self, request: ApplyRequest) -> Result<ApplyOutcome, ApplyError> {
        self.actor.apply_recorded(request).await
    }

    /// The running workers, checking that each runs the worker Lua in force and serves the rules in force. (A worker
    /// that was not restarted keeps the ETag label it was started with.)
    fn workers(&self) -> Vec<u32> {
        let s = self.fake.state();
        let current = &self.actor.current;
        for (i, w) in &s.workers {
            assert_eq!(w.lua, current.worker_lua, "worker {i} runs the worker Lua in force");
            assert_eq!(w.rules.as_ref(), Some(&current.policy_lua), "worker {i} serves the rules in force");
        }
        assert_eq!(s.rules.as_ref(), Some(&current.policy_lua), "the rules database is the one in force");
        let tracked: Vec<u32> = self.actor.procs.workers.keys().copied().collect();
        let running: Vec<u32> = s.workers.keys().copied().collect();
        assert_eq!(tracked, running, "the manager tracks what runs");
        running
    }
}

#[tokio::test]
async fn a_worker_change_starts_a_canary_then_replaces_every_worker_without_the_policy_loader() {
    let mut r = resolver(2).await;
    let before = r.actor.current.etag.clone();
    let outcome = r.apply(worker_change()).await.unwrap();
    assert_eq!(
        r.fake.take_calls(),
        [
            "start 4", "probe 4", "stop 4", "start 2", "listen 2", "start 3", "listen 3", "drain 0", "drain 1",
            "stop 0", "stop 1"
        ],
        "the canary (a number none of the new workers takes) probed and stopped, the new workers (each with a probe listener), then the old ones drained and \
         stopped"
    );
    assert_eq!((outcome.canary, outcome.restarted_workers, outcome.rules_reloaded), (Some(true), vec![0, 1], false));
    assert!(outcome.changed && outcome.etag != before && r.actor.current.etag == outcome.etag);
    assert_eq!(r.workers(), [2, 3]);
    assert!(r.fake.state().workers.values().all(|w| w.etag == outcome.etag), "new workers carry the new ETag");
    assert_eq!((r.actor.metrics.applied, r.actor.metrics.worker_restarts), (1, 2));
    assert_eq!(r.actor.generation, 2, "the counter counts applied changes");
}

#[tokio::test]
async fn a_refused_canary_changes_nothing() {
    let mut r = resolver(2).await;
    let before = r.actor.current.clone();
    r.fake.state().refuse = Some("1220".into());
    let e = r.apply(worker_change()).await.unwrap_err();
    assert!(
        matches!(&e, ApplyError::Rejected { stage: "the canary kresd", output, .. } if !output.is_empty()),
        "{e:?}"
    );
    assert_eq!(r.fake.take_calls(), ["start 4"], "only the canary was tried");
    assert_eq!(r.actor.current.etag, before.etag);
    assert_eq!(r.workers(), [0, 1]);
    assert_eq!((r.actor.metrics.canary_failures, r.actor.metrics.applied), (1, 0));
}

#[tokio::test]
async fn a_replacement_failing_half_way_is_rolled_back() {
    let mut r = resolver(3).await;
    let first = r.fake.state().starts;
    // The canary starts; the second of the new workers does not.
    r.fake.state().fail_starts.insert(first + 2);
    let e = r.apply(worker_change()).await.unwrap_err();
    assert!(matches!(&e, ApplyError::Failed(m) if m.contains("a replacement worker failed to start")), "{e:?}");
    let calls = r.fake.take_calls();
    assert_eq!(calls[..3], ["start 6", "probe 6", "stop 6"], "the canary");
    assert_eq!(calls[3..8], ["start 3", "listen 3", "start 4", "start 5", "listen 5"]);
    assert_eq!(calls[8..], ["drain 3", "drain 5", "stop 3", "stop 5"], "the new workers stopped: {calls:?}");
    assert_eq!(r.workers(), [0, 1, 2], "the old workers never stopped");
    assert_eq!(r.actor.metrics.applied, 0);
}

#[tokio::test]
async fn a_rollback_restores_the_old_count_when_an_old_worker_is_missing() {
    let mut r = resolver(2).await;
    // Worker 1 went FATAL earlier (the manager forgot it); the change then fails half-way.
    r.fake.state().workers.remove(&1);
    r.actor.procs.workers.remove(&1);
    let first = r.fake.state().starts;
    r.fake.state().fail_starts.insert(first + 1);
    r.apply(worker_change()).await.unwrap_err();
    assert_eq!(r.workers(), [0], "as before the change: one worker of the configuration in force");
}

#[tokio::test]
async fn a_failing_policy_loader_keeps_the_rules_and_the_workers() {
    let mut r = resolver(2).await;
    let rules = r.fake.state().rules.clone();
    r.fake.state().fail_policy_loader = true;
    let e = r.apply(rules_change()).await.unwrap_err();
    assert!(matches!(&e, ApplyError::Rejected { stage: "the policy-loader", .. }), "{e:?}");
    assert_eq!(r.fake.take_calls(), ["policy-loader"]);
    assert_eq!(r.fake.state().rules, rules);
    assert_eq!(r.workers(), [0, 1]);
    assert_eq!(r.actor.metrics.canary_failures, 1);
}

#[tokio::test]
async fn a_refused_canary_after_new_rules_restores_the_rules() {
    let mut r = resolver(2).await;
    r.fake.state().refuse = Some("1220".into());
    let both = ApplyRequest::new(
        Edit::Patch(json!([
            {"op": "add", "path": "/network/edns-buffer-size", "value": {"upstream": "1220B", "downstream": "1220B"}},
            {"op": "replace", "path": "/local-data/records", "value": "b.test. 300 A 192.0.2.2\n"},
        ])),
        api(),
    );
    r.apply(both).await.unwrap_err();
    assert_eq!(
        r.fake.take_calls(),
        [
            "policy-loader",
            "start 4",
            "policy-loader",
            "command 0 require('ffi').C.kr_rules_reset()",
            "command 1 require('ffi').C.kr_rules_reset()"
        ],
        "new rules, the canary refused, the rules in force rebuilt and reset in every worker"
    );
    assert_eq!(r.workers(), [0, 1], "and every worker serves them (checked by workers())");
}

#[tokio::test]
async fn a_rules_only_change_resets_the_rules_without_a_restart() {
    let mut r = resolver(2).await;
    let outcome = r.apply(rules_change()).await.unwrap();
    assert_eq!(
        r.fake.take_calls(),
        ["policy-loader", "command 0 require('ffi').C.kr_rules_reset()", "command 1 require('ffi').C.kr_rules_reset()"]
    );
    assert_eq!((outcome.rules_reloaded, outcome.canary, outcome.restarted_workers), (true, None, vec![]));
    assert_eq!(r.workers(), [0, 1]);
}

#[tokio::test]
async fn a_worker_that_does_not_reset_its_rules_is_replaced() {
    let mut r = resolver(2).await;
    r.fake.state().fail_commands.insert(1);
    r.apply(rules_change()).await.unwrap();
    let calls = r.fake.take_calls();
    assert_eq!(calls[3..], ["start 2", "listen 2", "stop 1"], "{calls:?}");
    assert_eq!(r.workers(), [0, 2]);
}

#[tokio::test]
async fn without_defer_the_worker_count_scales_without_a_restart() {
    let mut r = resolver(1).await;
    r.apply(put("/defer", json!({"enable": false}))).await.unwrap();
    assert_eq!(
        r.fake.take_calls(),
        ["start 2", "probe 2", "stop 2", "start 1", "listen 1", "drain 0", "stop 0"],
        "defer is in the worker Lua"
    );
    let lua = r.actor.current.worker_lua.clone();
    let outcome = r.apply(put("/workers", json!(2))).await.unwrap();
    assert_eq!(r.actor.current.worker_lua, lua, "without defer the count is not in the worker Lua");
    assert_eq!(r.fake.take_calls(), ["start 0", "listen 0"], "only the missing worker started (lowest free instance)");
    assert_eq!((outcome.canary, outcome.restarted_workers), (None, vec![]));
    assert_eq!(r.workers(), [0, 1]);
    r.apply(put("/workers", json!(1))).await.unwrap();
    assert_eq!(r.fake.take_calls(), ["drain 1", "stop 1"], "the highest-numbered worker drained and stopped");
    assert_eq!(r.workers(), [0]);
}

#[tokio::test]
async fn with_defer_a_new_worker_count_is_a_rolling_restart() {
    let mut r = resolver(1).await;
    let outcome = r.apply(put("/workers", json!(2))).await.unwrap();
    assert_eq!(
        r.fake.take_calls(),
        ["start 3", "probe 3", "stop 3", "start 1", "listen 1", "start 2", "listen 2", "drain 0", "stop 0"],
        "defer's state is sized by the count"
    );
    assert_eq!(outcome.restarted_workers, [0]);
    assert_eq!(r.workers(), [1, 2]);
}

#[tokio::test]
async fn a_dry_run_tries_a_canary_and_changes_nothing() {
    let mut r = resolver(2).await;
    let before = r.actor.current.etag.clone();
    let outcome = r.apply(ApplyRequest { dry_run: true, ..worker_change() }).await.unwrap();
    assert_eq!(r.fake.take_calls(), ["start 4", "probe 4", "stop 4"], "the canary is probed too");
    assert_eq!((outcome.dry_run, outcome.canary, outcome.changed), (true, Some(true), true));
    assert_eq!(r.actor.current.etag, before);
    assert_eq!(r.workers(), [0, 1]);
    assert!(!r.dir.join("run/dry-run").exists(), "the canary's scratch directory is removed");

    r.fake.state().refuse = Some("1220".into());
    let e = r.apply(ApplyRequest { dry_run: true, ..worker_change() }).await.unwrap_err();
    assert!(matches!(e, ApplyError::Rejected { stage: "the canary kresd", .. }));
    let outcome = r.apply(ApplyRequest { dry_run: true, ..rules_change() }).await.unwrap();
    assert_eq!(outcome.canary, None, "rules alone need no canary");
    assert_eq!(r.workers(), [0, 1]);
    assert_eq!(r.actor.metrics.applied, 0);
}

#[tokio::test]
async fn an_unchanged_renew_does_nothing_and_a_forced_one_restarts_everything() {
    let mut r = resolver(2).await;
    let outcome = r.apply(ApplyRequest::new(Edit::Keep, api())).await.unwrap();
    assert_eq!(r.fake.take_calls(), Vec::<String>::new());
    assert!(!outcome.changed && !outcome.rules_reloaded && outcome.restarted_workers.is_empty());
    assert_eq!((r.actor.generation, r.actor.metrics.applied), (1, 0), "nothing applied");

    let outcome = r.apply(ApplyRequest { force: true, ..ApplyRequest::new(Edit::Keep, api()) }).await.unwrap();
    assert_eq!(
        r.fake.take_calls(),
        [
            "policy-loader",
            "start 4",
            "probe 4",
            "stop 4",
            "start 2",
            "listen 2",
            "start 3",
            "listen 3",
            "drain 0",
            "drain 1",
            "stop 0",
            "stop 1"
        ]
    );
    assert_eq!((outcome.changed, outcome.canary, outcome.rules_reloaded), (false, Some(true), true));
    assert_eq!(r.workers(), [2, 3]);
}

#[tokio::test]
async fn the_garbage_collector_follows_its_settings() {
    let mut r = resolver(1).await;
    r.apply(put("/cache/garbage-collector/enable", json!(true))).await.unwrap();
    assert_eq!(r.fake.take_calls(), ["start-gc"]);
    let argv = r.fake.state().gc.clone().unwrap();
    assert_eq!(argv, r.actor.current.gc_argv);
    r.apply(put("/cache/garbage-collector/interval", json!("5s"))).await.unwrap();
    assert_eq!(r.fake.take_calls(), ["stop-gc", "start-gc"], "a new command line restarts it");
    assert!(r.fake.state().gc.as_ref().unwrap().contains(&"5000".to_owned()));
    r.apply(put("/cache/garbage-collector/enable", json!(false))).await.unwrap();
    assert_eq!(r.fake.state().gc, None);
    assert_eq!(r.workers(), [0], "no worker restarted for the GC");
}

#[tokio::test]
async fn requests_the_plan_refuses_touch_nothing() {
    let mut r = resolver(1).await;
    let stale = ApplyRequest {
        preconditions: Preconditions { if_match: Some(vec!["other".into()]), if_none_match: None },
        ..worker_change()
    };
    assert!(matches!(r.apply(stale).await, Err(ApplyError::PreconditionFailed)));
    assert!(matches!(r.apply(put("/workers", json!("many"))).await, Err(ApplyError::Invalid(_))));
    let elsewhere = r.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    assert!(
        matches!(r.apply(put("/rundir", json!(elsewhere))).await, Err(ApplyError::Forbidden(m)) if m.contains("/rundir"))
    );
    let delete = ApplyRequest::new(Edit::Delete { pointer: JsonPointer::parse("/nothing/here").unwrap() }, api());
    assert!(matches!(r.apply(delete).await, Err(ApplyError::NotFound(_))));
    assert_eq!(r.fake.take_calls(), Vec::<String>::new());
    assert_eq!(r.workers(), [0]);
}

#[test]
fn the_plan_renders_once_and_decides_without_a_controller() {
    let dir = TempDir::new("plan");
    for d in ["run", "cache"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let raw = document(&dir, 2);
    let config = kres_datamodel::validate(&Node::from_json(&raw), &opts(&dir)).unwrap();
    let current = Current::render(raw.clone(), config, kres_datamodel::etag::etag(&raw), GC).unwrap();
    let p = plan::plan(&current, &[0, 1], &worker_change(), &opts(&dir), GC).unwrap();
    assert!(p.restart_workers && !p.reload_rules && !p.nothing && p.scale_to.is_none());
    assert_eq!(p.replaced, [0, 1]);
    assert_eq!(p.unlink_before_workers, Vec::<std::path::PathBuf>::new(), "no shared file changes its settings");
    let p = plan::plan(&current, &[0, 1], &rules_change(), &opts(&dir), GC).unwrap();
    assert!(!p.restart_workers && p.reload_rules && p.next.worker_lua == current.worker_lua);
    let p = plan::plan(&current, &[0], &ApplyRequest::new(Edit::Keep, api()), &opts(&dir), GC).unwrap();
    assert!(p.nothing && !p.changed);
    assert_eq!(p.scale_to, None, "an unchanged renew does not scale, even with a worker missing");
    let p = plan::plan(&current, &[0, 1], &put("/cache/size-max", json!("200M")), &opts(&dir), GC).unwrap();
    assert_eq!(p.unlink_before_rules, [dir.join("cache/top")], "a new cache size recreates the cache");
}

/// The kinds of the events published so far.
fn event_kinds(events: &mut tokio::sync::broadcast::Receiver<super::handle::Event>) -> Vec<&'static str> {
    std::iter::from_fn(|| events.try_recv().ok()).map(|e| e.kind.name()).collect()
}

/// Turns the health hold on (it applies from the next change on), with the calls it took cleared.
async fn with_hold(r: &mut Resolver) {
    r.apply(put("/management/health-hold", json!("100ms"))).await.unwrap();
    r.fake.take_calls();
}

#[tokio::test]
async fn a_canary_that_fails_its_probe_is_refused_and_the_rules_are_restored() {
    let mut r = resolver(2).await;
    let before = r.actor.current.etag.clone();
    r.fake.state().unhealthy = Some(("1220".into(), 0));
    let mut events = r.actor.events.subscribe();
    let both = ApplyRequest::new(
        Edit::Patch(json!([
            {"op": "add", "path": "/network/edns-buffer-size", "value": {"upstream": "1220B", "downstream": "1220B"}},
            {"op": "replace", "path": "/local-data/records", "value": "b.test. 300 A 192.0.2.2\n"},
        ])),
        api(),
    );
    let e = r.apply(both).await.unwrap_err();
    assert!(
        matches!(&e, ApplyError::Rejected { stage: super::apply::PROBE_STAGE, message, .. } if message.contains("no answer")),
        "{e:?}"
    );
    let calls = r.fake.take_calls();
    assert_eq!(calls[..4], ["policy-loader", "start 4", "probe 4", "stop 4"], "the canary probed, then stopped");
    assert_eq!(calls[4], "policy-loader", "the rules in force rebuilt: {calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("drain") || c == "stop 0" || c == "stop 1"), "{calls:?}");
    assert_eq!(r.actor.current.etag, before);
    assert_eq!(r.workers(), [0, 1], "the old workers run on, with the rules in force");
    assert_eq!((r.actor.metrics.canary_failures, r.actor.metrics.applied), (1, 0));
    let kinds = event_kinds(&mut events);
    assert!(kinds.contains(&"health-hold-failed") && !kinds.contains(&"canary-ready"), "{kinds:?}");
}

#[tokio::test]
async fn a_dry_run_canary_that_fails_its_probe_is_refused() {
    let mut r = resolver(1).await;
    r.fake.state().unhealthy = Some(("1220".into(), 0));
    let e = r.apply(ApplyRequest { dry_run: true, ..worker_change() }).await.unwrap_err();
    assert!(matches!(e, ApplyError::Rejected { stage: super::apply::PROBE_STAGE, .. }), "{e:?}");
    assert_eq!(r.fake.take_calls(), ["start 2", "probe 2", "stop 2"]);
    assert_eq!(r.workers(), [0]);
}

#[tokio::test]
async fn a_healthy_change_passes_the_hold_probing_every_worker() {
    let mut r = resolver(2).await;
    with_hold(&mut r).await;
    let mut events = r.actor.events.subscribe();
    r.apply(worker_change()).await.unwrap();
    let calls = r.fake.take_calls();
    let after_rollout = calls.iter().position(|c| c == "stop 1").unwrap() + 1;
    assert!(calls[after_rollout..].len() >= 2, "at least one round: {calls:?}");
    assert!(calls[after_rollout..].chunks(2).all(|round| round == ["probe 2", "probe 3"]), "{calls:?}");
    let kinds = event_kinds(&mut events);
    let hold = kinds.iter().position(|k| *k == "health-hold").expect("a hold");
    assert_eq!(kinds[hold + 1], "health-hold-passed", "{kinds:?}");
    assert_eq!(r.workers(), [2, 3]);
}

#[tokio::test]
async fn a_change_that_fails_the_hold_is_rolled_back_through_the_pipeline() {
    let mut r = resolver(2).await;
    with_hold(&mut r).await;
    let before = r.actor.current.clone();
    // The new workers answer their canary probe and the first round of the hold, then nothing.
    r.fake.state().unhealthy = Some(("1220".into(), 1));
    let mut events = r.actor.events.subscribe();
    let both = ApplyRequest::new(
        Edit::Patch(json!([
            {"op": "add", "path": "/network/edns-buffer-size", "value": {"upstream": "1220B", "downstream": "1220B"}},
            {"op": "replace", "path": "/local-data/records", "value": "b.test. 300 A 192.0.2.2\n"},
        ])),
        api(),
    );
    let e = r.apply(both).await.unwrap_err();
    let ApplyError::RolledBack { reason, lost_queries } = &e else { panic!("{e:?}") };
    assert!(reason.starts_with("worker 2: ") || reason.starts_with("worker 3: "), "{reason}");
    assert!(*lost_queries >= 3, "the failing probe's queries at least: {lost_queries}");
    assert_eq!(r.actor.current.etag, before.etag, "the previous configuration is in force");
    let calls = r.fake.take_calls();
    let failed = calls.iter().rposition(|c| c == "probe 3").unwrap();
    let rollback: Vec<&str> =
        calls[failed + 1..].iter().map(String::as_str).filter(|c| !c.starts_with("probe")).collect();
    assert_eq!(
        rollback,
        [
            "policy-loader",
            "start 4",
            "stop 4",
            "start 0",
            "listen 0",
            "start 1",
            "listen 1",
            "drain 2",
            "drain 3",
            "stop 2",
            "stop 3"
        ],
        "the previous rules, a probed canary, the previous workers, the failed ones drained: {calls:?}"
    );
    assert_eq!(r.workers(), [0, 1], "every worker runs the previous Lua and rules (checked by workers())");
    assert_eq!((r.actor.metrics.applied, r.actor.metrics.rolled_back), (1, 1));
    let kinds = event_kinds(&mut events);
    let failed = kinds.iter().position(|k| *k == "health-hold-failed").expect("the hold failed");
    assert!(kinds[failed..].contains(&"rolled-back"), "{kinds:?}");
}

#[tokio::test]
async fn a_rollback_that_fails_is_reported_once_and_not_retried() {
    let mut r = resolver(1).await;
    with_hold(&mut r).await;
    r.fake.state().unhealthy = Some(("1220".into(), 1));
    // The previous worker Lua (default EDNS buffer sizes) no longer starts.
    r.fake.state().refuse = Some("net.bufsize(1232, 1232)".into());
    let e = r.apply(worker_change()).await.unwrap_err();
    assert!(matches!(&e, ApplyError::Failed(m) if m.contains("rolling it back failed")), "{e:?}");
    let calls = r.fake.take_calls();
    assert_eq!(calls.iter().filter(|c| c.starts_with("start")).count(), 3, "canary, worker, one rollback canary");
    assert_eq!(r.actor.metrics.rolled_back, 1);
}
