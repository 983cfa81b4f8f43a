//! The rollout protocol on the in-memory KV with fake appliers: every halt and rollback path, coordinator failover,
//! late joiners, compaction. Virtual time (paused tokio clock): each bound below is virtual seconds.

use std::time::Duration;

use kres_fleet::coordinator::Policy;
use kres_fleet::kv::Kv;
use kres_fleet::model::RolloutState;

use crate::sim::{Behaviour, etags, fleet, one_by_one};

const MIN: Duration = Duration::from_secs(60);
const DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(start_paused = true)]
async fn rollout_publish_converges_on_every_node_once() {
    let f = fleet(3, &one_by_one(), DEADLINE);
    let g = f.publish("workers: 2\n").await;
    assert_eq!(g, 1);
    let s = f.settle(1, MIN).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!(r.state, RolloutState::Done);
    assert_eq!((s.desired, s.stable), (Some(1), Some(1)));
    assert_eq!(r.order, ["n1", "n2", "n3"]);
    assert!(s.nodes.iter().all(|n| n.alive && n.generation == 1 && n.state == "applied"), "{s:#?}");
    assert_eq!(etags(&s).len(), 1, "one ETag everywhere: {s:#?}");
    for n in ["n1", "n2", "n3"] {
        assert_eq!(f.calls(n), [1], "{n} applied generation 1 once");
    }
    // The config each node got is the published document.
    let got = f.appliers["n2"].state.lock().unwrap().calls[0].1.clone();
    assert_eq!(got.as_deref(), Some(&b"workers: 2\n"[..]));
    // A second generation goes the same way, and the nodes end without targets (following `stable`).
    f.publish("workers: 3\n").await;
    let s = f.settle(2, MIN).await;
    assert_eq!(s.rollout.as_ref().unwrap().state, RolloutState::Done);
    assert!(s.nodes.iter().all(|n| n.generation == 2 && n.target.is_none()), "{s:#?}");
}

/// The rollout is ordered node by node: the second node starts only after the first reported applied.
#[tokio::test(start_paused = true)]
async fn rollout_moves_one_node_at_a_time() {
    let f = fleet(3, &one_by_one(), DEADLINE);
    f.publish("a").await;
    let mut seen_applying = Vec::new();
    f.wait(MIN, "done", |s| {
        let applying: Vec<&str> = s.nodes.iter().filter(|n| n.state == "applying").map(|n| n.name.as_str()).collect();
        assert!(applying.len() <= 1, "two nodes applying at once: {s:#?}");
        if let Some(a) = applying.first()
            && seen_applying.last() != Some(&a.to_string())
        {
            seen_applying.push(a.to_string());
        }
        s.rollout.as_ref().is_some_and(|r| r.state == RolloutState::Done)
    })
    .await;
    assert_eq!(seen_applying, ["n1", "n2", "n3"]);
}

#[tokio::test(start_paused = true)]
async fn rollout_batches_and_canary_first() {
    let policy = Policy { batch: 2, canary: Some("n4".into()) };
    let f = fleet(5, &policy, DEADLINE);
    f.publish("a").await;
    let mut max_applying = 0;
    let s = f
        .wait(MIN, "done", |s| {
            max_applying = max_applying.max(s.nodes.iter().filter(|n| n.state == "applying").count());
            s.rollout.as_ref().is_some_and(|r| r.state == RolloutState::Done)
        })
        .await;
    assert_eq!(s.rollout.unwrap().order, ["n4", "n1", "n2", "n3", "n5"]);
    assert_eq!(max_applying, 2, "steps of 2 after the canary");
}

#[tokio::test(start_paused = true)]
async fn rollout_canary_refusal_changes_nothing() {
    let f = fleet(3, &one_by_one(), DEADLINE);
    f.publish("good").await;
    f.settle(1, MIN).await;
    f.set_behaviour("n1", 2, Behaviour::Refuse);
    f.publish("bad").await;
    let s = f.settle(2, MIN).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!(r.state, RolloutState::Halted);
    assert_eq!(r.failed_node.as_deref(), Some("n1"));
    assert!(r.reason.as_deref().unwrap().contains("refused: canary worker refused"), "{r:?}");
    assert!(!r.rollback_failed);
    assert_eq!((s.desired, s.stable), (Some(1), Some(1)), "desired set back");
    assert!(s.nodes.iter().all(|n| n.generation == 1), "{s:#?}");
    assert_eq!(f.calls("n1"), [1, 2], "n1 refused 2 and needed no rollback apply");
    assert_eq!(f.calls("n2"), [1]);
    assert_eq!(f.calls("n3"), [1]);
    // Halted: nothing retries the refused generation.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(f.calls("n1"), [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn rollout_health_hold_failure_rolls_back_in_reverse_order() {
    let f = fleet(3, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.set_behaviour("n2", 2, Behaviour::FailHealthHold);
    f.publish("two").await;
    let s = f.settle(2, MIN).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!(r.state, RolloutState::Halted);
    assert_eq!(r.failed_node.as_deref(), Some("n2"));
    assert!(r.reason.as_deref().unwrap().contains("rolled-back: health hold"), "{r:?}");
    assert_eq!((s.desired, s.stable), (Some(1), Some(1)));
    assert_eq!(f.calls("n1"), [1, 2, 1], "n1 moved to 2, then back to 1");
    assert_eq!(f.calls("n2"), [1, 2], "n2 rolled itself back; no second apply");
    assert_eq!(f.calls("n3"), [1], "n3 untouched");
    assert!(s.nodes.iter().all(|n| n.generation == 1 && n.target.is_none()), "{s:#?}");
    assert_eq!(etags(&s).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn rollout_node_lost_mid_apply_halts_and_rolls_back() {
    let mut f = fleet(3, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.set_behaviour("n2", 2, Behaviour::Hang);
    f.publish("two").await;
    f.wait(MIN, "n2 applying 2", |s| s.nodes.iter().any(|n| n.name == "n2" && n.state == "applying")).await;
    f.kill_node("n2");
    let s = f.settle(2, MIN).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!(r.state, RolloutState::Halted);
    assert_eq!(r.failed_node.as_deref(), Some("n2"));
    assert!(r.reason.as_deref().unwrap().contains("lost"), "{r:?}");
    assert_eq!(f.calls("n1"), [1, 2, 1]);
    assert_eq!(f.calls("n3"), [1]);
    assert_eq!((s.desired, s.stable), (Some(1), Some(1)));
}

/// A node that hangs: the step deadline halts the rollout; the hung node cannot roll back either, so the rollback
/// stops with an alert and nothing loops.
#[tokio::test(start_paused = true)]
async fn rollout_deadline_then_failed_rollback_stops_without_looping() {
    let f = fleet(3, &one_by_one(), Duration::from_secs(30));
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.set_behaviour("n2", 2, Behaviour::Hang);
    f.publish("two").await;
    let s = f.settle(2, 3 * MIN).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!(r.state, RolloutState::Halted);
    assert!(r.rollback_failed, "{r:?}");
    let reason = r.reason.as_deref().unwrap();
    assert!(reason.contains("rollback of node n2") && reason.contains("deadline"), "{reason}");
    assert_eq!(s.desired, Some(2), "desired stays: an operator decides");
    let n1 = f.calls("n1");
    tokio::time::sleep(Duration::from_secs(900)).await;
    let later = f.status().await;
    assert_eq!(later.rollout, s.rollout, "nothing moved in 15 minutes");
    assert_eq!(f.calls("n1"), n1);
    assert_eq!(f.calls("n3"), [1]);
}

/// The coordinating manager dies mid-rollout: another takes the lock after its lease expires and resumes at the
/// cursor. No node applies the generation twice.
#[tokio::test(start_paused = true)]
async fn rollout_coordinator_killed_successor_resumes_at_cursor() {
    let mut f = fleet(4, &one_by_one(), DEADLINE);
    f.publish("one").await;
    let s = f.wait(MIN, "cursor past n1", |s| s.rollout.as_ref().is_some_and(|r| r.cursor >= 1)).await;
    let first = s.coordinator.clone().expect("a coordinator");
    f.kill_coordinator(&first);
    let s = f.settle(1, 2 * MIN).await;
    assert_eq!(s.rollout.as_ref().unwrap().state, RolloutState::Done);
    assert_ne!(s.coordinator.as_deref(), Some(first.as_str()), "another coordinator finished it");
    for n in ["n1", "n2", "n3", "n4"] {
        assert_eq!(f.calls(n), [1], "{n} applied once");
    }
}

#[tokio::test(start_paused = true)]
async fn rollout_operator_halt_and_resume() {
    let f = fleet(3, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.wait(MIN, "n1 done", |s| s.rollout.as_ref().is_some_and(|r| r.cursor >= 1)).await;
    let halted = kres_fleet::admin::halt(&f.kv, &f.keys).await.unwrap();
    assert_eq!(halted.state, RolloutState::Halted);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let s = f.status().await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!(r.state, RolloutState::Halted);
    let moved = s.nodes.iter().filter(|n| n.generation == 1).count();
    assert!(moved <= 2, "at most the step in flight finished: {s:#?}");
    kres_fleet::admin::resume(&f.kv, &f.keys).await.unwrap();
    let s = f.settle(1, MIN).await;
    assert_eq!(s.rollout.unwrap().state, RolloutState::Done);
    // Resume of a finished rollout is refused.
    assert!(kres_fleet::admin::resume(&f.kv, &f.keys).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn rollout_fleet_rollback_command() {
    let f = fleet(2, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.publish("two").await;
    f.settle(2, MIN).await;
    let to = kres_fleet::admin::rollback(&f.kv, &f.keys, None).await.unwrap();
    assert_eq!(to, 1);
    let s = f
        .wait(MIN, "back on 1", |s| {
            s.stable == Some(1) && s.rollout.as_ref().is_some_and(|r| r.state == RolloutState::Done)
        })
        .await;
    assert!(s.nodes.iter().all(|n| n.generation == 1));
    assert_eq!(f.calls("n1"), [1, 2, 1]);
    assert!(kres_fleet::admin::rollback(&f.kv, &f.keys, Some(9)).await.is_err(), "no generation 9");
}

/// A node that joins after rollouts converges to `stable` (once, straight to it).
#[tokio::test(start_paused = true)]
async fn rollout_late_joiner_converges_to_stable() {
    let mut f = fleet(2, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.publish("two").await;
    f.settle(2, MIN).await;
    f.start_node("n9");
    let s = f.wait(MIN, "n9 on 2", |s| s.nodes.iter().any(|n| n.name == "n9" && n.generation == 2)).await;
    assert_eq!(etags(&s).len(), 1);
    assert_eq!(f.calls("n9"), [2]);
}

/// A node cut off while generations move on and the history is compacted: it keeps what it runs (no apply while
/// cut), then, reconnected, re-reads everything and converges.
#[tokio::test(start_paused = true)]
async fn rollout_cut_off_node_keeps_serving_then_converges_after_compaction() {
    let f = fleet(3, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.cut_node("n3", true);
    // Its alive key expires; the next rollout leaves it out.
    f.wait(MIN, "n3 not alive", |s| s.nodes.iter().any(|n| n.name == "n3" && !n.alive)).await;
    f.publish("two").await;
    let s = f.settle(2, MIN).await;
    assert_eq!(s.rollout.as_ref().unwrap().order, ["n1", "n2"]);
    assert_eq!(f.calls("n3"), [1], "a cut-off node applies nothing (keeps serving generation 1)");
    f.kv.compact(f.revision().await).await.unwrap();
    f.cut_node("n3", false);
    let s = f.wait(MIN, "n3 on 2", |s| s.nodes.iter().any(|n| n.name == "n3" && n.alive && n.generation == 2)).await;
    assert_eq!(etags(&s).len(), 1);
    assert_eq!(f.calls("n3"), [1, 2]);
}

/// The agent alone (no coordinator): it follows its `target`, and a generation it refused is not tried again
/// however often its keys change, until the target changes.
#[tokio::test(start_paused = true)]
async fn agent_does_not_retry_a_refused_generation() {
    use kres_fleet::kv::Op;
    let mut f = crate::sim::SimFleet::new();
    f.start_node("n1");
    f.set_behaviour("n1", 2, Behaviour::Refuse);
    f.publish("one").await;
    f.publish("two").await;
    let target = f.keys.target("n1");
    f.kv.txn(vec![], vec![Op::put(&target, "2")]).await.unwrap();
    let s = f.wait(MIN, "n1 refused 2", |s| s.nodes.iter().any(|n| n.state == "refused")).await;
    assert_eq!(s.nodes[0].observed, Some(2));
    assert_eq!(s.nodes[0].generation, 0, "still on its local file");
    for v in ["1", "1", "2"] {
        // Writes that wake the agent: `stable` changes and the same target written again.
        f.kv.txn(vec![], vec![Op::put(f.keys.stable(), v), Op::put(&target, "2")]).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert_eq!(f.calls("n1"), [2], "refused once, never retried");
    f.kv.txn(vec![], vec![Op::put(&target, "1")]).await.unwrap();
    f.wait(MIN, "n1 on 1", |s| s.nodes[0].generation == 1).await;
    assert_eq!(f.calls("n1"), [2, 1]);
}

/// A failure on the last of four nodes moves the three before it back, last moved first.
#[tokio::test(start_paused = true)]
async fn rollout_rollback_runs_in_reverse_order() {
    let f = fleet(4, &one_by_one(), DEADLINE);
    f.publish("one").await;
    f.settle(1, MIN).await;
    f.set_behaviour("n4", 2, Behaviour::FailHealthHold);
    f.publish("two").await;
    let s = f.settle(2, 2 * MIN).await;
    assert_eq!(s.rollout.as_ref().unwrap().failed_node.as_deref(), Some("n4"));
    for n in ["n1", "n2", "n3"] {
        assert_eq!(f.calls(n), [1, 2, 1], "{n}");
    }
    assert!(f.last_call("n3", 1) < f.last_call("n2", 1), "n3 back before n2");
    assert!(f.last_call("n2", 1) < f.last_call("n1", 1), "n2 back before n1");
}
