//! What a node does with a generation: the seam between the fleet and the manager's apply pipeline.

use std::future::Future;

/// How an apply of one generation ended on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyResult {
    /// The node runs the generation now; `etag` is its configuration's ETag.
    Applied { etag: String },
    /// Refused before anything changed (validation, policy-loader, the canary worker did not answer).
    Refused { reason: String },
    /// Applied, but the health hold failed; the node is back on its previous configuration.
    RolledBack { reason: String },
    /// Anything else; the node keeps serving what it had.
    Failed { reason: String },
}

/// Applies a generation on this node. The manager implements it with its own pipeline (validate, policy-loader,
/// canary worker, rolling restart, health hold); tests use fakes.
pub trait NodeApplier: Send + Sync + 'static {
    /// Applies `config` (the fleet's document of `generation`, merged over the node's local file by the manager),
    /// or the node's local file alone when `config` is `None` (generation 0).
    fn apply(&self, generation: u64, config: Option<Vec<u8>>) -> impl Future<Output = ApplyResult> + Send;
}
