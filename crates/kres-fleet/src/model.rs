//! The values stored in etcd (JSON), shared by the coordinator, the node agents and `kresctl fleet`.

use serde::{Deserialize, Serialize};

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Moving nodes to `generation`, batch by batch.
    Progressing,
    /// Stopped: by an operator (resume continues), after a completed rollback, or after a failed rollback (an
    /// operator must look; nothing retries).
    Halted,
    /// Moving the nodes already moved back to `from`, in reverse order.
    RollingBack,
    /// Every node runs `generation`; it is `stable`.
    Done,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Progressing => "progressing",
            RolloutState::Halted => "halted",
            RolloutState::RollingBack => "rolling-back",
            RolloutState::Done => "done",
        }
    }
}

/// `P/rollout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Rollout {
    /// The generation being rolled out.
    pub generation: u64,
    /// The generation the nodes ran before (0: none, each node's local file alone).
    pub from: u64,
    /// The nodes, in rollout order (the canary first).
    pub order: Vec<String>,
    /// Progressing: how many nodes of `order` have completed. Rolling back: how many of `order` are still to be
    /// moved back (`order[..cursor]`, last first).
    pub cursor: usize,
    pub state: RolloutState,
    /// Nodes moved per step.
    pub batch: usize,
    /// The canary is moved alone in the first step.
    #[serde(default)]
    pub canary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when a rollback itself failed: the fleet is left as it is and needs an operator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback_failed: bool,
}

impl Rollout {
    /// The nodes of the step that starts at `cursor` (progressing).
    pub fn step(&self) -> &[String] {
        let size = if self.canary && self.cursor == 0 { 1 } else { self.batch.max(1) };
        let end = (self.cursor + size).min(self.order.len());
        &self.order[self.cursor.min(end)..end]
    }
}

/// What a node's agent is doing or did with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    /// Applying `observed`.
    Applying,
    /// Runs `observed` (`applied == observed`).
    Applied,
    /// `observed` was refused before anything changed (validation, the canary); the node runs `applied`.
    Refused,
    /// `observed` was applied but failed its health hold; the node rolled itself back to `applied`.
    RolledBack,
    /// Applying `observed` failed otherwise; the node keeps serving what it had.
    Failed,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Applying => "applying",
            NodeState::Applied => "applied",
            NodeState::Refused => "refused",
            NodeState::RolledBack => "rolled-back",
            NodeState::Failed => "failed",
        }
    }

    /// Refused, rolled back or failed.
    pub fn is_failure(self) -> bool {
        matches!(self, NodeState::Refused | NodeState::RolledBack | NodeState::Failed)
    }
}

/// `P/nodes/<name>/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeStatus {
    /// The generation the agent last acted on.
    pub observed: u64,
    /// The generation the node runs (0: its local file alone).
    pub applied: u64,
    pub state: NodeState,
    /// The ETag of the configuration the node runs, as its API reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix time (seconds) of this status.
    pub time: u64,
}

/// Parses a stored generation number.
pub fn parse_generation(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// Now as Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
