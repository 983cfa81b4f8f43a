//! The coordinator's decisions: a pure function from what etcd holds now to the next writes. No I/O, no clock (the
//! caller says whether the current step's deadline has passed), so every halt and rollback path is unit-tested.

use std::collections::BTreeMap;

use crate::keys::Keys;
use crate::kv::Op;
use crate::model::{NodeState, NodeStatus, Rollout, RolloutState};

/// One node as the coordinator sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    pub alive: bool,
    pub target: Option<u64>,
    pub status: Option<NodeStatus>,
}

impl NodeView {
    /// The node reports that it runs `generation`.
    fn runs(&self, generation: u64) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.observed == generation && s.applied == generation && s.state == NodeState::Applied)
    }

    /// The node reports that `generation` failed on it, with why.
    fn failed(&self, generation: u64) -> Option<String> {
        let s = self.status.as_ref()?;
        (s.observed == generation && s.state.is_failure())
            .then(|| format!("{}: {}", s.state.as_str(), s.error.as_deref().unwrap_or("no reason given")))
    }
}

/// What etcd holds, read in one pass.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub desired: Option<u64>,
    pub stable: Option<u64>,
    pub rollout: Option<Rollout>,
    pub nodes: BTreeMap<String, NodeView>,
}

/// The coordinator's settings that shape a rollout.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Nodes per step.
    pub batch: usize,
    /// Moved alone, first.
    pub canary: Option<String>,
}

/// The writes to make (one fenced transaction), and why. Empty: wait for a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub ops: Vec<Op>,
    /// The new `rollout` value, when it changes (its put is among `ops`).
    pub rollout: Option<Rollout>,
    pub why: String,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn set_rollout(keys: &Keys, mut ops: Vec<Op>, rollout: Rollout, why: String) -> Plan {
        ops.push(Op::put(keys.rollout(), serde_json::to_vec(&rollout).expect("rollout serializes")));
        Plan { ops, rollout: Some(rollout), why }
    }
}

/// The next step of the fleet. `step_expired`: the current step (or rollback step) has been waiting longer than its
/// deadline.
pub fn decide(keys: &Keys, snap: &Snapshot, policy: &Policy, step_expired: bool) -> Plan {
    match &snap.rollout {
        Some(r) if r.state == RolloutState::Progressing => progress(keys, snap, r, step_expired),
        Some(r) if r.state == RolloutState::RollingBack => roll_back(keys, snap, r, step_expired),
        _ => maybe_start(keys, snap, policy),
    }
}

/// No rollout running: start one when `desired` differs from `stable`, unless this very generation is halted
/// (by an operator, or its rollback failed: an operator must act, nothing loops).
fn maybe_start(keys: &Keys, snap: &Snapshot, policy: &Policy) -> Plan {
    let stable = snap.stable.unwrap_or(0);
    let Some(desired) = snap.desired else { return Plan::default() };
    if desired == stable {
        return Plan::default();
    }
    if let Some(r) = &snap.rollout
        && r.state == RolloutState::Halted
        && r.generation == desired
    {
        return Plan::default();
    }
    let mut order: Vec<String> = snap.nodes.iter().filter(|(_, v)| v.alive).map(|(n, _)| n.clone()).collect();
    if order.is_empty() {
        return Plan::default();
    }
    let canary = policy.canary.as_ref().and_then(|c| order.iter().position(|n| n == c));
    if let Some(i) = canary {
        let c = order.remove(i);
        order.insert(0, c);
    }
    let rollout = Rollout {
        generation: desired,
        from: stable,
        order,
        cursor: 0,
        state: RolloutState::Progressing,
        batch: policy.batch.max(1),
        canary: canary.is_some(),
        failed_node: None,
        reason: None,
        rollback_failed: false,
    };
    let why = format!("start rollout of generation {desired} from {stable} over {} nodes", rollout.order.len());
    Plan::set_rollout(keys, Vec::new(), rollout, why)
}

fn progress(keys: &Keys, snap: &Snapshot, r: &Rollout, step_expired: bool) -> Plan {
    let gen_ = r.generation;
    let step = r.step();
    if step.is_empty() {
        // Every node moved: the generation is stable; the nodes follow `stable` again (late joiners too).
        let mut ops = vec![Op::put(keys.stable(), gen_.to_string())];
        ops.extend(r.order.iter().map(|n| Op::delete(keys.target(n))));
        let done = Rollout { state: RolloutState::Done, ..r.clone() };
        return Plan::set_rollout(keys, ops, done, format!("generation {gen_} reached every node"));
    }
    let empty = NodeView::default();
    for n in step {
        let v = snap.nodes.get(n).unwrap_or(&empty);
        if let Some(why) = v.failed(gen_) {
            return fail(keys, r, n, format!("node {n} did not apply generation {gen_}: {why}"));
        }
        if !v.alive && !v.runs(gen_) {
            return fail(keys, r, n, format!("node {n} was lost during the apply of generation {gen_}"));
        }
    }
    let missing: Vec<Op> = step
        .iter()
        .filter(|n| snap.nodes.get(*n).unwrap_or(&empty).target != Some(gen_))
        .map(|n| Op::put(keys.target(n), gen_.to_string()))
        .collect();
    if !missing.is_empty() {
        return Plan { why: format!("set target {gen_} on {}", step.join(", ")), ops: missing, rollout: None };
    }
    if step.iter().all(|n| snap.nodes.get(n).unwrap_or(&empty).runs(gen_)) {
        let next = Rollout { cursor: r.cursor + step.len(), ..r.clone() };
        // The next step's targets go in the same transaction: one round trip less per step.
        let targets: Vec<Op> = next
            .step()
            .iter()
            .filter(|n| snap.nodes.get(*n).unwrap_or(&empty).target != Some(gen_))
            .map(|n| Op::put(keys.target(n), gen_.to_string()))
            .collect();
        let why = format!("{} run generation {gen_}", step.join(", "));
        return Plan::set_rollout(keys, targets, next, why);
    }
    if step_expired {
        let slow = step.iter().find(|n| !snap.nodes.get(*n).unwrap_or(&empty).runs(gen_)).expect("one is not done");
        return fail(keys, r, slow, format!("deadline: node {slow} did not report generation {gen_} in time"));
    }
    Plan::default()
}

/// Halts the rollout at the failed node and starts rolling back every node it touched, last first.
fn fail(keys: &Keys, r: &Rollout, node: &str, reason: String) -> Plan {
    let touched = (r.cursor + r.step().len()).min(r.order.len());
    let next = Rollout {
        state: RolloutState::RollingBack,
        cursor: touched,
        failed_node: Some(node.to_string()),
        reason: Some(reason.clone()),
        ..r.clone()
    };
    Plan::set_rollout(keys, Vec::new(), next, format!("halt: {reason}"))
}

fn roll_back(keys: &Keys, snap: &Snapshot, r: &Rollout, step_expired: bool) -> Plan {
    let from = r.from;
    if r.cursor == 0 {
        // Everything moved back: `desired` returns to `from` (unless an operator published something newer
        // meanwhile) and the nodes follow `stable` again.
        let mut ops: Vec<Op> = r.order.iter().map(|n| Op::delete(keys.target(n))).collect();
        if snap.desired == Some(r.generation) {
            ops.push(Op::put(keys.desired(), from.to_string()));
        }
        let halted = Rollout { state: RolloutState::Halted, ..r.clone() };
        return Plan::set_rollout(keys, ops, halted, format!("rolled back to generation {from}"));
    }
    let n = &r.order[r.cursor - 1];
    let empty = NodeView::default();
    let v = snap.nodes.get(n).unwrap_or(&empty);
    if v.target != Some(from) {
        return Plan {
            ops: vec![Op::put(keys.target(n), from.to_string())],
            rollout: None,
            why: format!("roll {n} back to {from}"),
        };
    }
    let back = Rollout { cursor: r.cursor - 1, ..r.clone() };
    if v.runs(from) {
        return Plan::set_rollout(keys, Vec::new(), back, format!("{n} is back on generation {from}"));
    }
    if let Some(why) = v.failed(from) {
        return stop(keys, r, format!("rollback of node {n} to generation {from} failed: {why}"));
    }
    if !v.alive {
        // A dead node cannot answer; its target says `from`, which it applies when it comes back.
        return Plan::set_rollout(keys, Vec::new(), back, format!("{n} is gone; it returns to {from} when it is back"));
    }
    if step_expired {
        return stop(keys, r, format!("rollback of node {n} to generation {from} did not complete in time"));
    }
    Plan::default()
}

/// A rollback that failed: stop where we are and say so. Nothing retries (`maybe_start` leaves a halted
/// generation alone); an operator publishes or rolls back.
fn stop(keys: &Keys, r: &Rollout, reason: String) -> Plan {
    let first = r.reason.clone().unwrap_or_default();
    let halted = Rollout {
        state: RolloutState::Halted,
        rollback_failed: true,
        reason: Some(format!("{reason} (after: {first})")),
        ..r.clone()
    };
    Plan::set_rollout(keys, Vec::new(), halted, format!("halt, operator needed: {reason}"))
}
