//! The HTTP management API of a real `knot-resolver` with real kresd workers: config reads and writes with
//! ETags, refused changes that leave everything as it was, rules changes without restarts, metrics, cache
//! clearing, processes, readiness, reload, and a forced rolling restart under DNS load that loses no query.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kres_test_support::{free_port, try_kdig, wait_until};
use serde_json::{Value, json};

use crate::fixture::{Daemon, TEST_ADDR, TEST_NAME, alive, daemon};

pub(crate) const JSON: (&str, &str) = ("Content-Type", "application/json");

/// One HTTP response.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub(crate) fn etag(&self) -> String {
        self.header("etag").unwrap_or_else(|| panic!("no ETag (status {}): {}", self.status, self.body)).to_owned()
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A minimal HTTP/1.1 client over the API's unix socket: one request per connection.
pub(crate) fn http(socket: &Path, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("bad HTTP response: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    let chunked = headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_owned() };
    Reply { status, headers, body }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
    out
}

/// A daemon and its API.
pub(crate) struct Api {
    pub(crate) daemon: Daemon,
    pub(crate) socket: PathBuf,
}

impl Api {
    pub(crate) fn start(workers: usize) -> Api {
        Api::start_with(workers, "")
    }

    /// Starts a daemon whose configuration has `extra` YAML appended.
    pub(crate) fn start_with(workers: usize, extra: &str) -> Api {
        let mut daemon = daemon().workers(workers).extra(extra).spawn();
        daemon.wait_answering(Duration::from_secs(30));
        let socket = daemon.rundir().join("kres-api.sock");
        let api = Api { daemon, socket };
        let up = wait_until(Duration::from_secs(30), Duration::from_millis(20), || {
            UnixStream::connect(&api.socket).is_ok() && api.get("/healthz").status == 200
        });
        assert!(up, "the management API did not come up:\n{}", api.daemon.log());
        let all =
            wait_until(Duration::from_secs(10), Duration::from_millis(20), || api.daemon.kresd_pids().len() == workers);
        assert!(all, "expected {workers} workers, got {:?}", api.daemon.kresd_pids());
        api
    }

    pub(crate) fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        http(&self.socket, method, path, headers, body)
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], "")
    }

    pub(crate) fn put_json(&self, path: &str, body: &str) -> Reply {
        self.call("PUT", path, &[JSON], body)
    }

    pub(crate) fn etag(&self) -> String {
        self.get("/v1/config").etag()
    }

    pub(crate) fn log(&self) -> String {
        self.daemon.log()
    }
}

#[test]
fn config_get_with_etag_and_conditional_requests() {
    let api = Api::start(1);
    let r = api.get("/v1/config");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let config = r.json();
    assert_eq!(config["workers"], json!(1), "the document as written: {config}");
    assert!(config.get("hostname").is_none(), "GET serves what the user wrote, not the defaults");
    let etag = r.etag();
    assert_eq!(etag, format!("\"{}\"", kres_datamodel::etag::etag(&config)), "ETag of the served document");

    let r = api.call("GET", "/v1/config", &[("If-None-Match", &etag)], "");
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    let r = api.call("GET", "/v1/config", &[("If-Match", "\"AAAAAAAAAAAAAAAAAAAA\"")], "");
    assert_eq!(r.status, 412, "If-Match failing on GET: {}", r.body);
    let r = api.get("/v1/config/network/listen/0/interface");
    assert_eq!((r.status, r.json()), (200, json!(format!("127.0.0.1@{}", api.daemon.port))));
    assert_eq!(r.etag(), etag);
    let r = api.get("/v1/config/no-such-section");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.etag(), etag, "ETag on error responses too");
    let r = api.get("/");
    assert_eq!(r.json()["status"], json!("RUNNING"));
}

#[test]
fn put_workers_3_runs_three_kresd() {
    let api = Api::start(1);
    let before = api.etag();
    let r = api.put_json("/v1/config/workers", "3");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_ne!(r.etag(), before);
    assert_eq!(r.json()["changed"], json!(true));
    let pids = api.daemon.kresd_pids();
    assert_eq!(pids.len(), 3, "kresd PIDs after the change: {pids:?}\n{}", api.log());
    let listed: Vec<u64> =
        api.get("/processes/kresd").json().as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    let mut listed: Vec<u32> = listed.into_iter().map(|p| p as u32).collect();
    listed.sort_unstable();
    assert_eq!(listed, pids, "/processes/kresd lists the running workers");
    assert_eq!(api.get("/v1/config/workers").json(), json!(3));
    assert!(api.log().contains("Config applied successfully to all workers"));
    assert!(api.daemon.answers());
}

#[test]
fn worker_count_change_without_defer_keeps_running_workers() {
    // With defer off the worker Lua does not depend on the count: the running workers stay, one is added.
    let api = Api::start_with(2, "defer:\n  enable: false\n");
    let before = api.daemon.kresd_pids();
    let r = api.put_json("/v1/config/workers", "3");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    let after = api.daemon.kresd_pids();
    assert_eq!(after.len(), 3, "kresd PIDs after the change: {after:?}\n{}", api.log());
    assert!(before.iter().all(|p| after.contains(p)), "running workers were restarted: {before:?} -> {after:?}");
    let r = api.put_json("/v1/config/workers", "1");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(api.daemon.kresd_pids().len(), 1, "{}", api.log());
    assert!(api.daemon.answers());
}

/// A fault real kresd cannot produce on demand: the canary starts, the next new worker does not. A wrapper
/// around the real kresd fails its N-th start (counted in a file); everything else is the real kresd.
#[test]
fn half_applied_rolling_restart_is_rolled_back() {
    let scratch = kres_test_support::TempDir::new("fake-kresd");
    let wrapper = scratch.path().join("kresd");
    let counter = scratch.path().join("starts");
    let fail_at = scratch.path().join("fail-at");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nn=$(( $(cat {c} 2>/dev/null || echo 0) + 1 ))\necho $n > {c}\n\
             if [ \"$n\" = \"$(cat {f} 2>/dev/null)\" ]; then echo 'injected start failure' >&2; exit 1; fi\n\
             exec /usr/sbin/kresd \"$@\"\n",
            c = counter.display(),
            f = fail_at.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("755").arg(&wrapper).status().unwrap();
    let mut daemon = daemon().workers(2).env("KRES_KRESD_EXECUTABLE", &wrapper).spawn();
    daemon.wait_answering(Duration::from_secs(30));
    let socket = daemon.rundir().join("kres-api.sock");
    let api = Api { daemon, socket };
    assert!(wait_until(Duration::from_secs(10), Duration::from_millis(20), || api.daemon.kresd_pids().len() == 2));
    let etag = api.etag();
    // Starts so far: policy-loader + 2 workers. An option change restarts the workers: the canary is start 4,
    // the first replacement start 5, which fails.
    let starts: u32 = std::fs::read_to_string(&counter).unwrap().trim().parse().unwrap();
    std::fs::write(&fail_at, (starts + 2).to_string()).unwrap();
    let r = api.put_json("/v1/config/options/minimize", "false");
    assert_eq!(r.status, 500, "{}\n{}", r.body, api.log());
    assert!(r.body.contains("injected start failure"), "the failing start's output is reported:\n{}", r.body);
    assert_eq!(api.etag(), etag, "the configuration in force did not change");
    let ok = wait_until(Duration::from_secs(10), Duration::from_millis(20), || api.daemon.kresd_pids().len() == 2);
    assert!(ok, "the old worker count is restored: {:?}\n{}", api.daemon.kresd_pids(), api.log());
    assert!(api.daemon.answers());
    assert_eq!(api.get("/v1/config/options/minimize").status, 404, "the change is not in the stored config");
}

#[test]
fn change_that_breaks_kresd_is_422_and_changes_nothing() {
    let api = Api::start(2);
    let pids = api.daemon.kresd_pids();
    let etag = api.etag();
    let r = api.put_json("/v1/config/lua", r#"{"script": "error('boom')"}"#);
    assert_eq!(r.status, 422, "{}\n{}", r.body, api.log());
    assert!(r.body.contains("boom"), "kresd's error is in the body: {}", r.body);
    assert_eq!(r.etag(), etag);
    assert_eq!(api.etag(), etag, "the stored configuration is unchanged");
    assert_eq!(api.daemon.kresd_pids(), pids, "the workers are unchanged");
    assert!(api.get("/v1/config/lua").status == 404);
    assert!(api.daemon.answers());
    let metrics = api.get("/metrics/prometheus").body;
    assert!(metrics.contains("kres_manager_canary_failures_total 1\n"), "{metrics}");
}

#[test]
fn patch_at_a_list_index() {
    let api = Api::start(1);
    let port2 = free_port();
    let patch =
        format!(r#"[{{"op": "add", "path": "/network/listen/0", "value": {{"interface": "127.0.0.1@{port2}"}}}}]"#);
    let r = api.call("PATCH", "/v1/config", &[JSON], &patch);
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(api.get("/v1/config/network/listen/0/interface").json(), json!(format!("127.0.0.1@{port2}")));
    assert_eq!(
        api.get("/v1/config/network/listen/1/interface").json(),
        json!(format!("127.0.0.1@{}", api.daemon.port))
    );
    let answers = |port| {
        try_kdig("127.0.0.1", port, TEST_NAME, "A", &["+timeout=1", "+retry=1"])
            .is_ok_and(|a| a.addresses().contains(&TEST_ADDR))
    };
    assert!(answers(port2), "the new listener answers");
    assert!(answers(api.daemon.port), "the old listener still answers");
    // A replace at an index and a failing test: the whole patch is refused.
    let bad = r#"[{"op": "replace", "path": "/network/listen/1/interface", "value": "127.0.0.1@1"},
                  {"op": "test", "path": "/workers", "value": 7}]"#;
    let r = api.call("PATCH", "/v1/config", &[JSON], bad);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(answers(api.daemon.port));
}

#[test]
fn stale_if_match_is_412_and_concurrent_writers_cannot_both_win() {
    let api = Api::start(1);
    let stale = api.etag();
    let r = api.call("PUT", "/v1/config/workers", &[JSON, ("If-Match", &stale)], "2");
    assert_eq!(r.status, 200, "{}", r.body);
    let pids = api.daemon.kresd_pids();
    assert_eq!(pids.len(), 2);
    let current = api.etag();
    let r = api.call("PUT", "/v1/config/workers", &[JSON, ("If-Match", &stale)], "3");
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(r.etag(), current);
    assert_eq!(api.etag(), current, "nothing applied");
    assert_eq!(api.daemon.kresd_pids(), pids, "nothing restarted");

    // Two writers that both read `current` and send conflicting changes: exactly one wins.
    let socket = Arc::new(api.socket.clone());
    let writers: Vec<_> = ["debug", "notice"]
        .into_iter()
        .map(|level| {
            let (socket, etag) = (socket.clone(), current.clone());
            std::thread::spawn(move || {
                let body = format!("\"{level}\"");
                (level, http(&socket, "PUT", "/v1/config/logging/level", &[JSON, ("If-Match", &etag)], &body))
            })
        })
        .collect();
    let results: Vec<(&str, Reply)> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut statuses: Vec<u16> = results.iter().map(|(_, r)| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412], "{:?}", results.iter().map(|(_, r)| &r.body).collect::<Vec<_>>());
    let winner = results.iter().find(|(_, r)| r.status == 200).unwrap();
    assert_eq!(api.get("/v1/config/logging/level").json(), json!(winner.0));
    assert_eq!(api.etag(), winner.1.etag());
}

#[test]
fn local_data_change_is_served_without_restarting_workers() {
    let api = Api::start(2);
    let pids = api.daemon.kresd_pids();
    let records = format!("{TEST_NAME}. 300 A {TEST_ADDR}\nnew.example. 300 A 192.0.2.77\n");
    let r = api.put_json("/v1/config/local-data/records", &serde_json::to_string(&records).unwrap());
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    let outcome = r.json();
    assert_eq!(outcome["restarted_workers"], json!([]), "{outcome}");
    assert_eq!(outcome["rules_reloaded"], json!(true), "{outcome}");
    assert_eq!(api.daemon.kresd_pids(), pids, "no worker was restarted");
    // Every worker serves the new data at once (several source ports reach both workers).
    for _ in 0..8 {
        let a = try_kdig("127.0.0.1", api.daemon.port, "new.example", "A", &["+timeout=1", "+retry=0"]);
        assert!(a.as_ref().is_ok_and(|a| a.addresses().contains(&"192.0.2.77")), "{a:?}");
    }
    assert!(api.daemon.answers());
}

#[test]
fn metrics_json_and_prometheus_agree_and_pass_promtool() {
    let api = Api::start(2);
    for _ in 0..5 {
        assert!(api.daemon.answers());
    }
    let r = api.get("/metrics");
    assert_eq!((r.status, r.header("location")), (301, Some("/metrics/json")));
    let mut json = api.get("/metrics/json").json();
    let manager = json.as_object_mut().unwrap().remove("manager").expect("the manager's own metrics");
    assert!(manager["generation"].as_u64().unwrap() >= 1, "{manager}");
    assert_eq!(manager["applies"]["applied"], 0, "{manager}");
    assert_eq!(manager["workers"], 2, "{manager}");
    let workers = json.as_object().unwrap();
    assert_eq!(workers.len(), 2, "{json}");
    let mut leaves = 0;
    for (id, stats) in workers {
        assert!(id.starts_with("kresd:kresd"), "{id}");
        assert!(stats["answer"]["total"].is_number(), "{id}: {stats}");
        leaves += kres_manager::metrics::leaf_count(stats);
    }
    let r = api.get("/metrics/prometheus");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = r.body;
    let samples = text.lines().filter(|l| l.starts_with("resolver")).count();
    assert_eq!(samples, leaves + 2 * workers.len(), "JSON leaves + 2 per worker:\n{text}");
    for family in ["resolver_request_total", "resolver_response_latency", "resolver_metrics_loaded"] {
        assert_eq!(text.matches(&format!("# TYPE {family} ")).count(), 1, "{family}");
        assert_eq!(text.matches(&format!("# HELP {family} ")).count(), 1, "{family}");
    }
    for id in workers.keys() {
        assert!(text.contains(&format!("resolver_metrics_loaded{{instance_id=\"{id}\"}} 1\n")), "{text}");
    }
    assert!(text.contains("kres_manager_config_generation "));
    assert!(text.contains("resolver_response_latency_bucket{instance_id=\"kresd:kresd0\",le=\"+Inf\"}"));

    // Not a timing assertion on a shared machine: report the scrape times (2 workers).
    for path in ["/metrics/json", "/metrics/prometheus"] {
        let started = Instant::now();
        for _ in 0..50 {
            assert_eq!(api.get(path).status, 200);
        }
        eprintln!("{path}: {:?} per scrape (2 workers, new connection each)", started.elapsed() / 50);
    }

    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        eprintln!("\n!!!!! /usr/bin/promtool is missing: the Prometheus output was NOT checked with promtool !!!!!\n");
        return;
    }
    let file = api.daemon.dir.path().join("metrics.prom");
    std::fs::write(&file, &text).unwrap();
    let out =
        Command::new(promtool).args(["check", "metrics"]).stdin(std::fs::File::open(&file).unwrap()).output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics failed ({}):\n{}{}\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cache_clear_of_one_name() {
    let api = Api::start(2);
    let r = api.call("POST", "/cache/clear", &[JSON], &format!(r#"{{"name": "{TEST_NAME}", "exact-name": true}}"#));
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert!(r.json()["count"].is_number(), "{}", r.body);
    let r =
        api.call("POST", "/cache/clear", &[JSON], r#"{"name": "example.com.", "exact-name": true, "rr-type": "AAAA"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call(
        "POST",
        "/cache/clear",
        &[("Content-Type", "application/yaml")],
        "name: example.com\nchunk-size: 10\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.call("POST", "/cache/clear", &[JSON], r#"{"name": "example.com", "rr-type": "A"}"#);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("exact-name: true"), "{}", r.body);
    let r = api.call("POST", "/cache/clear", &[JSON], r#"{"name": "bad..name", "chunk-size": 0}"#);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("[/name]") && r.body.contains("[/chunk-size]"), "{}", r.body);
    assert!(api.daemon.answers());
}

#[test]
fn processes_health_and_readiness() {
    let api = Api::start(2);
    let pids = api.daemon.kresd_pids();
    let all = api.get("/processes").json();
    let kresd: Vec<u32> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "KRESD")
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    let mut kresd = kresd;
    kresd.sort_unstable();
    assert_eq!(kresd, pids, "{all}");
    assert!(all.as_array().unwrap().iter().all(|p| p["status"] == "RUNNING"));
    let gc = api.get("/processes/gc").json();
    if let Some(p) = gc.as_array().unwrap().first() {
        assert!(alive(p["pid"].as_u64().unwrap() as u32), "GC PID {p}");
    }
    assert_eq!(api.get("/processes/bogus").status, 400);
    assert_eq!(api.get("/healthz").status, 200);
    let r = api.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ready"], json!(true));
    assert_eq!(r.json()["dns"]["rcode"], json!("NOERROR"), "the DNS probe: {}", r.body);

    // A stopped worker does not answer its probe: 503 naming it.
    let stopped = pids[0];
    let signal = |s: &str| Command::new("kill").arg(format!("-{s}")).arg(stopped.to_string()).status().unwrap();
    assert!(signal("STOP").success());
    let r = api.get("/readyz");
    assert!(signal("CONT").success());
    assert_eq!(r.status, 503, "{}", r.body);
    let body = r.json();
    let reasons: Vec<&Value> = body["workers"].as_array().unwrap().iter().filter(|w| w["ready"] == false).collect();
    assert_eq!(reasons.len(), 1, "{}", r.body);
    assert_eq!(reasons[0]["pid"], json!(stopped));
    assert!(reasons[0]["reason"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(wait_until(Duration::from_secs(5), Duration::from_millis(50), || api.get("/readyz").status == 200));
}

#[test]
fn forbidden_and_invalid_changes_are_4xx_with_reasons() {
    let api = Api::start(1);
    let pids = api.daemon.kresd_pids();
    let etag = api.etag();
    let r = api.put_json("/v1/config/management", r#"{"interface": "127.0.0.1@5999"}"#);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("/management"), "{}", r.body);
    let r = api.put_json("/v1/config/rundir", &serde_json::to_string(&api.daemon.dir.path()).unwrap());
    assert_eq!(r.status, 409, "{}", r.body);

    let r = api.call(
        "PATCH",
        "/v1/config",
        &[JSON],
        r#"[{"op": "replace", "path": "/workers", "value": "many"},
        {"op": "add", "path": "/cache/size-max", "value": "lots"}]"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("/workers") && r.body.contains("/cache/size-max"), "every error with its path: {}", r.body);
    for (body, ctype, status) in
        [("{", "application/json", 400), ("3", "text/plain", 415), ("", "application/json", 400)]
    {
        let r = api.call("PUT", "/v1/config/workers", &[("Content-Type", ctype)], body);
        assert_eq!(r.status, status, "{body:?} as {ctype}: {}", r.body);
    }
    let r = api.call("DELETE", "/v1/config/no/such/thing", &[], "");
    assert_eq!(r.status, 404, "{}", r.body);

    // Dry run: validation and the canary verdict, nothing applied.
    let r = api.put_json("/v1/config/logging/level?dry-run=true", "\"debug\"");
    assert_eq!(r.status, 200, "{}", r.body);
    let outcome = r.json();
    assert_eq!((outcome["dry_run"].clone(), outcome["canary"].clone()), (json!(true), json!(true)), "{outcome}");
    let r = api.put_json("/v1/config/lua?dry-run=true", r#"{"script": "error('boom')"}"#);
    assert_eq!(r.status, 422, "a dry run reports the canary's refusal: {}", r.body);

    assert_eq!(api.etag(), etag, "nothing was applied");
    assert_eq!(api.daemon.kresd_pids(), pids);
    assert!(api.daemon.answers());
}

#[test]
fn reload_and_renew_report_their_outcome() {
    let api = Api::start(1);
    let file = api.daemon.dir.path().join("config.yaml");
    let good = std::fs::read_to_string(&file).unwrap();
    let pids = api.daemon.kresd_pids();
    let r = api.call("POST", "/renew", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.daemon.kresd_pids(), pids, "an unchanged renew restarts nothing");
    std::fs::write(&file, good.replace("workers: 1", "workers: lots")).unwrap();
    let r = api.call("POST", "/reload", &[], "");
    assert_eq!(r.status, 400, "a failed reload is reported: {}", r.body);
    assert!(r.body.contains("/workers"), "{}", r.body);
    assert_eq!(api.daemon.kresd_pids(), pids);
    std::fs::write(&file, good.replace("workers: 1", "workers: 2")).unwrap();
    let r = api.call("POST", "/reload", &[], "");
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(api.daemon.kresd_pids().len(), 2);
    assert_eq!(api.get("/v1/config/workers").json(), json!(2));
}

#[test]
fn stop_through_the_api() {
    let mut api = Api::start(1);
    let workers = api.daemon.kresd_pids();
    let r = api.call("POST", "/stop", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let ok = wait_until(Duration::from_secs(20), Duration::from_millis(20), || {
        matches!(api.daemon.process.try_wait(), Ok(Some(_)))
    });
    assert!(ok, "knot-resolver did not stop:\n{}", api.log());
    assert!(api.daemon.process.try_wait().unwrap().unwrap().success());
    assert!(workers.iter().all(|p| !alive(*p)));
    assert!(!api.socket.exists(), "the API socket is removed");
}

#[test]
fn schema_and_its_ui() {
    let api = Api::start(1);
    let r = api.get("/schema");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("\n    \"$schema\""), "indent 4");
    assert_eq!(r.json(), kres_datamodel::json_schema());
    let r = api.get("/schema/ui");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("<!DOCTYPE html>") && r.body.contains("\"workers\""));
    assert!(!r.body.contains("<script src") && !r.body.contains("json-schema.app"));

    // Rendered by a real browser engine, offline: the script must have built the tree.
    // scripts/sid-root.sh installs chromium-headless-shell into the root.
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium is missing in the sid root (scripts/sid-root.sh build installs chromium-headless-shell)");
    let page = api.daemon.dir.path().join("schema-ui.html");
    std::fs::write(&page, &r.body).unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    for section in ["workers", "network", "cache", "local-data"] {
        assert!(dom.contains(&format!("<span class=\"name\">{section}</span>")), "{section} not rendered:\n{dom}");
    }
}

// ---- DNS under load ----

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Whether `reply` answers query `id` with NOERROR and at least one record.
fn good_answer(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && reply[0..2] == id.to_be_bytes()
        && reply[2] & 0x80 != 0
        && reply[3] & 0x0f == 0
        && u16::from_be_bytes([reply[6], reply[7]]) > 0
}

pub(crate) struct LoadResult {
    pub(crate) sent: u64,
    pub(crate) lost: u64,
    pub(crate) bad: u64,
}

/// Sends queries one at a time from several sockets (so they spread over the workers) until `stop` is set and
/// at least `min` were sent; a query without an answer within 2 s is lost.
pub(crate) fn query_loop(port: u16, min: u64, stop: Arc<AtomicBool>) -> LoadResult {
    let sockets: Vec<UdpSocket> = (0..8)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s
        })
        .collect();
    let (mut sent, mut lost, mut bad) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut buf = [0u8; 1500];
    while (sent < min || !stop.load(Ordering::Relaxed)) && Instant::now() < deadline {
        let socket = &sockets[sent as usize % sockets.len()];
        let id = (sent % 65_536) as u16;
        socket.send(&dns_query(id, TEST_NAME)).unwrap();
        sent += 1;
        loop {
            match socket.recv(&mut buf) {
                Ok(n) if buf[..2] == id.to_be_bytes() => {
                    if !good_answer(&buf[..n], id) {
                        bad += 1;
                    }
                    break;
                }
                Ok(_) => continue, // a late answer to an earlier query
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    LoadResult { sent, lost, bad }
}

#[test]
fn forced_reload_under_query_load_loses_no_query() {
    let api = Api::start(2);
    let before = api.daemon.kresd_pids();
    let stop = Arc::new(AtomicBool::new(false));
    let port = api.daemon.port;
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || query_loop(port, 2_000, stop))
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let r = api.call("POST", "/reload/force", &[], "");
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let result = load.join().unwrap();
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    let after = api.daemon.kresd_pids();
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|p| !before.contains(p)), "every worker was replaced: {before:?} -> {after:?}");
    eprintln!(
        "forced reload took {took:?}; {} queries sent, {} lost, {} bad answers",
        result.sent, result.lost, result.bad
    );
    assert!(result.sent >= 2_000);
    assert_eq!(
        result.lost,
        0,
        "queries lost during the rolling restart (old workers are drained first):\n{}",
        api.log()
    );
    assert_eq!(result.bad, 0, "queries answered with an error during the rolling restart");
}
