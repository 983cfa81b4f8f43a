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

/// The number of leaves (numbers, strings, booleans) in a JSON value.
pub fn leaf_count(value: &Value) -> usize {
    match value {
        Value::Object(m) => m.values().map(leaf_count).sum(),
        Value::Array(a) => a.iter().map(leaf_count).sum(),
        Value::Null => 0,
        _ => 1,
    }
}
