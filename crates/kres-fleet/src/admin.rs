//! What an operator does to a fleet (`kresctl fleet ...`): publish a generation, read the status, halt, resume,
//! roll back. Each write is one compare-and-swap transaction; a concurrent writer makes it fail with
//! [`FleetError::Conflict`] instead of being overwritten.

use serde::Serialize;

use crate::coordinator::read_snapshot;
use crate::error::FleetError;
use crate::keys::Keys;
use crate::kv::{Compare, Kv, Op};
use crate::model::{NodeStatus, Rollout, RolloutState, parse_generation};

/// Stores `config` as the next generation and makes it `desired`, in one transaction. Returns the generation.
pub async fn publish<K: Kv>(kv: &K, keys: &Keys, config: &[u8]) -> Result<u64, FleetError> {
    let configs = kv.range(&keys.configs()).await?;
    let last = configs.kvs.iter().filter_map(|c| keys.config_generation(&c.key)).max().unwrap_or(0);
    let (desired, _) = kv.get(&keys.desired()).await?;
    let desired_rev = desired.as_ref().map_or(0, |d| d.mod_revision);
    let next = last + 1;
    let compares = vec![Compare::Absent(keys.config(next)), Compare::ModRevision(keys.desired(), desired_rev)];
    let ops = vec![Op::put(keys.config(next), config.to_vec()), Op::put(keys.desired(), next.to_string())];
    if kv.txn(compares, ops).await?.succeeded { Ok(next) } else { Err(FleetError::Conflict { what: "publish".into() }) }
}

/// Makes an existing generation `desired` again (the coordinator rolls it out like any other). Without
/// `generation`: the one before `stable` (the `from` of the rollout that made `stable`).
pub async fn rollback<K: Kv>(kv: &K, keys: &Keys, generation: Option<u64>) -> Result<u64, FleetError> {
    let (snap, _, _) = read_snapshot(kv, keys).await?;
    let target = match generation {
        Some(g) => g,
        None => match (&snap.rollout, snap.stable) {
            (Some(r), Some(s)) if r.state == RolloutState::Done && r.generation == s && r.from != 0 => r.from,
            _ => {
                return Err(FleetError::Refused(
                    "no earlier generation is known; name one: kresctl fleet rollback GEN".into(),
                ));
            }
        },
    };
    if kv.get(&keys.config(target)).await?.0.is_none() {
        return Err(FleetError::Refused(format!("generation {target} does not exist ({})", keys.config(target))));
    }
    let (desired, _) = kv.get(&keys.desired()).await?;
    let rev = desired.as_ref().map_or(0, |d| d.mod_revision);
    let ok = kv
        .txn(vec![Compare::ModRevision(keys.desired(), rev)], vec![Op::put(keys.desired(), target.to_string())])
        .await?
        .succeeded;
    if ok { Ok(target) } else { Err(FleetError::Conflict { what: "rollback".into() }) }
}

async fn change_rollout<K: Kv>(
    kv: &K,
    keys: &Keys,
    what: &str,
    change: impl FnOnce(&Rollout, Option<u64>) -> Result<Rollout, FleetError>,
) -> Result<Rollout, FleetError> {
    let (cur, _) = kv.get(&keys.rollout()).await?;
    let Some(cur) = cur else { return Err(FleetError::Refused("no rollout has started yet".into())) };
    let rollout: Rollout = serde_json::from_slice(&cur.value)
        .map_err(|e| FleetError::Corrupt { key: keys.rollout(), reason: e.to_string() })?;
    let (desired, _) = kv.get(&keys.desired()).await?;
    let next = change(&rollout, desired.and_then(|d| parse_generation(&d.value)))?;
    let value = serde_json::to_vec(&next).expect("rollout serializes");
    let ok = kv
        .txn(vec![Compare::ModRevision(keys.rollout(), cur.mod_revision)], vec![Op::put(keys.rollout(), value)])
        .await?
        .succeeded;
    if ok { Ok(next) } else { Err(FleetError::Conflict { what: what.into() }) }
}

/// Stops a progressing rollout where it is (no rollback); [`resume`] continues it.
pub async fn halt<K: Kv>(kv: &K, keys: &Keys) -> Result<Rollout, FleetError> {
    change_rollout(kv, keys, "halt", |r, _| {
        if r.state != RolloutState::Progressing {
            return Err(FleetError::Refused(format!("the rollout is {}, not progressing", r.state.as_str())));
        }
        Ok(Rollout { state: RolloutState::Halted, reason: Some("halted by an operator".into()), ..r.clone() })
    })
    .await
}

/// Continues a rollout an operator halted.
pub async fn resume<K: Kv>(kv: &K, keys: &Keys) -> Result<Rollout, FleetError> {
    change_rollout(kv, keys, "resume", |r, desired| {
        if r.state != RolloutState::Halted || r.failed_node.is_some() || r.rollback_failed {
            return Err(FleetError::Refused(format!(
                "only a rollout halted by an operator can be resumed (this one is {}{}); publish or roll back instead",
                r.state.as_str(),
                r.reason.as_deref().map(|w| format!(": {w}")).unwrap_or_default()
            )));
        }
        if desired != Some(r.generation) {
            return Err(FleetError::Refused("desired has moved on since the halt; nothing to resume".into()));
        }
        Ok(Rollout { state: RolloutState::Progressing, reason: None, ..r.clone() })
    })
    .await
}

/// One node in [`FleetStatus`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeReport {
    pub name: String,
    pub alive: bool,
    /// The generation it runs (from its status; 0: its local file alone).
    pub generation: u64,
    /// Its status' state (`unknown` before its first status).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `kresctl fleet status --json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FleetStatus {
    pub desired: Option<u64>,
    pub stable: Option<u64>,
    pub rollout: Option<Rollout>,
    pub coordinator: Option<String>,
    pub nodes: Vec<NodeReport>,
}

/// Reads the fleet's state.
pub async fn status<K: Kv>(kv: &K, keys: &Keys) -> Result<FleetStatus, FleetError> {
    let (snap, _, _) = read_snapshot(kv, keys).await?;
    let (coordinator, _) = kv.get(&keys.coordinator()).await?;
    let nodes = snap
        .nodes
        .iter()
        .map(|(name, v)| {
            let s: Option<&NodeStatus> = v.status.as_ref();
            NodeReport {
                name: name.clone(),
                alive: v.alive,
                generation: s.map_or(0, |s| s.applied),
                state: s.map_or_else(|| "unknown".to_string(), |s| s.state.as_str().to_string()),
                target: v.target,
                observed: s.map(|s| s.observed),
                etag: s.and_then(|s| s.etag.clone()),
                error: s.and_then(|s| s.error.clone()),
            }
        })
        .collect();
    Ok(FleetStatus {
        desired: snap.desired,
        stable: snap.stable,
        rollout: snap.rollout,
        coordinator: coordinator.map(|c| c.value_str().to_string()),
        nodes,
    })
}
