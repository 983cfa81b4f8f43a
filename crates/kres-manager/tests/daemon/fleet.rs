//! Fleet mode against a real 3-member etcd cluster and three real managers (one kresd worker each, on its own
//! port): a published generation reaches every node through its own pipeline (probed canary, rolling restart,
//! health hold) with one ETag everywhere; local writes are refused; a generation the first node's canary refuses
//! changes nothing anywhere; a generation that fails the health hold on node 2 rolls nodes 1 and 2 back and leaves
//! node 3 untouched. These tests run one at a time (nextest group `etcd`).

use std::time::Duration;

use kres_fleet::admin::{self, FleetStatus};
use kres_fleet::keys::Keys;
use kres_fleet::kv::{EtcdKv, EtcdOptions};
use kres_fleet::model::RolloutState;
use kres_test_support::{EtcdCluster, try_kdig, wait_until};

use crate::api::Api;

const FLEET_NAME: &str = "fleet.example";
const FLEET_ADDR: &str = "192.0.2.77";
const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);

/// The Lua of a generation: answers `fleet.example A` with `addr`, and (`extra`) whatever else.
fn generation(addr: &str, extra: &str) -> String {
    format!(
        "lua:\n  script: |\n    policy.add(policy.suffix(policy.ANSWER({{[kres.type.A] = {{rdata = kres.str2ip('{addr}'), \
         ttl = 300}}}}), {{todname('{FLEET_NAME}.')}}))\n{extra}"
    )
}

const PREFIX: &str = "/kres-test-fleet";

struct Fleet {
    etcd: EtcdCluster,
    nodes: Vec<Api>,
    keys: Keys,
    runtime: tokio::runtime::Runtime,
    hold: String,
}

impl Fleet {
    /// A cluster and `n` nodes named n1..nN, each with a health hold of `hold`.
    fn start(n: usize, hold: &str) -> Fleet {
        let etcd = EtcdCluster::start().expect("a 3-member etcd cluster");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut fleet = Fleet { etcd, nodes: Vec::new(), keys: Keys::new(PREFIX), runtime, hold: hold.to_owned() };
        for i in 1..=n {
            fleet.add_node(i);
        }
        fleet
    }

    /// Starts node `n<i>` and waits until it answers.
    fn add_node(&mut self, i: usize) {
        let extra = format!(
            "fleet:\n  enable: true\n  name: n{i}\n  health-hold: {}\n  etcd:\n    endpoints: [{}]\n    \
             prefix: {PREFIX}\n",
            self.hold,
            self.etcd.endpoints().join(", ")
        );
        self.nodes.push(Api::start_with(1, &extra));
    }

    /// Waits until every node's agent has reported itself alive (a rollout only moves the nodes it sees).
    fn wait_alive(&self) {
        let n = self.nodes.len();
        let all = wait_until(WAIT, POLL, || self.status().nodes.iter().filter(|n| n.alive).count() == n);
        assert!(all, "not every node is alive: {:#?}", self.status());
    }

    /// How many generations node `i`'s history holds with the source `fleet`.
    fn fleet_applies(&self, i: usize) -> usize {
        let page = self.nodes[i].get("/v1/history?limit=1000").json();
        page["generations"].as_array().unwrap().iter().filter(|g| g["source"]["kind"] == "fleet").count()
    }

    fn kv(&self) -> EtcdKv {
        EtcdKv::new(EtcdOptions::new(self.etcd.endpoints()))
    }

    fn publish(&self, document: &str) -> u64 {
        let kv = self.kv();
        self.runtime.block_on(admin::publish(&kv, &self.keys, document.as_bytes())).expect("publish")
    }

    fn status(&self) -> FleetStatus {
        let kv = self.kv();
        self.runtime.block_on(admin::status(&kv, &self.keys)).expect("fleet status")
    }

    /// Waits until the rollout of `generation` is in `state`; returns the status.
    fn wait_rollout(&self, generation: u64, state: RolloutState) -> FleetStatus {
        let mut last = None;
        let reached = wait_until(WAIT, POLL, || {
            let s = self.status();
            let done = s.rollout.as_ref().is_some_and(|r| r.generation == generation && r.state == state);
            last = Some(s);
            done
        });
        let logs: Vec<String> = self.nodes.iter().map(|n| n.log()).collect();
        assert!(reached, "rollout of {generation} did not reach {state:?}: {last:#?}\n{}", logs.join("\n----\n"));
        last.unwrap()
    }

    fn answer(&self, node: usize) -> Vec<String> {
        let port = self.nodes[node].daemon.port;
        try_kdig("127.0.0.1", port, FLEET_NAME, "A", &["+timeout=2", "+retry=1"])
            .map(|a| a.addresses().iter().map(|a| a.to_string()).collect())
            .unwrap_or_default()
    }
}

#[test]
fn fleet_publish_converges_and_a_refused_generation_changes_nothing() {
    let fleet = Fleet::start(3, "300ms");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    let s = fleet.wait_rollout(g1, RolloutState::Done);
    assert_eq!((s.desired, s.stable), (Some(g1), Some(g1)), "{s:#?}");
    // One ETag everywhere: the generation's (each node's own configuration adds its local file to it).
    let etags: std::collections::BTreeSet<_> = s.nodes.iter().map(|n| n.etag.clone()).collect();
    assert_eq!(etags.len(), 1, "one ETag everywhere: {s:#?}");
    assert!(s.nodes[0].etag.as_ref().is_some_and(|e| !e.is_empty()));
    assert!(s.nodes.iter().all(|n| n.alive && n.generation == g1 && n.state == "applied"), "{s:#?}");
    for (i, node) in fleet.nodes.iter().enumerate() {
        assert_eq!(fleet.answer(i), [FLEET_ADDR], "node {} serves the generation:\n{}", i + 1, node.log());
        // The node's own data (its local file) is still there, under the fleet's.
        assert!(node.daemon.answers(), "node {} lost its local data", i + 1);
        let newest = node.get("/v1/history").json()["generations"][0].clone();
        assert_eq!(newest["source"]["kind"], "fleet", "{newest}");
    }

    // A local write is refused and points at `kresctl fleet publish`; a dry run is still allowed.
    let r = fleet.nodes[1].put_json("/v1/config/workers", "2");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("kresctl fleet publish"), "{}", r.body);
    let r = fleet.nodes[1].call("PUT", "/v1/config/workers?dry-run=true", &[crate::api::JSON], "2");
    assert_eq!(r.status, 200, "{}", r.body);

    // A generation whose canary drops every query: the first node refuses it, the rollout halts, nothing changes.
    let pids: Vec<Vec<u32>> = fleet.nodes.iter().map(|n| n.daemon.kresd_pids()).collect();
    let etags: Vec<String> = fleet.nodes.iter().map(|n| n.etag()).collect();
    let g2 = fleet.publish(&generation("192.0.2.78", "    policy.add(policy.all(policy.DROP))\n"));
    let s = fleet.wait_rollout(g2, RolloutState::Halted);
    let rollout = s.rollout.as_ref().unwrap();
    assert_eq!(rollout.failed_node.as_deref(), Some("n1"), "{s:#?}");
    let reason = rollout.reason.clone().unwrap_or_default();
    assert!(reason.contains("probe"), "the status says why: {s:#?}");
    assert_eq!(s.desired, Some(g1), "desired is set back: {s:#?}");
    for (i, node) in fleet.nodes.iter().enumerate() {
        assert_eq!(node.daemon.kresd_pids(), pids[i], "node {} kept its workers", i + 1);
        assert_eq!(node.etag(), etags[i], "node {} kept its configuration", i + 1);
        assert_eq!(fleet.answer(i), [FLEET_ADDR], "node {} still serves generation {g1}", i + 1);
    }
}

#[test]
fn fleet_health_hold_failure_on_node_2_rolls_back_nodes_1_and_2_and_leaves_node_3() {
    let fleet = Fleet::start(3, "2s");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g1, RolloutState::Done);
    let etag3 = fleet.nodes[2].etag();
    let history3 = fleet.nodes[2].get("/v1/history").json()["total"].clone();
    // Node 2's workers (their working directory is the rundir) find this file and start dropping every query a
    // moment after they start: after the canary's probe, during the hold.
    std::fs::write(fleet.nodes[1].daemon.rundir().join("fail-hold"), "").unwrap();
    let script = "    event.after(400, function() if io.open('fail-hold') then \
                  policy.add(policy.all(policy.DROP)) end end)\n";
    let g2 = fleet.publish(&generation("192.0.2.79", script));
    let s = fleet.wait_rollout(g2, RolloutState::Halted);
    let rollout = s.rollout.as_ref().unwrap();
    assert_eq!(rollout.failed_node.as_deref(), Some("n2"), "{s:#?}");
    assert_eq!(s.desired, Some(g1), "{s:#?}");
    // Nodes 1 and 2 run generation 1 again (node 2 rolled itself back, node 1 was moved back); node 3 was never
    // touched: same ETag, nothing new in its history.
    let back = wait_until(WAIT, POLL, || fleet.answer(0) == [FLEET_ADDR] && fleet.answer(1) == [FLEET_ADDR]);
    assert!(back, "nodes 1 and 2 did not return to generation {g1}: {:#?}", fleet.status());
    let n2 = fleet.nodes[1].get("/v1/history").json();
    let kinds: Vec<String> = n2["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["result"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"rolled-back".to_owned()), "node 2 recorded the rollback: {n2}");
    assert_eq!(fleet.nodes[2].etag(), etag3, "node 3 untouched");
    assert_eq!(fleet.nodes[2].get("/v1/history").json()["total"], history3, "node 3 applied nothing");
    assert_eq!(fleet.answer(2), [FLEET_ADDR]);
}

/// kill -9 of the coordinating manager mid-rollout: the supervisor starts another manager, some coordinator (a
/// successor, or the new manager) resumes at the cursor, the rollout completes, and no node applies twice.
#[test]
fn fleet_coordinator_killed_mid_rollout_is_resumed_without_applying_twice() {
    let fleet = Fleet::start(3, "2s");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g1, RolloutState::Done);
    let before: Vec<usize> = (0..3).map(|i| fleet.fleet_applies(i)).collect();
    let g2 = fleet.publish(&generation("192.0.2.80", ""));
    // Mid-rollout: the first node has applied it, the others have not finished.
    let mut coordinator = None;
    let mid = wait_until(WAIT, Duration::from_millis(50), || {
        let s = fleet.status();
        coordinator = s.coordinator.clone();
        s.rollout.as_ref().is_some_and(|r| r.generation == g2 && r.state == RolloutState::Progressing && r.cursor >= 1)
            && s.rollout.as_ref().is_some_and(|r| r.cursor < r.order.len())
    });
    assert!(mid, "the rollout was never caught mid-way: {:#?}", fleet.status());
    let name = coordinator.expect("a coordinator holds the lock");
    let index: usize = name.trim_start_matches(|c: char| !c.is_ascii_digit()).parse::<usize>().unwrap() - 1;
    let killed = fleet.nodes[index].daemon.manager_pid().expect("the coordinator's manager");
    let status = std::process::Command::new("kill").args(["-KILL", &killed.to_string()]).status().unwrap();
    assert!(status.success());
    let s = fleet.wait_rollout(g2, RolloutState::Done);
    assert_eq!(s.stable, Some(g2), "{s:#?}");
    // The new manager started from the fleet's layer it had saved, not from the bare local file.
    let log = fleet.nodes[index].log();
    assert!(log.contains("starting from fleet generation"), "{log}");
    for (i, before) in before.into_iter().enumerate() {
        assert_eq!(fleet.answer(i), ["192.0.2.80"], "node {} runs generation {g2}", i + 1);
        assert_eq!(fleet.fleet_applies(i), before + 1, "node {} applied generation {g2} exactly once", i + 1);
    }
}

/// kill -9 of a whole node (supervisor, manager, kresd) while it applies: once its `alive` lease expires the
/// rollout halts and the node already moved is rolled back; the third node is never touched.
#[test]
fn fleet_node_killed_mid_apply_halts_and_rolls_back() {
    let mut fleet = Fleet::start(3, "3s");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g1, RolloutState::Done);
    let etag3 = fleet.nodes[2].etag();
    let g2 = fleet.publish(&generation("192.0.2.81", ""));
    let applying = wait_until(WAIT, Duration::from_millis(50), || {
        fleet.status().nodes.iter().any(|n| n.name == "n2" && n.state == "applying")
    });
    assert!(applying, "node 2 never started applying: {:#?}", fleet.status());
    let node2 = fleet.nodes.remove(1);
    drop(node2); // SIGKILL to its supervisor; every child dies with it (PR_SET_PDEATHSIG)
    let s = fleet.wait_rollout(g2, RolloutState::Halted);
    let rollout = s.rollout.as_ref().unwrap();
    assert_eq!(rollout.failed_node.as_deref(), Some("n2"), "{s:#?}");
    assert_eq!(s.desired, Some(g1), "{s:#?}");
    let back = wait_until(WAIT, POLL, || fleet.answer(0) == [FLEET_ADDR]);
    assert!(back, "node 1 was not moved back to generation {g1}: {:#?}", fleet.status());
    assert_eq!(fleet.nodes[1].etag(), etag3, "node 3 untouched");
}

/// A node that joins after a rollout converges to the fleet's stable generation.
#[test]
fn fleet_late_joiner_converges_to_stable() {
    let mut fleet = Fleet::start(2, "300ms");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g1, RolloutState::Done);
    fleet.add_node(3);
    let joined = wait_until(WAIT, POLL, || fleet.answer(2) == [FLEET_ADDR]);
    assert!(joined, "the late node did not converge: {:#?}\n{}", fleet.status(), fleet.nodes[2].log());
    let s = fleet.status();
    let n3 = s.nodes.iter().find(|n| n.name == "n3").expect("n3 in the status");
    assert_eq!((n3.alive, n3.generation, n3.state.as_str()), (true, g1, "applied"), "{s:#?}");
    assert_eq!(fleet.fleet_applies(2), 1);
}

/// kill -9 of the etcd leader mid-rollout: etcd elects another, the managers' clients move to a live member, and the
/// rollout completes with every node applying once.
#[test]
fn fleet_etcd_leader_killed_mid_rollout_completes() {
    let mut fleet = Fleet::start(3, "1s");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g1, RolloutState::Done);
    let before: Vec<usize> = (0..3).map(|i| fleet.fleet_applies(i)).collect();
    let g2 = fleet.publish(&generation("192.0.2.82", ""));
    let started = wait_until(WAIT, Duration::from_millis(50), || {
        fleet.status().nodes.iter().any(|n| n.name == "n1" && n.state == "applying")
    });
    assert!(started, "the rollout did not start: {:#?}", fleet.status());
    let leader = fleet.etcd.wait_leader().expect("an etcd leader");
    fleet.etcd.kill(leader);
    let s = fleet.wait_rollout(g2, RolloutState::Done);
    assert_eq!(s.stable, Some(g2), "{s:#?}");
    for (i, before) in before.into_iter().enumerate() {
        assert_eq!(fleet.answer(i), ["192.0.2.82"], "node {} runs generation {g2}", i + 1);
        assert_eq!(fleet.fleet_applies(i), before + 1, "node {} applied generation {g2} once", i + 1);
    }
}

/// Two of the three etcd members killed mid-rollout: no quorum, so nothing moves, and every node keeps answering
/// with what it runs; when the members return, the rollout resumes and completes.
#[test]
fn fleet_quorum_lost_nodes_keep_serving_and_the_rollout_resumes() {
    let mut fleet = Fleet::start(3, "1s");
    fleet.wait_alive();
    let g1 = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g1, RolloutState::Done);
    let g2 = fleet.publish(&generation("192.0.2.83", ""));
    let first_done = wait_until(WAIT, Duration::from_millis(50), || {
        fleet.status().nodes.iter().any(|n| n.name == "n1" && n.generation == g2 && n.state == "applied")
    });
    assert!(first_done, "node 1 did not apply {g2}: {:#?}", fleet.status());
    let (a, b) = match fleet.etcd.wait_leader() {
        Some(0) => (1, 2),
        Some(1) => (0, 2),
        _ => (0, 1),
    };
    fleet.etcd.kill(a);
    fleet.etcd.kill(b);
    // Without quorum for a while (longer than the nodes' alive TTL): every node keeps serving what it runs.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(fleet.answer(0), ["192.0.2.83"], "node 1 keeps generation {g2}");
    for i in 1..3 {
        let answer = fleet.answer(i);
        assert!(answer == [FLEET_ADDR] || answer == ["192.0.2.83"], "node {} stopped serving: {answer:?}", i + 1);
        assert!(fleet.nodes[i].daemon.answers(), "node {} lost its local data", i + 1);
    }
    fleet.etcd.restart(a).unwrap();
    fleet.etcd.restart(b).unwrap();
    fleet.etcd.wait_healthy().unwrap();
    let s = fleet.wait_rollout(g2, RolloutState::Done);
    assert_eq!(s.stable, Some(g2), "{s:#?}");
    for i in 0..3 {
        assert_eq!(fleet.answer(i), ["192.0.2.83"], "node {} runs generation {g2}", i + 1);
    }
}

/// The rollout time of real nodes against their single-node apply time (`bench/fleet.sh`; not run by CI: it takes
/// a minute and only prints). Five nodes, one worker each, a 1 s hold: each node's own apply (policy-loader, probed
/// canary, rolling restart, hold) is the `duration_ms` its history records; the coordinator's overhead is what the
/// rollout took beyond the sum of those, per node.
#[test]
#[ignore = "a benchmark: bench/fleet.sh runs it"]
fn fleet_bench_rollout_time_against_single_node_applies() {
    let nodes: usize = std::env::var("KRES_BENCH_FLEET_NODES").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let rounds: usize = std::env::var("KRES_BENCH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let fleet = Fleet::start(nodes, "1s");
    fleet.wait_alive();
    let g = fleet.publish(&generation(FLEET_ADDR, ""));
    fleet.wait_rollout(g, RolloutState::Done);
    // The single-node apply time: the same kind of change through the API of a standalone node with the same hold
    // (a round trip, as an operator sees it: pipeline, hold, history).
    let single = Api::start(1);
    assert_eq!(single.put_json("/v1/config/management/health-hold", "\"1s\"").status, 200);
    let mut single_ms = Vec::new();
    for round in 0..rounds {
        let script = format!(
            "{{\"script\": \"policy.add(policy.suffix(policy.ANSWER({{[kres.type.A] = {{rdata = \
             kres.str2ip('192.0.2.{}'), ttl = 300}}}}), {{todname('{FLEET_NAME}.')}}))\"}}",
            150 + round
        );
        let started = std::time::Instant::now();
        let r = single.put_json("/v1/config/lua", &script);
        assert_eq!(r.status, 200, "{}", r.body);
        single_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let single_apply = single_ms.iter().sum::<f64>() / single_ms.len() as f64;
    println!("fleet bench: single-node apply (API round trip, 1 s hold) {single_ms:.0?} ms, mean {single_apply:.0} ms");
    for round in 0..rounds {
        let addr = format!("192.0.2.{}", 100 + round);
        let started = std::time::Instant::now();
        let g = fleet.publish(&generation(&addr, ""));
        let mut done = None;
        let finished = wait_until(WAIT, Duration::from_millis(10), || {
            let s = fleet.status();
            let ok = s.rollout.as_ref().is_some_and(|r| r.generation == g && r.state == RolloutState::Done);
            if ok {
                done = Some(started.elapsed());
            }
            ok
        });
        assert!(finished, "rollout {g} did not finish: {:#?}", fleet.status());
        let total = done.unwrap();
        let applies: Vec<u64> = (0..nodes)
            .map(|i| {
                let page = fleet.nodes[i].get("/v1/history").json();
                page["generations"][0]["duration_ms"].as_u64().unwrap()
            })
            .collect();
        let sum: u64 = applies.iter().sum();
        let total_ms = total.as_secs_f64() * 1000.0;
        let bound = 1.1 * nodes as f64 * single_apply;
        println!(
            "fleet rollout round {round}: {nodes} nodes in {total_ms:.0} ms; bound 1.1 x nodes x single apply = \
             {bound:.0} ms: {}; overhead per node over the single-node apply {:.1} ms; over the nodes' own recorded \
             apply durations {applies:?} (sum {sum} ms) {:.1} ms",
            if total_ms <= bound { "met" } else { "NOT met" },
            (total_ms - nodes as f64 * single_apply) / nodes as f64,
            (total_ms - sum as f64) / nodes as f64,
        );
    }
}
