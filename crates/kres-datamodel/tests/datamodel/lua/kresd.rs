//! Real kresd 6.5 runs the rendered Lua (inside the sid root: `cargo xtask test -p kres-datamodel`).
//!
//! Every test rewrites a config for a sandbox (rundir and cache in a temp dir, every listener on 127.0.0.1 and a
//! free port, a small cache, logs on stderr, an offline prelude), renders it, runs the policy-loader the way the
//! manager does (`kresd -c policy-loader.conf -c - -n` in the rundir: exit 0, `ruledb/` created), starts worker 0
//! (`SYSTEMD_INSTANCE=0 kresd -c kresd0.conf -n`: READY=1, control socket `control/0`) and queries it with kdig.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kres_datamodel::KresConfig;
use kres_datamodel::lua::{RenderTarget, render};
use kres_datamodel::node::Node;
use kres_datamodel::parse::parse_document;
use kres_datamodel::{SystemFacts, ValidationOptions, validate};
use kres_test_support::{DigAnswer, Knotd, Kresd, TempDir, Zone, free_port, require_sid_root, try_kdig};
use serde_json::{Value, json};

use super::{config_name, hostile};
use crate::data::{examples_dir, feature_configs, feature_dir, valid_examples};

/// The feature configs kresd cannot run here: modules missing from the sid root's kresd (dnstap, http for
/// doh-legacy) or files and interfaces that do not exist (TLS certificates, eth0).
const GOLDEN_ONLY: &[&str] = &["logging-dnstap", "network-interfaces"];

/// Keeps kresd on loopback: no priming, time-skew/jump probes or root trust anchor. Like the test-support
/// prelude, but tolerant of modules the rendered config unloaded already (a second unload is an error).
const OFFLINE_PRELUDE: &str = "\
for _, m in ipairs({'priming', 'detect_time_skew', 'detect_time_jump'}) do pcall(modules.unload, m) end
trust_anchors.remove('.')
";

/// In forward configs this address stands for the knotd of the test.
const KNOTD_PLACEHOLDER: &str = "127.0.0.1@5399";

/// One listener of the sandboxed config.
#[derive(Debug, Clone)]
struct Listener {
    kind: String,
    port: u16,
}

/// A policy-loader run and a running worker 0 on a sandboxed config.
struct Deployment {
    // Field order = drop order: the worker goes before its directory.
    worker: Kresd,
    listeners: Vec<Listener>,
    rundir: PathBuf,
    config: KresConfig,
    _dir: TempDir,
}

impl Deployment {
    /// The port of the first plain-DNS listener.
    fn port(&self) -> u16 {
        self.listeners.iter().find(|l| l.kind == "dns").map(|l| l.port).expect("a dns listener")
    }

    /// A query from 127.0.0.1 (or the `-b` source in `args`); panics when kresd does not answer.
    #[track_caller]
    fn query(&self, name: &str, rtype: &str, args: &[&str]) -> DigAnswer {
        match try_kdig("127.0.0.1", self.port(), name, rtype, args) {
            Ok(answer) => answer,
            Err(e) => panic!("{e}\nkresd's log:\n{}", self.worker.stderr()),
        }
    }

    #[track_caller]
    fn expect_addresses(&self, name: &str, rtype: &str, args: &[&str], expected: &[&str]) {
        let answer = self.query(name, rtype, args);
        assert_eq!(answer.rcode, "NOERROR", "{name} {rtype} {args:?}:\n{}", answer.raw);
        let mut addresses = answer.addresses();
        addresses.sort_unstable();
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(addresses, expected, "{name} {rtype} {args:?}:\n{}", answer.raw);
    }

    #[track_caller]
    fn expect_rcode(&self, name: &str, rtype: &str, args: &[&str], rcode: &str) -> DigAnswer {
        let answer = self.query(name, rtype, args);
        assert_eq!(answer.rcode, rcode, "{name} {rtype} {args:?}:\n{}", answer.raw);
        answer
    }

    /// Runs `command` on worker 0's control socket in JSON mode and returns the reply.
    fn control(&self, command: &str) -> String {
        control(&self.rundir.join("control/0"), command)
    }
}

/// One command over a kresd control socket, `__json` mode (4-byte big-endian length, then the reply).
fn control(socket: &Path, command: &str) -> String {
    let mut stream =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut prompt = [0u8; 2];
    stream.read_exact(&mut prompt).expect("control socket prompt");
    assert_eq!(&prompt, b"> ");
    stream.write_all(format!("__json\n{command}\n").as_bytes()).expect("send command");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("reply length");
    let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).expect("reply");
    String::from_utf8_lossy(&reply).into_owned()
}

/// Rewrites a parsed config for the sandbox in `dir` (see the module docs). Returns the listeners.
fn sandbox(doc: &mut Value, dir: &Path) -> Vec<Listener> {
    let run = dir.join("run");
    let cache = dir.join("cache");
    std::fs::create_dir_all(&run).expect("rundir");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let obj = doc.as_object_mut().expect("the config is a mapping");
    obj.insert("rundir".into(), json!(run.display().to_string()));
    let cache_obj = obj.entry("cache").or_insert_with(|| json!({}));
    cache_obj["storage"] = json!(cache.display().to_string());
    cache_obj["size-max"] = json!("10M");
    obj.entry("logging").or_insert_with(|| json!({}))["target"] = json!("stderr");
    obj.insert("management".into(), json!({"unix-socket": dir.join("api.sock").display().to_string()}));

    let network = obj.entry("network").or_insert_with(|| json!({}));
    let items = network.get("listen").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![json!({})]);
    let mut listeners = Vec::new();
    let mut listen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("dns").to_owned();
        if item.get("unix-socket").is_some() {
            let socket = dir.join(format!("listen{i}.sock"));
            listen.push(json!({"unix-socket": socket.display().to_string(), "kind": kind}));
        } else {
            let port = free_port();
            listen.push(json!({"interface": format!("127.0.0.1@{port}"), "kind": kind}));
            listeners.push(Listener { kind, port });
        }
    }
    if !listeners.iter().any(|l| l.kind == "dns") {
        let port = free_port();
        listen.push(json!({"interface": format!("127.0.0.1@{port}")}));
        listeners.push(Listener { kind: "dns".into(), port });
    }
    network["listen"] = Value::Array(listen);

    // Stay on loopback: no priming, time-skew/jump probes or root trust anchor (unless the config brings its own
    // Lua file, which then has to do that itself).
    let lua = obj.entry("lua").or_insert_with(|| json!({}));
    if lua.get("script-file").is_none() && lua.get("script-only") != Some(&json!(true)) {
        let script = lua.get("script").and_then(Value::as_str).unwrap_or("");
        lua["script"] = json!(format!("{script}\n{OFFLINE_PRELUDE}"));
    }
    listeners
}

/// Sandboxes, renders and runs `text` (YAML); relative paths resolve against `resolve_root`.
#[track_caller]
fn deploy(text: &str, source: &str, resolve_root: &Path) -> Deployment {
    require_sid_root();
    let dir = TempDir::new("lua");
    let node = parse_document(text, source).unwrap_or_else(|e| panic!("{source} does not parse: {e:?}"));
    let mut doc = node.to_json();
    let listeners = sandbox(&mut doc, dir.path());
    deploy_json(&doc, source, resolve_root, dir, listeners)
}

#[track_caller]
fn deploy_json(doc: &Value, source: &str, resolve_root: &Path, dir: TempDir, listeners: Vec<Listener>) -> Deployment {
    let opts = ValidationOptions::new(false, resolve_root, SystemFacts::fixed());
    let config =
        validate(&Node::from_json(doc), &opts).unwrap_or_else(|e| panic!("{source} (sandboxed) is not valid: {e}"));
    let rundir = config.rundir.path().to_path_buf();
    let dns_port = listeners.iter().find(|l| l.kind == "dns").map_or(0, |l| l.port);
    let placeholders = |lua: String| {
        lua.replace("@DNS_PORT@", &dns_port.to_string()).replace("@RUNDIR@", &rundir.display().to_string())
    };
    let loader = placeholders(render(&config, RenderTarget::PolicyLoader).expect("policy-loader renders"));
    let worker = placeholders(render(&config, RenderTarget::Worker).expect("worker renders"));

    run_policy_loader(&rundir, &loader, source);
    let worker = Kresd::builder()
        .rundir(&rundir)
        .config("kresd0.conf", &worker)
        .env("SYSTEMD_INSTANCE", "0")
        .start()
        .unwrap_or_else(|e| panic!("{source}: the worker did not start: {e}\n--- kresd0.conf:\n{worker}"));
    Deployment { worker, listeners, rundir, config, _dir: dir }
}

/// Runs the policy-loader to completion; it must exit 0 and leave `ruledb/` behind.
#[track_caller]
fn run_policy_loader(rundir: &Path, lua: &str, source: &str) {
    let mut loader = Kresd::builder()
        .rundir(rundir)
        .config("policy-loader.conf", lua)
        .no_postconfig()
        .start()
        .unwrap_or_else(|e| panic!("{source}: the policy-loader failed: {e}\n--- policy-loader.conf:\n{lua}"));
    let status = loader.process().wait_timeout(Duration::from_secs(30)).expect("wait for the policy-loader");
    match status {
        Some(status) if status.success() => {}
        other => panic!("{source}: the policy-loader did not exit 0 ({other:?}):\n{}", loader.stderr()),
    }
    assert!(rundir.join("ruledb/data.mdb").is_file(), "{source}: no ruledb after the policy-loader");
}

/// Deploys an example from `etc/config/examples/` after textual `replacements`; relative paths (its
/// `blocklist.rpz`) resolve against that directory.
#[track_caller]
fn deploy_example(file: &str, replacements: &[(&str, &str)]) -> Deployment {
    let dir = examples_dir();
    let path = dir.join(file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replacements {
        assert!(text.contains(from), "{file} has no {from:?} to replace");
        text = text.replace(from, to);
    }
    deploy(&text, file, &dir)
}

/// Deploys a feature config from `tests/golden/configs/`, after textual `replacements`.
#[track_caller]
fn deploy_feature(name: &str, replacements: &[(&str, &str)]) -> Deployment {
    let path = feature_dir().join(format!("{name}.yaml"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    deploy(&text, &format!("{name}.yaml"), &feature_dir())
}

fn assert_control_socket(d: &Deployment) {
    assert!(d.rundir.join("control/0").exists(), "no control socket control/0:\n{}", d.worker.stderr());
    assert_eq!(d.control("worker.id"), "\"0\"");
}

// ----- the example configurations -------------------------------------------------------------------------------

/// Each example has its own test below; this one notices a new example file.
#[test]
fn every_example_has_a_kresd_test() {
    let tested = ["container", "defer", "forward", "home", "isp", "local-data", "office", "rate-limiting"];
    let names: Vec<String> = valid_examples().iter().map(|p| config_name(p)).collect();
    assert_eq!(names, tested, "add a kresd test for the new example");
}

#[test]
fn example_container() {
    let d = deploy_example("config.container.yaml", &[]);
    assert_control_socket(&d);
    let kinds: Vec<&str> = d.listeners.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["dns", "dot", "doh2"]);
    assert_eq!(d.control("log_level()"), "\"info\"");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
    // DNS over TLS answers on its own port (kresd made an ephemeral certificate).
    let dot = d.listeners[1].port;
    let answer = try_kdig("127.0.0.1", dot, "localhost", "A", &["+tls"]).expect("DoT answer");
    assert_eq!(answer.addresses(), ["127.0.0.1"], "{}", answer.raw);
}

#[test]
fn example_defer() {
    let d = deploy_example("config.defer.yaml", &[]);
    assert_control_socket(&d);
    assert!(d.rundir.join("defer").is_file(), "defer state in the rundir");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn example_forward() {
    // The plain-DNS server of the reverse zone is a knotd; the DNS-over-TLS upstreams of '.' are not reachable.
    let knot = Knotd::start(&[Zone::new("100.51.198.in-addr.arpa", "2 PTR ns.example.com.")]).expect("knotd starts");
    let d = deploy_example("config.forward.yaml", &[("198.51.100.2@5353", &knot.addr())]);
    assert_control_socket(&d);
    let ptr = d.expect_rcode("2.100.51.198.in-addr.arpa", "PTR", &[], "NOERROR");
    assert_eq!(ptr.rdata("PTR"), ["ns.example.com."], "{}", ptr.raw);
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn example_home() {
    let d = deploy_example("config.home.yaml", &[]);
    assert_control_socket(&d);
    let kinds: Vec<&str> = d.listeners.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["dns", "dot"]);
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
    let modules = d.control("modules.list()");
    assert!(modules.contains("prefetch"), "prefetch is loaded: {modules}");
    assert!(modules.contains("predict"), "prediction is enabled: {modules}");
}

#[test]
fn example_isp() {
    // 127.0.0.2 joins the customer ranges, so that a loopback client is served; 127.0.0.1 stays refused.
    let customers = "[192.0.2.0/24, \"2001:db8::/32\"]";
    let d = deploy_example("config.isp.yaml", &[(customers, "[192.0.2.0/24, \"2001:db8::/32\", 127.0.0.2/32]")]);
    assert_control_socket(&d);
    assert_ne!(d.control("stats"), "null", "metrics: always loads stats at start");
    d.expect_rcode("localhost", "A", &[], "REFUSED");
    d.expect_rcode("blocked.example", "A", &[], "REFUSED");
    d.expect_addresses("localhost", "A", &["-b", "127.0.0.2"], &["127.0.0.1"]);
    // The RPZ applies to every served client.
    d.expect_rcode("blocked.example", "A", &["-b", "127.0.0.2"], "NXDOMAIN");
    d.expect_rcode("www.blocked.example", "A", &["-b", "127.0.0.2"], "NXDOMAIN");
}

#[test]
fn example_local_data() {
    let d = deploy_example("config.local-data.yaml", &[]);
    assert_control_socket(&d);
    // 127.0.0.0/24 has the tags office and lab.
    let printer = d.expect_rcode("printer.example.com", "A", &[], "NOERROR");
    assert_eq!(printer.addresses(), ["192.0.2.10"], "{}", printer.raw);
    assert_eq!(printer.answer[0].ttl, 1800, "local-data/ttl 30m: {}", printer.raw);
    d.expect_addresses("nas.example.com", "A", &[], &["192.0.2.11"]);
    d.expect_addresses("nas.example.com", "AAAA", &[], &["2001:db8::11"]);
    let txt = d.expect_rcode("example.org", "TXT", &[], "NOERROR");
    assert_eq!(txt.rdata("TXT"), ["\"served from local data\""], "{}", txt.raw);
    assert_eq!(txt.answer[0].ttl, 600, "the record's own TTL: {}", txt.raw);
    d.expect_addresses("example.org", "A", &[], &["192.0.2.20", "192.0.2.21"]);
    d.expect_addresses("wiki.example.org", "AAAA", &[], &["2001:db8::20"]);
    // The tagged rules.
    d.expect_addresses("intranet.example.com", "A", &[], &["192.0.2.30"]);
    let nodata = d.expect_rcode("intranet.example.com", "AAAA", &[], "NOERROR");
    assert!(nodata.answer.is_empty(), "the rule's nodata: {}", nodata.raw);
    let empty = d.expect_rcode("staging.example.net", "A", &[], "NOERROR");
    assert!(empty.answer.is_empty(), "{}", empty.raw);
    d.expect_rcode("ads.example.net", "A", &[], "NXDOMAIN");
    d.expect_rcode("www.ads.example.net", "A", &[], "NXDOMAIN");
    d.expect_rcode("blocked.example", "A", &[], "NXDOMAIN");
    // Everyone else is refused (198.51.100.0/24 cannot be a source address here).
    d.expect_rcode("printer.example.com", "A", &["-b", "127.0.1.1"], "REFUSED");
}

#[test]
fn example_office() {
    // The company's authoritative servers are one knotd with both internal zones. It cannot listen on port 53 here,
    // and 'authoritative: true' (kresd's stub mode) only takes port 53, so the test forwards to it as a resolver.
    let knot = Knotd::start(&[
        Zone::new("corp.example.com", "www A 192.0.2.80"),
        Zone::new("intranet.example", "wiki A 192.0.2.81"),
    ])
    .expect("knotd starts");
    let addr = knot.addr();
    let d = deploy_example(
        "config.office.yaml",
        &[("198.51.100.2", &addr), ("198.51.100.3", &addr), ("authoritative: true", "authoritative: false")],
    );
    assert_control_socket(&d);
    let kinds: Vec<&str> = d.listeners.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["dns", "dot", "doh2"]);
    d.expect_addresses("www.corp.example.com", "A", &[], &["192.0.2.80"]);
    d.expect_addresses("wiki.intranet.example", "A", &[], &["192.0.2.81"]);
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn example_rate_limiting() {
    let d = deploy_example("config.rate-limiting.yaml", &[]);
    assert_control_socket(&d);
    assert!(d.rundir.join("ratelimiting").is_file(), "rate-limiting state in the rundir");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

/// Without SYSTEMD_INSTANCE the worker still starts, without a control socket, and says why.
#[test]
fn worker_without_systemd_instance_logs_an_error() {
    require_sid_root();
    let dir = TempDir::new("noinstance");
    let mut doc = json!({});
    let listeners = sandbox(&mut doc, dir.path());
    let opts = ValidationOptions::new(false, "/", SystemFacts::fixed());
    let config = validate(&Node::from_json(&doc), &opts).expect("valid");
    let rundir = config.rundir.path().to_path_buf();
    run_policy_loader(&rundir, &render(&config, RenderTarget::PolicyLoader).expect("renders"), "empty config");
    let worker = Kresd::builder()
        .rundir(&rundir)
        .config("kresd0.conf", &render(&config, RenderTarget::Worker).expect("renders"))
        .start()
        .unwrap_or_else(|e| panic!("the worker did not start: {e}"));
    assert!(worker.stderr().contains("SYSTEMD_INSTANCE is not set"), "{}", worker.stderr());
    assert!(!rundir.join("control/0").exists());
    let answer = try_kdig("127.0.0.1", listeners[0].port, "localhost", "A", &[]).expect("an answer");
    assert_eq!(answer.addresses(), ["127.0.0.1"]);
}

// ----- feature configs ------------------------------------------------------------------------------------------

/// Each runnable feature config has its own test below; this one notices a new feature config.
#[test]
fn every_feature_config_has_a_kresd_test() {
    let tested = [
        "cache",
        "defer-disabled",
        "dns64",
        "dnssec-disabled",
        "dnssec",
        "forward",
        "local-data",
        "logging",
        "lua-script-only",
        "lua",
        "monitoring",
        "network",
        "options",
        "rate-limiting",
        "views",
    ];
    let names: Vec<String> =
        feature_configs().iter().map(|p| config_name(p)).filter(|n| !GOLDEN_ONLY.contains(&n.as_str())).collect();
    assert_eq!(names, tested, "add a kresd test for the new feature config (or list it in GOLDEN_ONLY)");
}

#[test]
fn feature_logging() {
    let d = deploy_feature("logging", &[]);
    assert_control_socket(&d);
    let nsid = d.query("localhost", "A", &["+nsid"]);
    assert!(nsid.raw.contains("\"resolver-10\""), "nsid is the configured one plus the worker id:\n{}", nsid.raw);
    assert_eq!(d.control("hostname()"), "\"resolver.example\"");
    assert_eq!(d.control("log_level()"), "\"debug\"", "the kresd group turns debug on");
    let groups = d.control("log_groups()");
    for g in ["cache", "net", "rules"] {
        assert!(groups.contains(g), "{g} in {groups}");
    }
    assert!(!groups.contains("manager"), "manager groups are not kresd's: {groups}");
}

#[test]
fn feature_monitoring() {
    let d = deploy_feature("monitoring", &[]);
    assert_control_socket(&d);
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
    assert_ne!(d.control("stats"), "null", "stats is loaded at start for 'always'");
    let stats = d.control("collect_statistics()");
    let stats: Value = serde_json::from_str(&stats).unwrap_or_else(|e| panic!("{e}: {stats}"));
    assert!(stats["answer"]["total"].as_u64().is_some_and(|n| n >= 1), "{stats}");
}

#[test]
fn lazy_metrics_load_stats_on_first_use() {
    let d = deploy_example("config.defer.yaml", &[]);
    assert_eq!(d.control("stats"), "null", "stats is not loaded before the first collection");
    let stats = d.control("collect_lazy_statistics()");
    assert!(serde_json::from_str::<Value>(&stats).is_ok_and(|v| v["answer"].is_object()), "{stats}");
}

#[test]
fn feature_options() {
    let d = deploy_feature("options", &[]);
    assert_control_socket(&d);
    let modules = d.control("modules.list()");
    for m in ["rebinding", "workarounds", "serve_stale"] {
        assert!(modules.contains(m), "{m} loaded: {modules}");
    }
    for m in ["priming", "detect_time_jump", "refuse_nord"] {
        assert!(!modules.contains(m), "{m} unloaded: {modules}");
    }
    // refuse_nord is off: a query without RD is not refused.
    d.expect_rcode("localhost", "A", &["+nordflag"], "NOERROR");
}

#[test]
fn feature_network() {
    let d = deploy_feature("network", &[]);
    assert_control_socket(&d);
    let kinds: Vec<&str> = d.listeners.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["dns", "dot", "doh2", "doh2-insecure", "doq"]);
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
    d.expect_addresses("localhost", "A", &["+tcp"], &["127.0.0.1"]);
    // Renumbering rewrites addresses in answers.
    d.expect_addresses("renumbered.example", "A", &[], &["192.168.1.5"]);
    let dot = d.listeners[1].port;
    let answer = try_kdig("127.0.0.1", dot, "localhost", "A", &["+tls"]).expect("DoT answer");
    assert_eq!(answer.addresses(), ["127.0.0.1"], "{}", answer.raw);
    let net = d.control("net.list()");
    assert!(net.contains("doh2-insecure") || net.contains("doh2_insecure") || net.contains("doh"), "{net}");
    assert_eq!(d.control("net.tcp_pipeline()"), "50");
    // net.bufsize(downstream, upstream): the getter returns the downstream size, advertised to clients.
    assert_eq!(d.control("net.bufsize()"), "4096");
    let edns = d.query("localhost", "A", &[]);
    assert!(edns.raw.contains("UDP size: 4096 B"), "{}", edns.raw);
}

#[test]
fn feature_dnssec() {
    let d = deploy_feature("dnssec", &[]);
    assert_control_socket(&d);
    let modules = d.control("modules.list()");
    assert!(modules.contains("bogus_log"), "{modules}");
    assert!(!modules.contains("ta_sentinel") && !modules.contains("ta_signal_query"), "{modules}");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn feature_dnssec_disabled() {
    let d = deploy_feature("dnssec-disabled", &[]);
    assert_control_socket(&d);
    let summary = d.control("trust_anchors.summary()");
    assert!(summary.contains("No valid trust anchors"), "{summary}");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn feature_forward() {
    let knot = Knotd::start(&[Zone::new("fwd.test", "www A 192.0.2.80"), Zone::new("fwd2.test", "www A 192.0.2.81")])
        .expect("knotd starts");
    let d = deploy_feature("forward", &[(KNOTD_PLACEHOLDER, &knot.addr())]);
    assert_control_socket(&d);
    d.expect_addresses("www.fwd.test", "A", &[], &["192.0.2.80"]);
    d.expect_addresses("www.fwd2.test", "A", &[], &["192.0.2.81"]);
    assert!(d.control("modules.list()").contains("fallback"), "fallback is loaded");
}

#[test]
fn feature_cache() {
    let d = deploy_feature("cache", &[]);
    assert_control_socket(&d);
    let modules = d.control("modules.list()");
    for m in ["prefill", "prefetch", "predict"] {
        assert!(modules.contains(m), "{m} loaded: {modules}");
    }
    assert_eq!(d.control("cache.max_ttl()"), "3600");
    assert_eq!(d.control("cache.min_ttl()"), "1");
    assert!(d.control("cache.current_storage").contains(&*d.rundir.parent().expect("dir").to_string_lossy()));
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn feature_dns64() {
    let d = deploy_feature("dns64", &[]);
    assert_control_socket(&d);
    assert!(d.control("modules.list()").contains("dns64"));
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn feature_rate_limiting() {
    let d = deploy_feature("rate-limiting", &[]);
    assert_control_socket(&d);
    assert!(d.rundir.join("ratelimiting").is_file(), "rate-limiting state in the rundir");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn feature_defer_disabled() {
    let d = deploy_feature("defer-disabled", &[]);
    assert_control_socket(&d);
    assert!(!d.rundir.join("defer").exists(), "no defer state when defer is disabled");
    d.expect_addresses("localhost", "A", &[], &["127.0.0.1"]);
}

#[test]
fn feature_views() {
    let d = deploy_feature("views", &[]);
    assert_control_socket(&d);
    d.expect_rcode("view.example", "A", &["-b", "127.0.0.2"], "REFUSED");
    let silent = try_kdig("127.0.0.1", d.port(), "view.example", "A", &["-b", "127.0.0.3", "+timeout=1", "+retry=0"]);
    assert!(silent.is_err(), "noanswer: no reply expected, got {silent:?}");
    d.expect_addresses("view.example", "A", &["-b", "127.0.0.4"], &["192.0.2.1"]);
    // Tagged clients see the tagged rule; others are forwarded to a dead server instead.
    d.expect_addresses("lab.example", "A", &["-b", "127.0.0.5"], &["192.0.2.99"]);
    d.expect_addresses("lab.example", "A", &["-b", "127.0.5.9"], &["192.0.2.99"]);
    let untagged = try_kdig("127.0.0.1", d.port(), "lab.example", "A", &["+timeout=3", "+retry=0"]);
    assert!(untagged.is_err() || untagged.as_ref().is_ok_and(|a| a.addresses().is_empty()), "{untagged:?}");
    // The protocol condition: refused over TCP only.
    d.expect_addresses("view.example", "A", &["-b", "127.0.0.6"], &["192.0.2.1"]);
    d.expect_rcode("view.example", "A", &["-b", "127.0.0.6", "+tcp"], "REFUSED");
    // The destination condition: queries to 127.0.0.1 are refused.
    d.expect_rcode("view.example", "A", &["-b", "127.0.0.7"], "REFUSED");
    // No view: answered.
    d.expect_addresses("view.example", "A", &["-b", "127.0.0.8"], &["192.0.2.1"]);
}

#[test]
fn feature_local_data() {
    let d = deploy_feature("local-data", &[]);
    assert_control_socket(&d);
    d.expect_addresses("host1.example", "A", &[], &["192.0.2.11"]);
    d.expect_addresses("host2.example", "A", &[], &["192.0.2.12"]);
    d.expect_addresses("host2.example", "AAAA", &[], &["2001:db8::12"]);
    d.expect_addresses("xn--pklad-zsa96e.example", "A", &[], &["192.0.2.13"]);
    d.expect_addresses("hostsfile.example", "A", &[], &["192.0.2.51"]);
    let rec = d.expect_rcode("rec.example", "A", &[], "NOERROR");
    assert_eq!(rec.addresses(), ["192.0.2.21"]);
    assert_eq!(rec.answer[0].ttl, 300);
    let cname = d.expect_rcode("www.rec.example", "A", &[], "NOERROR");
    assert_eq!(cname.rdata("CNAME"), ["rec.example."], "{}", cname.raw);
    let txt = d.expect_rcode("txt.rec.example", "TXT", &[], "NOERROR");
    assert_eq!(txt.rdata("TXT"), ["\"a]]b\" \"c\""], "records are passed exactly: {}", txt.raw);
    let rule = d.expect_rcode("rule2.example", "A", &[], "NOERROR");
    assert_eq!(rule.addresses(), ["192.0.2.31"]);
    assert_eq!(rule.answer[0].ttl, 60, "the rule's own ttl");
    // An empty zone: the apex has no data, names below do not exist.
    let empty = d.expect_rcode("empty.example", "A", &[], "NOERROR");
    assert!(empty.answer.is_empty(), "{}", empty.raw);
    d.expect_rcode("sub.empty.example", "A", &[], "NXDOMAIN");
    d.expect_rcode("nx.example", "A", &[], "NXDOMAIN");
    d.expect_rcode("sub.nx.example", "A", &[], "NXDOMAIN");
    d.expect_addresses("sub.redirect.example", "A", &[], &["192.0.2.41"]);
    d.expect_addresses("ruleshosts.example", "A", &[], &["192.0.2.52"]);
    let rr = d.expect_rcode("rr.example", "TXT", &[], "NOERROR");
    assert_eq!(rr.rdata("TXT"), ["\"from a rule\""]);
    d.expect_rcode("blocked.example", "A", &[], "NXDOMAIN");
    d.expect_rcode("www.blocked.example", "A", &[], "NXDOMAIN");
}

#[test]
fn feature_lua() {
    let d = deploy_feature("lua", &[]);
    assert_control_socket(&d);
    assert_eq!(d.control("kres_test_custom()"), "\"worker-script\"", "the script file's contents ran");
    d.expect_addresses("policy-script.example", "A", &[], &["192.0.2.61"]);
}

#[test]
fn feature_lua_script_only() {
    let d = deploy_feature("lua-script-only", &[]);
    d.expect_addresses("only.example", "A", &[], &["192.0.2.62"]);
    assert!(!d.rundir.join("control/0").exists(), "script-only: no generated control socket");
}

/// More local data than fits the constants of one Lua function (the reference's output fails to load with
/// "main function has more than 65536 constants").
#[test]
fn many_local_data_addresses() {
    require_sid_root();
    let addresses: serde_json::Map<String, Value> = (0..40_000u32)
        .map(|i| (format!("h{i}.many.example"), json!(format!("10.0.{}.{}", i / 256, i % 256))))
        .collect();
    let dir = TempDir::new("many");
    let mut doc = json!({
        "views": [{"subnets": ["127.0.0.3"], "tags": ["t"]}],
        "local-data": {
            "addresses": addresses,
            "rules": [{"name": "tagged.many.example", "address": "192.0.2.3", "tags": ["t"]}],
        },
    });
    let listeners = sandbox(&mut doc, dir.path());
    let d = deploy_json(&doc, "40000 addresses", Path::new("/"), dir, listeners);
    d.expect_addresses("h0.many.example", "A", &[], &["10.0.0.0"]);
    d.expect_addresses("h39999.many.example", "A", &[], &["10.0.156.63"]);
    d.expect_addresses("tagged.many.example", "A", &["-b", "127.0.0.3"], &["192.0.2.3"]);
}

// ----- hostile strings ------------------------------------------------------------------------------------------

/// Hostile text in every string that real kresd can take without failing: nsid, hostname, zone data, paths of
/// the rundir, cache, RPZ and hosts files. kresd must load it all and answer with the text unchanged; the
/// injected `os.exit(7)` must never run.
#[test]
fn hostile_strings_in_kresd() {
    require_sid_root();
    let dir = TempDir::new("hostile");
    // Short enough for the control socket path (at most 107 bytes).
    let base = dir.join("x'\"]]=]\\ os.exit(7) --");
    let run = base.join("run");
    let cache = base.join("cache");
    std::fs::create_dir_all(&run).expect("hostile rundir");
    std::fs::create_dir_all(&cache).expect("hostile cache dir");
    std::fs::write(base.join("hosts"), "192.0.2.71 hosts.hostile.example\n").expect("hosts");
    std::fs::copy(feature_dir().join("blocklist.rpz"), base.join("rpz")).expect("rpz");
    // NUL cannot go through kresd's C strings unchanged; everything else must.
    let nsid = hostile::PAYLOAD.replace('\0', "");
    let txt = "q'); os.exit(7) -- b]] os.exit(7) --[[ e]=] os.exit(7) --[=[ ]==]";
    let records = format!("hostile.example. 300 TXT \"{txt}\"\n");
    let port = free_port();
    let doc = json!({
        "nsid": nsid,
        "hostname": hostile::PAYLOAD,
        "rundir": run.display().to_string(),
        "cache": {"storage": cache.display().to_string(), "size-max": "10M"},
        "logging": {"target": "stderr"},
        "network": {"listen": [{"interface": format!("127.0.0.1@{port}")}]},
        "local-data": {
            "records": records,
            "addresses-files": [base.join("hosts").display().to_string()],
            "rpz": [{"file": base.join("rpz").display().to_string()}],
            "rules": [{"records": records.replace("hostile.example", "rule.hostile.example")}],
        },
        "lua": {"script": OFFLINE_PRELUDE},
    });
    let listeners = vec![Listener { kind: "dns".into(), port }];
    let d = deploy_json(&doc, "hostile config", Path::new("/"), dir, listeners);
    assert!(d.worker.stderr().matches("os.exit").count() == 0, "{}", d.worker.stderr());
    assert_control_socket(&d);
    assert_eq!(d.rundir, run);

    let answer = d.expect_rcode("hostile.example", "TXT", &[], "NOERROR");
    assert_eq!(answer.rdata("TXT"), [format!("\"{txt}\"")], "{}", answer.raw);
    let answer = d.expect_rcode("rule.hostile.example", "TXT", &[], "NOERROR");
    assert_eq!(answer.rdata("TXT"), [format!("\"{txt}\"")], "{}", answer.raw);
    d.expect_addresses("hosts.hostile.example", "A", &[], &["192.0.2.71"]);
    d.expect_rcode("blocked.example", "A", &[], "NXDOMAIN");
    let hostname: Value = serde_json::from_str(&d.control("hostname()")).expect("JSON string");
    assert_eq!(hostname, json!(hostile::PAYLOAD.split('\0').next().expect("text")), "hostname up to the NUL");
    let with_nsid = d.query("localhost", "A", &["+nsid"]);
    let expected_hex: String = format!("{nsid}0").bytes().map(|b| format!("{b:02x}")).collect();
    assert!(
        with_nsid.raw.to_ascii_lowercase().contains(&expected_hex),
        "the NSID is the hostile text plus the worker id ({expected_hex}):\n{}",
        with_nsid.raw
    );
    assert_eq!(d.config.hostname(), hostile::PAYLOAD);
}
