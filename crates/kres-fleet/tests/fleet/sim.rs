//! A simulated fleet on the in-memory KV: node agents with fake appliers and coordinator candidates, each on its own
//! KV handle (so one can be "killed": its tasks aborted and its handle cut off, its leases left to expire).
//! Tests run with paused tokio time: apply durations, lease TTLs and deadlines are virtual and exact.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kres_fleet::admin::{self, FleetStatus};
use kres_fleet::agent::{Agent, AgentOptions};
use kres_fleet::coordinator::{Coordinator, CoordinatorOptions, Policy};
use kres_fleet::keys::Keys;
use kres_fleet::kv::{Kv, MemKv};
use kres_fleet::model::RolloutState;
use kres_fleet::{ApplyResult, NodeApplier};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a fake node does with a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Apply,
    Refuse,
    FailHealthHold,
    Hang,
}

#[derive(Debug, Default)]
pub struct FakeState {
    pub behaviour: HashMap<u64, Behaviour>,
    /// Every call: (generation, config, when) in order.
    pub calls: Vec<(u64, Option<Vec<u8>>, tokio::time::Instant)>,
}

/// A node's apply pipeline, faked: takes `apply_time`, then does what `behaviour` says for the generation.
#[derive(Debug, Clone)]
pub struct FakeApplier {
    pub state: Arc<Mutex<FakeState>>,
    pub apply_time: Duration,
}

impl NodeApplier for FakeApplier {
    async fn apply(&self, generation: u64, config: Option<Vec<u8>>) -> ApplyResult {
        let behaviour = {
            let mut s = self.state.lock().unwrap();
            s.calls.push((generation, config.clone(), tokio::time::Instant::now()));
            s.behaviour.get(&generation).copied().unwrap_or(Behaviour::Apply)
        };
        tokio::time::sleep(self.apply_time).await;
        match behaviour {
            Behaviour::Apply => ApplyResult::Applied { etag: etag(config.as_deref()) },
            Behaviour::Refuse => ApplyResult::Refused { reason: "canary worker refused the configuration".into() },
            Behaviour::FailHealthHold => {
                ApplyResult::RolledBack { reason: "health hold: no answer from a worker".into() }
            }
            Behaviour::Hang => std::future::pending().await,
        }
    }
}

/// A stand-in ETag: the same document gives the same tag on every node.
pub fn etag(config: Option<&[u8]>) -> String {
    match config {
        None => "local".into(),
        Some(c) => format!(
            "\"{:016x}\"",
            c.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
        ),
    }
}

struct Member {
    kv: MemKv,
    tasks: Vec<JoinHandle<()>>,
    cancel: CancellationToken,
}

pub struct SimFleet {
    pub kv: MemKv,
    pub keys: Keys,
    pub appliers: HashMap<String, FakeApplier>,
    nodes: HashMap<String, Member>,
    coordinators: HashMap<String, Member>,
    pub alive_ttl: Duration,
    pub apply_time: Duration,
}

impl SimFleet {
    pub fn new() -> SimFleet {
        SimFleet {
            kv: MemKv::new(),
            keys: Keys::new("/fleet"),
            appliers: HashMap::new(),
            nodes: HashMap::new(),
            coordinators: HashMap::new(),
            alive_ttl: Duration::from_secs(10),
            apply_time: Duration::from_secs(2),
        }
    }

    /// Starts a node's agent (keeping its fake applier's state if it ran before).
    pub fn start_node(&mut self, name: &str) {
        let apply_time = self.apply_time;
        let applier = self
            .appliers
            .entry(name.to_string())
            .or_insert_with(|| FakeApplier { state: Arc::default(), apply_time })
            .clone();
        let kv = self.kv.handle();
        let cancel = CancellationToken::new();
        let mut opts = AgentOptions::new(name);
        opts.alive_ttl = self.alive_ttl;
        let agent = Agent::new(kv.clone(), self.keys.clone(), opts, Arc::new(applier));
        let task = tokio::spawn(agent.run(cancel.clone()));
        self.nodes.insert(name.to_string(), Member { kv, tasks: vec![task], cancel });
    }

    /// Starts a coordinator candidate.
    pub fn start_coordinator(&mut self, name: &str, policy: Policy, step_deadline: Duration) {
        let kv = self.kv.handle();
        let cancel = CancellationToken::new();
        let mut opts = CoordinatorOptions::new(name);
        opts.policy = policy;
        opts.step_deadline = step_deadline;
        let c = Coordinator::new(kv.clone(), self.keys.clone(), opts);
        let task = tokio::spawn(c.run(cancel.clone()));
        self.coordinators.insert(name.to_string(), Member { kv, tasks: vec![task], cancel });
    }

    /// kill -9: the node's tasks stop at once and its connection goes dead; its leases expire on their own.
    pub fn kill_node(&mut self, name: &str) {
        kill(self.nodes.remove(name).expect("a running node"));
    }

    pub fn kill_coordinator(&mut self, name: &str) {
        kill(self.coordinators.remove(name).expect("a running coordinator"));
    }

    /// Cuts a node off from etcd (or reconnects it); its agent keeps running.
    pub fn cut_node(&self, name: &str, cut: bool) {
        self.nodes[name].kv.set_cut(cut);
    }

    pub fn node_ops(&self, name: &str) -> u64 {
        self.nodes[name].kv.ops()
    }

    pub fn coordinator_ops(&self) -> u64 {
        self.coordinators.values().map(|m| m.kv.ops()).sum()
    }

    pub fn set_behaviour(&self, node: &str, generation: u64, b: Behaviour) {
        self.appliers[node].state.lock().unwrap().behaviour.insert(generation, b);
    }

    /// The generations `node`'s applier was asked to apply, in order.
    pub fn calls(&self, node: &str) -> Vec<u64> {
        self.appliers[node].state.lock().unwrap().calls.iter().map(|(g, _, _)| *g).collect()
    }

    /// When `node`'s applier was last asked to apply `generation`.
    pub fn last_call(&self, node: &str, generation: u64) -> tokio::time::Instant {
        let s = self.appliers[node].state.lock().unwrap();
        s.calls.iter().rev().find(|(g, _, _)| *g == generation).map(|(_, _, t)| *t).expect("called")
    }

    pub async fn publish(&self, doc: &str) -> u64 {
        admin::publish(&self.kv, &self.keys, doc.as_bytes()).await.expect("publish")
    }

    pub async fn status(&self) -> FleetStatus {
        admin::status(&self.kv, &self.keys).await.expect("status")
    }

    /// Waits (virtual time, at most `limit`) until `cond` holds on the fleet status; panics with the status if not.
    pub async fn wait(&self, limit: Duration, what: &str, mut cond: impl FnMut(&FleetStatus) -> bool) -> FleetStatus {
        let step = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        loop {
            let s = self.status().await;
            if cond(&s) {
                return s;
            }
            assert!(waited < limit, "{what}: not reached after {limit:?} (virtual); status: {s:#?}");
            tokio::time::sleep(step).await;
            waited += step;
        }
    }

    /// Waits until the rollout of `generation` is done or halted.
    pub async fn settle(&self, generation: u64, limit: Duration) -> FleetStatus {
        self.wait(limit, &format!("rollout of {generation} settles"), |s| {
            s.rollout.as_ref().is_some_and(|r| {
                r.generation == generation && matches!(r.state, RolloutState::Done | RolloutState::Halted)
            })
        })
        .await
    }

    pub async fn revision(&self) -> i64 {
        self.kv.get("/").await.unwrap().1
    }

    pub fn stop_all(&mut self) {
        for (_, m) in self.nodes.drain().chain(self.coordinators.drain()) {
            m.cancel.cancel();
            for t in m.tasks {
                t.abort();
            }
        }
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn kill(m: Member) {
    m.kv.set_cut(true);
    for t in m.tasks {
        t.abort();
    }
}

/// The policy of the tests unless they say otherwise: one node per step, no canary.
pub fn one_by_one() -> Policy {
    Policy { batch: 1, canary: None }
}

/// A fleet of `n` nodes `n1..` and one coordinator candidate per node, started.
pub fn fleet(n: usize, policy: &Policy, deadline: Duration) -> SimFleet {
    let mut f = SimFleet::new();
    for i in 1..=n {
        f.start_node(&format!("n{i}"));
        f.start_coordinator(&format!("c{i}"), policy.clone(), deadline);
    }
    f
}

/// The set of distinct ETags the nodes report.
pub fn etags(s: &FleetStatus) -> HashSet<Option<String>> {
    s.nodes.iter().map(|n| n.etag.clone()).collect()
}
