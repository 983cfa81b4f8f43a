use crate::kv::KvError;

/// Errors of fleet operations (`kresctl fleet`, the agent's and coordinator's set-up).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A stored value is not what this version writes.
    #[error("{key}: unreadable value: {reason}")]
    Corrupt { key: String, reason: String },
    /// Another writer changed the same keys at the same time; run the command again.
    #[error("{what}: changed concurrently by another writer; run the command again")]
    Conflict { what: String },
    /// The request does not fit the fleet's state.
    #[error("{0}")]
    Refused(String),
}
