//! The apply impact (`x-kres-apply`) of one field per class against real kresd: the schema says what a change of
//! the field takes, the API's answer reports it (also for a dry run), and the workers show it: `live` keeps every
//! worker PID and the effect is visible, `rules` keeps every PID and the new local data is answered, `restart`
//! replaces every PID, `immutable` is refused (409) naming the path with nothing changed.

use std::time::Duration;

use kres_test_support::{try_kdig, wait_until};
use serde_json::{Value, json};

use crate::api::Api;
use crate::fixture::children_named;

/// The `x-kres-apply` of a property in the schema the API serves (`path` as JSON-pointer tokens of the schema's
/// `properties`).
fn annotation(schema: &Value, path: &[&str]) -> String {
    let pointer: String = path.iter().map(|p| format!("/properties/{p}")).collect();
    let property = schema.pointer(&pointer).unwrap_or_else(|| panic!("no property {pointer} in the schema"));
    property[kres_datamodel::impact::KEYWORD].as_str().unwrap_or_else(|| panic!("{pointer}: no annotation")).to_owned()
}

/// The cache GC with another interval (the test configuration leaves the section out).
const GC: &str = r#"{"interval": "7s"}"#;

fn gc_cmdline(api: &Api) -> Option<(u32, String)> {
    let pid = children_named(api.daemon.process.id(), "kres-cache-gc").first().copied()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
}

#[test]
fn each_impact_class_does_what_the_schema_says() {
    let api = Api::start(2);
    let schema = api.get(kres_datamodel::api::routes::SCHEMA).json();
    let pids = api.daemon.kresd_pids();
    assert_eq!(pids.len(), 2);

    // live: the cache GC gets its new command line; the workers keep running.
    assert_eq!(annotation(&schema, &["cache", "garbage-collector", "interval"]), "live");
    let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || gc_cmdline(&api).is_some());
    assert!(up, "no cache GC runs:\n{}", api.log());
    let r = api.put_json("/v1/config/cache/garbage-collector?dry-run=true", GC);
    assert_eq!((r.status, r.json()["impact"].clone()), (200, json!("live")), "{}", r.body);
    let r = api.put_json("/v1/config/cache/garbage-collector", GC);
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(r.json()["impact"], json!("live"), "{}", r.body);
    let renewed = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        gc_cmdline(&api).is_some_and(|(_, argv)| argv.contains(" -d 7000 "))
    });
    assert!(renewed, "the GC did not get the new interval: {:?}\n{}", gc_cmdline(&api), api.log());
    assert_eq!(api.daemon.kresd_pids(), pids, "a live change restarted workers");

    // rules: new local data is answered by the same workers.
    assert_eq!(annotation(&schema, &["local-data", "addresses"]), "rules");
    let r = api.put_json("/v1/config/local-data/addresses?dry-run=true", r#"{"impact.example.": "192.0.2.78"}"#);
    assert_eq!((r.status, r.json()["impact"].clone()), (200, json!("rules")), "{}", r.body);
    let r = api.put_json("/v1/config/local-data/addresses", r#"{"impact.example.": "192.0.2.78"}"#);
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!((r.json()["impact"].clone(), r.json()["rules_reloaded"].clone()), (json!("rules"), json!(true)));
    assert_eq!(api.daemon.kresd_pids(), pids, "a rules change restarted workers");
    // Several queries: different source ports reach both workers.
    for _ in 0..8 {
        let a = try_kdig("127.0.0.1", api.daemon.port, "impact.example", "A", &["+timeout=2", "+retry=0"]);
        assert!(a.as_ref().is_ok_and(|a| a.addresses().contains(&"192.0.2.78")), "{a:?}");
    }

    // restart: every worker is replaced.
    assert_eq!(annotation(&schema, &["options", "minimize"]), "restart");
    let r = api.put_json("/v1/config/options/minimize?dry-run=true", "false");
    assert_eq!((r.status, r.json()["impact"].clone()), (200, json!("restart")), "{}", r.body);
    assert_eq!(api.daemon.kresd_pids(), pids, "a dry run restarted workers");
    let r = api.put_json("/v1/config/options/minimize", "false");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(r.json()["impact"], json!("restart"), "{}", r.body);
    let after = api.daemon.kresd_pids();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.iter().all(|p| !pids.contains(p)), "not every worker was replaced: {pids:?} -> {after:?}");
    assert!(api.daemon.answers());

    // immutable: refused with the path named, nothing changed.
    assert_eq!(annotation(&schema, &["management", "state-dir"]), "immutable");
    let etag = api.etag();
    let elsewhere = api.daemon.dir.join("elsewhere");
    let r = api.put_json("/v1/config/management/state-dir", &serde_json::to_string(&elsewhere).unwrap());
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("/management/state-dir"), "the refusal names the path: {}", r.body);
    assert_eq!(api.etag(), etag, "nothing was applied");
    assert_eq!(api.daemon.kresd_pids(), after);
    assert!(api.daemon.answers());
}
