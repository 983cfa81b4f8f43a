//! `kresctl fleet` against a real 3-member etcd cluster (one test at a time: nextest group `etcd`). Most nodes here
//! are fleet agents and coordinator candidates running in this test process with fake appliers (no kresd): what is
//! checked is kresctl's side, publishing and following a rollout, and reaching etcd over TLS;
//! `fleet_publish_and_watch_real_managers` runs three real managers with kresd.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kres_fleet::agent::{Agent, AgentOptions};
use kres_fleet::coordinator::{Coordinator, CoordinatorOptions};
use kres_fleet::keys::Keys;
use kres_fleet::kv::{EtcdKv, EtcdOptions};
use kres_fleet::{ApplyResult, NodeApplier};
use kres_test_support::{EtcdCluster, TempDir, require_sid_root};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::kresctl;

fn cluster() -> EtcdCluster {
    require_sid_root();
    EtcdCluster::start().unwrap_or_else(|e| panic!("etcd cluster: {e}"))
}

/// Applies after 300 ms; refuses nothing, but fails the health hold of the generations in `fail`.
#[derive(Clone, Default)]
struct Fake {
    fail: Arc<Mutex<Vec<u64>>>,
}

impl NodeApplier for Fake {
    async fn apply(&self, generation: u64, _config: Option<Vec<u8>>) -> ApplyResult {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if self.fail.lock().unwrap().contains(&generation) {
            ApplyResult::RolledBack { reason: "health hold: a worker stopped answering".into() }
        } else {
            ApplyResult::Applied { etag: format!("\"etag-{generation}\"") }
        }
    }
}

/// Three nodes (agent + coordinator candidate each) in a runtime on its own thread; stopped on drop.
struct Nodes {
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    fakes: Vec<Fake>,
}

impl Nodes {
    fn start(endpoints: Vec<String>, prefix: &str) -> Nodes {
        let cancel = CancellationToken::new();
        let fakes: Vec<Fake> = (0..3).map(|_| Fake::default()).collect();
        let (c, f, p) = (cancel.clone(), fakes.clone(), prefix.to_string());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for (i, fake) in f.into_iter().enumerate() {
                    let mut eps = endpoints.clone();
                    eps.rotate_left(i);
                    let kv = || {
                        let mut o = EtcdOptions::new(eps.clone());
                        o.request_timeout = Duration::from_millis(1500);
                        EtcdKv::new(o)
                    };
                    let name = format!("n{}", i + 1);
                    let mut a = AgentOptions::new(&name);
                    a.alive_ttl = Duration::from_secs(3);
                    a.retry = Duration::from_millis(200);
                    tasks.push(tokio::spawn(Agent::new(kv(), Keys::new(&p), a, Arc::new(fake)).run(c.clone())));
                    let mut o = CoordinatorOptions::new(&name);
                    o.lock_ttl = Duration::from_secs(3);
                    o.retry = Duration::from_millis(200);
                    tasks.push(tokio::spawn(Coordinator::new(kv(), Keys::new(&p), o).run(c.clone())));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        Nodes { cancel, thread: Some(thread), fakes }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn status_json(etcd: &str, prefix: &str) -> Value {
    let run = kresctl(["fleet", "--etcd", etcd, "--prefix", prefix, "status", "--json"]).success();
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("status --json is JSON ({e}): {}", run.stdout))
}

/// publish validates before it writes; status reads what was written; halt, resume and rollback refuse what does
/// not fit; `-c CONFIG` supplies the endpoints and the prefix.
#[test]
fn fleet_publish_status_and_refusals() {
    let etcd = cluster();
    let eps = etcd.endpoints().join(",");
    let dir = TempDir::new("fleet-cli");
    let good = dir.write("good.yaml", "workers: 2\n");
    let bad = dir.write("bad.yaml", "workers: -3\n");
    let run = kresctl(["fleet", "--etcd", &eps, "--prefix", "/t1", "publish", good.to_str().unwrap()]).success();
    assert_eq!(run.stdout.trim(), "1");
    kresctl(["fleet", "--etcd", &eps, "--prefix", "/t1", "publish", bad.to_str().unwrap()])
        .failure(1)
        .stderr_has("/workers");
    for (name, doc, path) in [
        ("m.yaml", "management:\n  interface: 127.0.0.1@5000\n", "/management"),
        ("l.yaml", "network:\n  listen:\n    - interface: 127.0.0.1@53\n", "/network/listen"),
        ("f.yaml", "fleet:\n  batch: 2\n", "/fleet"),
    ] {
        let f = dir.write(name, doc);
        kresctl(["fleet", "--etcd", &eps, "--prefix", "/t1", "publish", f.to_str().unwrap()])
            .failure(1)
            .stderr_has(&format!("{path} is node-specific"));
    }
    let s = status_json(&eps, "/t1");
    assert_eq!(s["desired"], 1, "{s}");
    assert_eq!(s["stable"], Value::Null);
    assert_eq!(s["nodes"], serde_json::json!([]));
    let run = kresctl(["fleet", "--etcd", &eps, "--prefix", "/t1", "publish", good.to_str().unwrap()]).success();
    assert_eq!(run.stdout.trim(), "2", "the next generation");
    kresctl(["fleet", "--etcd", &eps, "--prefix", "/t1", "halt"]).failure(1).stderr_has("no rollout");
    kresctl(["fleet", "--etcd", &eps, "--prefix", "/t1", "rollback", "7"])
        .failure(1)
        .stderr_has("generation 7 does not exist");
    // The fleet section of a configuration file names the cluster.
    let endpoints: Vec<String> = etcd.endpoints().iter().map(|e| format!("\"{e}\"")).collect();
    let cfg = dir.write(
        "node.yaml",
        format!("fleet:\n  enable: true\n  etcd:\n    endpoints: [{}]\n    prefix: /t1\n", endpoints.join(", ")),
    );
    let run = kresctl(["-c", cfg.to_str().unwrap(), "fleet", "status", "--json"]).success();
    let s: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(s["desired"], 2, "{s}");
    kresctl(["fleet", "status"]).failure(1).stderr_has("--etcd");
    // An unreachable cluster is an error, not a hang (bounded by the client's deadlines).
    kresctl(["fleet", "--etcd", "127.0.0.1:9", "status"]).failure(1).stderr_has("unavailable");
}

/// `publish` then `status --watch`: the watch shows the nodes moving one by one and ends when the rollout is done;
/// a generation that fails its health hold on n2 shows the halt, the rollback and the reason.
#[test]
fn fleet_status_watch_follows_rollout_and_rollback() {
    let etcd = cluster();
    let eps = etcd.endpoints().join(",");
    let nodes = Nodes::start(etcd.endpoints(), "/t2");
    let dir = TempDir::new("fleet-cli");
    let doc = dir.write("g.yaml", "workers: 2\n");
    // Let the three agents register before the first rollout picks its nodes.
    let mut registered = false;
    for _ in 0..100 {
        let s = status_json(&eps, "/t2");
        if s["nodes"].as_array().is_some_and(|n| n.iter().filter(|n| n["alive"] == true).count() == 3) {
            registered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(registered, "three nodes alive");
    kresctl(["fleet", "--etcd", &eps, "--prefix", "/t2", "publish", doc.to_str().unwrap()]).success();
    let watch = kresctl(["fleet", "--etcd", &eps, "--prefix", "/t2", "status", "--watch", "--json"]).success();
    let states: Vec<Value> = watch.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = states.last().unwrap();
    assert_eq!(last["rollout"]["state"], "done", "{last}");
    assert_eq!(last["stable"], 1);
    // Node by node: the generation appears on n1, then n2, then n3.
    let applied_order: Vec<String> = {
        let mut order = Vec::new();
        for s in &states {
            for n in s["nodes"].as_array().unwrap() {
                let name = n["name"].as_str().unwrap().to_string();
                if n["generation"] == 1 && !order.contains(&name) {
                    order.push(name);
                }
            }
        }
        order
    };
    assert_eq!(applied_order, ["n1", "n2", "n3"], "{}", watch.stdout);

    nodes.fakes[1].fail.lock().unwrap().push(2);
    kresctl(["fleet", "--etcd", &eps, "--prefix", "/t2", "publish", doc.to_str().unwrap()]).success();
    let watch = kresctl(["fleet", "--etcd", &eps, "--prefix", "/t2", "status", "--watch"]).success();
    assert!(watch.stdout.contains("rolling-back"), "the watch shows the rollback:\n{}", watch.stdout);
    let tail = watch.stdout.rsplit("desired:").next().unwrap();
    assert!(
        tail.contains("halted") && tail.contains("failed node: n2") && tail.contains("health hold"),
        "{}",
        watch.stdout
    );
    assert!(watch.stdout.trim_start().starts_with("desired:"));
    let s = status_json(&eps, "/t2");
    assert_eq!((s["desired"].clone(), s["stable"].clone()), (Value::from(1), Value::from(1)), "{s}");
    assert!(s["nodes"].as_array().unwrap().iter().all(|n| n["generation"] == 1), "{s}");
}

/// `-c CONFIG` with /fleet/etcd/tls: kresctl reaches a cluster that demands client certificates.
#[test]
fn fleet_over_tls_from_the_config_file() {
    use kres_test_support::etcd::EtcdTlsFiles;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    require_sid_root();
    let dir = TempDir::new("fleet-tls");
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
    let issue = |names: &[&str], usage: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        (p.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
    };
    let (sc, sk) = issue(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (cc, ck) = issue(&["node1"], ExtendedKeyUsagePurpose::ClientAuth);
    let files = EtcdTlsFiles {
        ca: dir.write("ca.pem", ca.pem()),
        server_cert: dir.write("server.pem", sc),
        server_key: dir.write("server.key", sk),
        client_cert: dir.write("client.pem", cc),
        client_key: dir.write("client.key", ck),
    };
    let etcd = EtcdCluster::start_tls(files.clone()).unwrap_or_else(|e| panic!("etcd with TLS: {e}"));
    let endpoints: Vec<String> = etcd.endpoints().iter().map(|e| format!("\"{e}\"")).collect();
    let tls = format!(
        "    tls:\n      ca-file: {}\n      cert-file: {}\n      key-file: {}\n",
        files.ca.display(),
        files.client_cert.display(),
        files.client_key.display()
    );
    let node = dir.write("node.yaml", format!("fleet:\n  etcd:\n    endpoints: [{}]\n{tls}", endpoints.join(", ")));
    let doc = dir.write("g.yaml", "workers: 2\n");
    let run = kresctl(["-c", node.to_str().unwrap(), "fleet", "publish", doc.to_str().unwrap()]).success();
    assert_eq!(run.stdout.trim(), "1");
    // Without the TLS settings the same cluster refuses.
    let eps = etcd.endpoints().join(",");
    kresctl(["fleet", "--etcd", &eps, "status"]).failure(1);
}

/// The same with real nodes: three `knot-resolver` managers, each with a kresd worker on its own port and
/// `/fleet` in its local file. `publish` then `status --watch` shows the generation reaching n1, n2, n3 in turn;
/// a generation whose workers stop answering during the health hold on n2 only is halted at n2 and rolled back
/// (n1 moved back), as the watch shows, and every node answers the first generation's data again.
#[test]
fn fleet_publish_and_watch_real_managers() {
    use crate::daemon::{Daemon, knot_resolver_bin};
    let etcd = cluster();
    let eps = etcd.endpoints().join(",");
    let prefix = "/t-real";
    let nodes: Vec<Daemon> = (1..=3)
        .map(|i| {
            let extra = format!(
                "fleet:\n  enable: true\n  name: n{i}\n  health-hold: 1500ms\n  etcd:\n    endpoints: [{}]\n    \
                 prefix: {prefix}\n",
                etcd.endpoints().join(", ")
            );
            Daemon::builder(knot_resolver_bin()).tag("kresctl-fleet").extra(&extra).start()
        })
        .collect();
    let alive = kres_test_support::wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        status_json(&eps, prefix)["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().filter(|n| n["alive"] == true).count() == 3)
    });
    assert!(alive, "three nodes alive: {}", status_json(&eps, prefix));
    let dir = TempDir::new("fleet-real");
    let answer = |addr: &str| {
        format!(
            "lua:\n  script: |\n    policy.add(policy.suffix(policy.ANSWER({{[kres.type.A] = {{rdata = \
             kres.str2ip('{addr}'), ttl = 300}}}}), {{todname('fleet.example.')}}))\n"
        )
    };
    let g1 = dir.write("g1.yaml", answer("192.0.2.91"));
    let run = kresctl(["fleet", "--etcd", &eps, "--prefix", prefix, "publish", g1.to_str().unwrap()]).success();
    assert_eq!(run.stdout.trim(), "1", "publish prints the generation: {}", run.stdout);
    let watch = kresctl(["fleet", "--etcd", &eps, "--prefix", prefix, "status", "--watch", "--json"]).success();
    let states: Vec<Value> = watch.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(states.last().unwrap()["rollout"]["state"], "done", "{}", watch.stdout);
    let mut order = Vec::new();
    for s in &states {
        for n in s["nodes"].as_array().unwrap() {
            let name = n["name"].as_str().unwrap().to_string();
            if n["generation"] == 1 && !order.contains(&name) {
                order.push(name);
            }
        }
    }
    assert_eq!(order, ["n1", "n2", "n3"], "node by node:\n{}", watch.stdout);
    let served = |node: &Daemon| {
        kres_test_support::try_kdig("127.0.0.1", node.port, "fleet.example", "A", &["+timeout=2", "+retry=1"])
            .map(|a| a.addresses().iter().map(|a| a.to_string()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(nodes.iter().all(|n| served(n) == ["192.0.2.91"]), "every node serves generation 1");

    // Generation 2 makes the workers of a node that has the file `fail-hold` in its rundir drop every query a
    // moment after they start: only n2's health hold fails.
    std::fs::write(nodes[1].rundir().join("fail-hold"), "").unwrap();
    let g2 = dir.write(
        "g2.yaml",
        answer("192.0.2.92")
            + "    event.after(400, function() if io.open('fail-hold') then policy.add(policy.all(policy.DROP)) end end)\n",
    );
    kresctl(["fleet", "--etcd", &eps, "--prefix", prefix, "publish", g2.to_str().unwrap()]).success();
    let watch = kresctl(["fleet", "--etcd", &eps, "--prefix", prefix, "status", "--watch"]).success();
    let text = watch.stdout;
    assert!(text.contains("halted") || text.contains("rolling-back"), "the watch shows the halt:\n{text}");
    assert!(text.contains("n2"), "{text}");
    let last = status_json(&eps, prefix);
    assert_eq!(last["rollout"]["failed-node"], "n2", "{last}");
    assert_eq!(last["desired"], 1, "desired set back: {last}");
    let back = kres_test_support::wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        nodes.iter().all(|n| served(n) == ["192.0.2.91"])
    });
    assert!(back, "every node serves generation 1 again: {}", status_json(&eps, prefix));
}
