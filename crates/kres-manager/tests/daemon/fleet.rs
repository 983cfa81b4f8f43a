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

struct Fleet {
    etcd: EtcdCluster,
    nodes: Vec<Api>,
    keys: Keys,
    runtime: tokio::runtime::Runtime,
}

impl Fleet {
    /// A cluster and `n` nodes named n1..nN, each with a health hold of `hold`.
    fn start(n: usize, hold: &str) -> Fleet {
        let etcd = EtcdCluster::start().expect("a 3-member etcd cluster");
        let endpoints = etcd.endpoints();
        let prefix = "/kres-test-fleet";
        let nodes = (1..=n)
            .map(|i| {
                let extra = format!(
                    "fleet:\n  enable: true\n  name: n{i}\n  health-hold: {hold}\n  etcd:\n    endpoints: [{}]\n    \
                     prefix: {prefix}\n",
                    endpoints.join(", ")
                );
                Api::start_with(1, &extra)
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Fleet { etcd, nodes, keys: Keys::new(prefix), runtime }
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
