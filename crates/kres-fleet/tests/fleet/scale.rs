//! The 1,000-node simulation (issue 14, "Scale"): one generation rolled across 1,000 simulated nodes on the
//! in-memory KV, in batches of 50 after a canary. Prints the virtual rollout time, the wall time the simulation
//! took, and the KV operations per node (agents) and for the coordinator; docs/fleet.md records the figures.
//! Run it alone with output: `cargo xtask test -p kres-fleet -E 'test(scale_)' --no-capture`.

use std::time::{Duration, Instant};

use kres_fleet::coordinator::Policy;
use kres_fleet::model::RolloutState;

use crate::sim::SimFleet;

#[tokio::test(start_paused = true)]
async fn scale_rollout_across_1000_nodes() {
    const NODES: usize = 1000;
    const BATCH: usize = 50;
    let mut f = SimFleet::new();
    f.apply_time = Duration::from_secs(2);
    for i in 0..NODES {
        f.start_node(&format!("node{i:04}"));
    }
    let policy = Policy { batch: BATCH, canary: Some("node0000".into()) };
    for c in ["c1", "c2", "c3"] {
        f.start_coordinator(c, policy.clone(), Duration::from_secs(120));
    }
    // Let every agent register (its alive key) and settle before measuring.
    f.wait(Duration::from_secs(60), "all alive", |s| s.nodes.iter().filter(|n| n.alive).count() == NODES).await;
    let names: Vec<String> = (0..NODES).map(|i| format!("node{i:04}")).collect();
    let ops_before: Vec<u64> = names.iter().map(|n| f.node_ops(n)).collect();
    let coord_before = f.coordinator_ops();
    let wall = Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let g = f.publish("workers: 4\n").await;
    // Bounded: 21 steps of 2 s apply each, plus the coordinator's reactions.
    let s = f
        .wait(Duration::from_secs(600), "every node on the generation", |s| {
            s.rollout.as_ref().is_some_and(|r| r.generation == g && r.state == RolloutState::Done)
        })
        .await;
    let virtual_time = virtual_start.elapsed();
    let wall_time = wall.elapsed();
    assert!(s.nodes.iter().all(|n| n.generation == g), "every node runs {g}");
    assert_eq!(crate::sim::etags(&s).len(), 1);
    let per_node: Vec<u64> = names.iter().zip(&ops_before).map(|(n, b)| f.node_ops(n) - b).collect();
    let total: u64 = per_node.iter().sum();
    let max = per_node.iter().max().copied().unwrap_or(0);
    let coord = f.coordinator_ops() - coord_before;
    let steps = NODES.div_ceil(BATCH) + 1;
    eprintln!(
        "fleet simulation: {NODES} nodes, canary + batches of {BATCH} ({steps} steps), apply 2 s (virtual)\n  \
         rollout time (virtual): {:.1} s, lower bound {steps} x 2 s = {} s\n  \
         simulation wall time: {:.2} s\n  \
         KV operations per node during the rollout: mean {:.1}, max {max} (agent: reads, status writes, keepalives)\n  \
         coordinator KV operations: {coord} ({:.2} per node)",
        virtual_time.as_secs_f64(),
        steps * 2,
        wall_time.as_secs_f64(),
        total as f64 / NODES as f64,
        coord as f64 / NODES as f64,
    );
    // Each node: read target (+ stable), write applying, read config, write applied, plus lease keepalives over
    // the rollout's virtual duration (one every 10 s / 3). Far more would mean the agents poll or loop.
    let keepalives = virtual_time.as_secs() / 3 + 2;
    assert!(max <= 12 + keepalives, "an agent made {max} KV operations");
    // The coordinator reads the fleet once per burst of changes: a few reads per step and per node.
    assert!(coord <= (NODES as u64) * 10, "the coordinator made {coord} KV operations");
    // Each step costs the apply time plus a bounded reaction; no step waits for a timer.
    assert!(virtual_time <= Duration::from_secs(steps as u64 * 3), "rollout took {virtual_time:?}");
}
