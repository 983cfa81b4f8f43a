//! Fleet mode (`/fleet/enable`, docs/fleet.md): the node agent and a coordinator candidate of `kres-fleet` run next
//! to the manager. The agent applies the generations etcd assigns to this node through the manager's own pipeline
//! ([`ManagerApplier`]: the local files with the fleet's document merged over them, policy-loader, probed canary,
//! rolling restart, health hold, automatic rollback), and reports the outcome in the node's status; the coordinator
//! (one per fleet, elected through a leased lock) moves the fleet batch by batch.
//!
//! `/fleet` cannot change at runtime (the apply pipeline refuses it), so both run from start to shutdown. Cut off
//! from etcd, they only retry: the node keeps serving its last applied configuration.

use std::sync::Arc;
use std::time::Duration;

use kres_datamodel::config::FleetSchema;
use kres_fleet::agent::{Agent, AgentOptions};
use kres_fleet::coordinator::{Coordinator, CoordinatorOptions, Policy};
use kres_fleet::kv::EtcdKv;
use kres_fleet::{ApplyResult, NodeApplier};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::manager::fleet::FleetLayer;
use crate::manager::handle::{ApplyError, ManagerHandle};

/// Applies fleet generations through the manager actor.
pub struct ManagerApplier {
    handle: ManagerHandle,
}

impl NodeApplier for ManagerApplier {
    /// The ETag a node reports is the generation's (of the fleet's document, the same on every node), not the
    /// node's merged configuration's (which differs per node: its own listen addresses, rundir, name).
    async fn apply(&self, generation: u64, config: Option<Vec<u8>>) -> ApplyResult {
        // Parsed once, here: its ETag is what the node reports, and the actor merges it.
        let layer = match config.map(|bytes| FleetLayer::parse(generation, &bytes)).transpose() {
            Ok(layer) => layer,
            Err(e) => return ApplyResult::Refused { reason: e.to_string() },
        };
        let fleet_etag = layer.as_ref().map(|l| kres_datamodel::etag::etag(&l.document));
        match self.handle.fleet_apply(generation, layer).await {
            Ok(outcome) => ApplyResult::Applied { etag: fleet_etag.unwrap_or(outcome.etag) },
            Err(e @ ApplyError::RolledBack { .. }) => ApplyResult::RolledBack { reason: e.to_string() },
            Err(
                e @ (ApplyError::Rejected { .. }
                | ApplyError::Invalid(_)
                | ApplyError::BadRequest(_)
                | ApplyError::Forbidden(_)
                | ApplyError::Load(_)
                | ApplyError::NotFound(_)
                | ApplyError::PreconditionFailed),
            ) => ApplyResult::Refused { reason: e.to_string() },
            Err(e @ (ApplyError::Failed(_) | ApplyError::ShuttingDown)) => {
                ApplyResult::Failed { reason: e.to_string() }
            }
        }
    }
}

/// The running agent and coordinator.
pub struct FleetTask {
    tasks: Vec<JoinHandle<()>>,
}

impl FleetTask {
    /// Waits for both to finish after the shutdown token was cancelled (the agent revokes its `alive` lease).
    pub async fn stop(self) {
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(3), task).await.is_err() {
                tracing::debug!("the fleet agent did not stop within 3 s");
            }
        }
    }
}

/// Starts the agent and the coordinator candidate when `/fleet/enable` is set. A configuration that names no
/// usable connection (an unreadable password file) is logged; the node then runs alone on its files.
pub fn spawn(handle: ManagerHandle, fleet: &FleetSchema, shutdown: CancellationToken) -> Option<FleetTask> {
    if !fleet.enable {
        return None;
    }
    let (opts, keys) = match kres_fleet::config::connection(fleet) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("fleet mode is enabled but cannot start: {e}; this node runs alone on its files");
            return None;
        }
    };
    let name = kres_fleet::config::node_name(fleet);
    let kv = EtcdKv::new(opts);
    tracing::info!(
        "fleet mode: node '{name}', etcd {}, prefix {}",
        fleet.etcd.endpoints.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(","),
        fleet.etcd.prefix
    );
    let applier = Arc::new(ManagerApplier { handle });
    let agent = Agent::new(kv.clone(), keys.clone(), AgentOptions::new(name.clone()), applier);
    let mut coordinator = CoordinatorOptions::new(name);
    coordinator.policy = Policy {
        batch: usize::try_from(fleet.batch.0).unwrap_or(1).max(1),
        canary: fleet.canary_node.as_ref().map(|n| n.as_str().to_owned()),
    };
    let coordinator = Coordinator::new(kv, keys, coordinator);
    let tasks = vec![tokio::spawn(agent.run(shutdown.clone())), tokio::spawn(coordinator.run(shutdown))];
    Some(FleetTask { tasks })
}

/// The answer of a local configuration write on a fleet node (409).
pub fn local_write_refused() -> String {
    "this node takes its configuration from the fleet (/fleet/enable): local writes to /v1/config are refused; \
     publish a new generation with `kresctl fleet publish FILE` (the node's own settings live in its local file)"
        .into()
}
