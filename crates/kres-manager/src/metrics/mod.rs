//! Metrics (reference-manager.md §6): `stats.list()` collected from every worker over the control sockets
//! concurrently, served as JSON in the reference's shape and as Prometheus text (see [`prometheus`]), plus the
//! manager's own counters.

mod prometheus;

use kres_datamodel::config::MetricsMode;
use serde_json::{Map, Value};

use crate::manager::handle::ManagerHandle;
use crate::manager::kresd::{Command, Stats};
pub use prometheus::{CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE, to_prometheus};

/// The statistics of one worker (`None`: it did not answer, or metrics are `manager-only`).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStats {
    pub instance: u32,
    pub stats: Option<Value>,
}

/// The reference's name of a worker in metrics: `kresd:kresd<N>`.
pub fn instance_id(instance: u32) -> String {
    format!("kresd:kresd{instance}")
}

/// Collects `stats.list()` from every running worker (per `/monitoring/metrics`), ordered by instance.
pub async fn collect(handle: &ManagerHandle) -> Vec<WorkerStats> {
    let snapshot = handle.snapshot();
    let lua = match snapshot.config.monitoring.metrics {
        MetricsMode::ManagerOnly => None,
        MetricsMode::Lazy => Some(Command::Stats(Stats::Lazy)),
        MetricsMode::Always => Some(Command::Stats(Stats::Always)),
    };
    let mut out: Vec<WorkerStats> = match lua {
        None => snapshot.workers.iter().map(|w| WorkerStats { instance: w.instance, stats: None }).collect(),
        Some(lua) => handle
            .command_workers(&lua)
            .await
            .into_iter()
            .map(|(worker, result)| {
                let stats = match result {
                    Ok(v @ Value::Object(_)) => Some(v),
                    Ok(other) => {
                        tracing::debug!("worker {}: unexpected statistics {other}", worker.instance);
                        None
                    }
                    Err(e) => {
                        tracing::debug!("worker {}: cannot collect statistics: {e}", worker.instance);
                        None
                    }
                };
                WorkerStats { instance: worker.instance, stats }
            })
            .collect(),
    };
    out.sort_by_key(|w| w.instance);
    out
}

/// `/metrics/json`: `{"kresd:kresd0": <stats.list()> | null, ...}`.
pub fn to_json(stats: &[WorkerStats]) -> Value {
    let mut map = Map::new();
    for w in stats {
        map.insert(instance_id(w.instance), w.stats.clone().unwrap_or(Value::Null));
    }
    Value::Object(map)
}

/// The key of the manager's own metrics in `/metrics/json` (next to the workers' `kresd:kresdN` keys).
pub const MANAGER_KEY: &str = "manager";

/// The manager's own metrics as `/metrics/json` shows them under [`MANAGER_KEY`]: the generation in force, the
/// applies by result, the apply-duration histogram and the time of the last apply.
pub fn manager_json(snapshot: &crate::manager::handle::Snapshot) -> Value {
    let m = &snapshot.metrics;
    let buckets: Map<String, Value> = crate::manager::handle::APPLY_DURATION_BUCKETS
        .iter()
        .zip(m.apply_duration.counts)
        .map(|(le, n)| (le.to_string(), Value::from(n)))
        .chain(std::iter::once(("+Inf".to_owned(), Value::from(m.apply_duration.count))))
        .collect();
    serde_json::json!({
        "generation": snapshot.generation,
        "applies": {"applied": m.applied, "refused": m.canary_failures, "rolled-back": m.rolled_back},
        "apply_duration_seconds": {"buckets": buckets, "sum": m.apply_duration.sum, "count": m.apply_duration.count},
        "last_apply_duration_seconds": m.last_apply_seconds,
        "last_apply_time": m.last_apply_time,
        "worker_restarts": m.worker_restarts,
        "workers": snapshot.workers.len(),
    })
}

/// The number of leaves (numbers, strings, booleans) in a JSON value.
pub fn leaf_count(value: &Value) -> usize {
    match value {
        Value::Object(m) => m.values().map(leaf_count).sum(),
        Value::Array(a) => a.iter().map(leaf_count).sum(),
        Value::Null => 0,
        _ => 1,
    }
}
