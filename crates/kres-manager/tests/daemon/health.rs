//! Health-gated applies against real kresd: a canary that does not answer its DNS probe is refused before it
//! serves anyone, a change that stops answering during the health hold is rolled back automatically, a healthy
//! change passes the hold, and `health-hold: 0s` turns the hold off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kres_test_support::{kdig, wait_until};
use serde_json::Value;

use crate::api::{Api, JSON, query_loop};
use crate::fixture::{TEST_ADDR, TEST_NAME};

/// The newest generation in the history.
fn newest_generation(api: &Api) -> Value {
    let r = api.get("/v1/history");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["generations"][0].clone()
}

/// How many times the manager's log says the health hold passed.
fn holds_passed(api: &Api) -> usize {
    api.log().matches("health hold passed").count()
}

#[test]
fn kresd_answers_the_default_probe_name_in_every_configuration() {
    let api = Api::start(1);
    let answer = kdig("127.0.0.1", api.daemon.port, "localhost.", "A", &["+timeout=1", "+retry=0"]);
    assert_eq!(answer.rcode, "NOERROR", "{answer:?}");
    assert!(answer.addresses().contains(&"127.0.0.1"), "{answer:?}");
}

#[test]
fn a_query_dropping_change_is_refused_before_it_serves_and_loses_no_query() {
    let api = Api::start(2);
    let pids = api.daemon.kresd_pids();
    let etag = api.etag();
    let stop = Arc::new(AtomicBool::new(false));
    let port = api.daemon.port;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || query_loop(port, 200, stop))
    };
    let r = api.put_json("/v1/config/lua", r#"{"script": "policy.add(policy.all(policy.DROP))"}"#);
    stop.store(true, Ordering::Relaxed);
    let load = load.join().unwrap();
    assert_eq!(r.status, 422, "{}\n{}", r.body, api.log());
    // policy.DROP answers SERVFAIL.
    assert!(r.body.contains("health probe") && r.body.contains("SERVFAIL"), "says what failed: {}", r.body);
    assert!(load.sent >= 200);
    assert_eq!((load.lost, load.bad), (0, 0), "client queries lost or failed while the canary ran:\n{}", api.log());
    assert_eq!(api.daemon.kresd_pids(), pids, "the workers kept their PIDs");
    assert_eq!(api.etag(), etag, "the configuration in force is unchanged");
    let newest = newest_generation(&api);
    assert_eq!(newest["result"]["kind"], "refused", "{newest}");
    let metrics = api.get("/metrics/prometheus").body;
    assert!(metrics.contains("kres_manager_canary_failures_total 1\n"), "{metrics}");
    assert!(api.daemon.answers());
}

#[test]
fn a_change_that_stops_answering_during_the_hold_is_rolled_back() {
    let api = Api::start(2);
    let r = api.put_json("/v1/config/management/health-hold", r#""6s""#);
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    let etag = api.etag();
    let pids = api.daemon.kresd_pids();
    // New data and a worker Lua that answers its canary probe but stops answering any query two seconds after it
    // started (NO_ANSWER: no reply at all): the rollout passes, the hold catches it.
    let patch = format!(
        r#"[{{"op": "add", "path": "/lua", "value": {{"script": "event.after(2 * sec, function() policy.add(policy.all(policy.NO_ANSWER)) end)"}}}},
            {{"op": "replace", "path": "/local-data/records", "value": "{TEST_NAME}. 300 A 192.0.2.99\n"}}]"#
    );
    let r = api.call("PATCH", "/v1/config", &[("Content-Type", "application/json-patch+json")], &patch);
    assert_eq!(r.status, 422, "{}\n{}", r.body, api.log());
    assert!(r.body.contains("rolled back") && r.body.contains("probe queries lost"), "{}", r.body);
    assert_eq!(api.etag(), etag, "the previous configuration is in force again");
    let newest = newest_generation(&api);
    assert_eq!(newest["result"]["kind"], "rolled-back", "{newest}");
    let answered = wait_until(Duration::from_secs(5), Duration::from_millis(50), || api.daemon.answers());
    assert!(answered, "the old data is served again:\n{}", api.log());
    let answer = kdig("127.0.0.1", api.daemon.port, TEST_NAME, "A", &["+timeout=1", "+retry=0"]);
    assert_eq!(answer.addresses(), [TEST_ADDR], "the previous local data");
    let after = api.daemon.kresd_pids();
    assert_eq!(after.len(), 2, "{}", api.log());
    assert!(after.iter().all(|p| !pids.contains(p)), "the restored workers are new processes");
    let lost: u64 = api
        .log()
        .lines()
        .find_map(|l| l.split("; ").find_map(|p| p.strip_suffix(" probe queries were lost")?.parse().ok()))
        .unwrap_or_else(|| panic!("the log reports the lost probe queries:\n{}", api.log()));
    assert!(lost >= 3, "the failing probe's three tries went unanswered: {lost}");
    assert!(r.body.contains(&format!("({lost} probe queries lost)")), "the API reports the same number: {}", r.body);
    let metrics = api.get("/metrics/prometheus").body;
    assert!(metrics.contains("kres_manager_applies_total{result=\"rolled-back\"} 1"), "{metrics}");
}

#[test]
fn a_healthy_change_passes_the_hold() {
    let api = Api::start(2);
    assert_eq!(holds_passed(&api), 0);
    let r = api.put_json("/v1/config/options/minimize", "false");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(holds_passed(&api), 1, "{}", api.log());
    let line = api.log().lines().find(|l| l.contains("health hold passed")).unwrap().to_owned();
    assert!(!line.contains(": 0 probe queries"), "the workers were probed: {line}");
    assert!(line.contains(", 0 failed"), "{line}");
    assert_eq!(newest_generation(&api)["result"]["kind"], "applied");
    assert!(api.daemon.answers());
}

#[test]
fn a_zero_hold_skips_the_hold() {
    let api = Api::start(1);
    let r = api.put_json("/v1/config/management/health-hold", r#""0s""#);
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    let r = api.put_json("/v1/config/options/minimize", "false");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(holds_passed(&api), 0, "{}", api.log());
    assert!(!api.log().contains("health hold"), "{}", api.log());
    let r = api.put_json("/v1/config/management/health-hold", r#""300ms""#);
    assert_eq!(r.status, 200);
    let r = api.call("PUT", "/v1/config/options/minimize", &[JSON], "true");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(holds_passed(&api), 1, "with a hold again: {}", api.log());
}

#[test]
fn a_dry_run_probes_its_canary_too() {
    let api = Api::start(1);
    let pids = api.daemon.kresd_pids();
    let r = api.put_json("/v1/config/lua?dry-run=true", r#"{"script": "policy.add(policy.all(policy.DROP))"}"#);
    assert_eq!(r.status, 422, "{}\n{}", r.body, api.log());
    assert!(r.body.contains("health probe") && r.body.contains("SERVFAIL"), "{}", r.body);
    let r = api.put_json("/v1/config/options/minimize?dry-run=true", "false");
    assert_eq!(r.status, 200, "a healthy canary passes: {}\n{}", r.body, api.log());
    assert_eq!(r.json()["canary"], true, "{}", r.body);
    assert_eq!(api.daemon.kresd_pids(), pids, "a dry run changes no worker");
    assert!(!api.daemon.rundir().join("dry-run").exists(), "the scratch directory is removed");
    assert!(api.daemon.answers());
}
