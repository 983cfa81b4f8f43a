//! The one door to etcd: a small key-value trait with exactly what the fleet protocol needs (range over a prefix,
//! compare-and-swap transactions, leases, watches from a revision) and two implementations: [`MemKv`] (in memory,
//! deterministic, for logic tests and the large simulation) and [`EtcdKv`] (the real etcd through `etcd-client`).
//!
//! Revisions are etcd's: one counter for the whole store, bumped by every write transaction. A key's
//! `mod_revision` is the revision of its last write; `0` in a comparison means "the key does not exist".

mod etcd;
mod mem;

use std::future::Future;
use std::time::Duration;

pub use etcd::{EtcdKv, EtcdOptions, EtcdTls};
pub use mem::MemKv;

/// Errors of a KV operation.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// No endpoint answered in time (or all refused); the caller retries later and keeps what it has.
    #[error("etcd is unavailable: {0}")]
    Unavailable(String),
    /// A watch asked for a revision that compaction has removed; re-read everything, then watch from the
    /// range's revision + 1.
    #[error("revision {requested} is compacted (oldest kept: {compact_revision}); re-read everything")]
    Compacted { requested: i64, compact_revision: i64 },
    /// The lease does not exist (any more): it expired or was revoked.
    #[error("lease {0:x} not found (expired or revoked)")]
    LeaseNotFound(i64),
    /// Any other error reported by etcd.
    #[error("etcd: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, KvError>;

/// A stored key with its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    /// The lease the key is attached to (0: none).
    pub lease: i64,
}

impl KeyValue {
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or("")
    }
}

/// The result of a range read: the keys (sorted) and the store revision it was read at.
#[derive(Debug, Clone, Default)]
pub struct Range {
    pub kvs: Vec<KeyValue>,
    pub revision: i64,
}

/// One read of [`Kv::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// One key.
    Key(String),
    /// Every key under a prefix.
    Prefix(String),
}

/// A condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's mod revision equals this (0: the key is absent).
    ModRevision(String, i64),
    /// The key exists and holds exactly this value.
    Value(String, Vec<u8>),
    /// The key does not exist.
    Absent(String),
}

/// A write inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put { key: String, value: Vec<u8>, lease: i64 },
    Delete { key: String },
}

impl Op {
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Op {
        Op::Put { key: key.into(), value: value.into(), lease: 0 }
    }

    pub fn put_leased(key: impl Into<String>, value: impl Into<Vec<u8>>, lease: i64) -> Op {
        Op::Put { key: key.into(), value: value.into(), lease }
    }

    pub fn delete(key: impl Into<String>) -> Op {
        Op::Delete { key: key.into() }
    }
}

/// The outcome of a transaction: whether every comparison held (and so the writes were made), and the store
/// revision after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOutcome {
    pub succeeded: bool,
    pub revision: i64,
}

/// What happened to a key in a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch. For a delete, `kv.value` is empty and `kv.mod_revision` is the deletion's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
}

/// A watch of a prefix: batches of events in revision order. `None` when the watch ended (the store or the
/// connection went away: watch again from the last revision seen + 1); an `Err(Compacted)` means the start
/// revision is gone. Dropping it stops the producer.
pub struct Watch {
    rx: tokio::sync::mpsc::UnboundedReceiver<Result<Vec<Event>>>,
}

impl Watch {
    pub(crate) fn new(rx: tokio::sync::mpsc::UnboundedReceiver<Result<Vec<Event>>>) -> Watch {
        Watch { rx }
    }

    /// The next batch of events.
    pub async fn next(&mut self) -> Option<Result<Vec<Event>>> {
        self.rx.recv().await
    }

    /// A batch that is already there, without waiting (`None`: nothing ready now).
    pub fn try_next(&mut self) -> Option<Result<Vec<Event>>> {
        self.rx.try_recv().ok()
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

/// Everything the fleet needs from etcd. Cheap to clone (a handle).
pub trait Kv: Clone + Send + Sync + 'static {
    /// Every key under `prefix` (all keys for ""), sorted, with the store revision.
    fn range(&self, prefix: &str) -> impl Future<Output = Result<Range>> + Send;

    /// One key (`None` when absent), with the store revision.
    fn get(&self, key: &str) -> impl Future<Output = Result<(Option<KeyValue>, i64)>> + Send;

    /// Several reads at one revision (one transaction): the keys each read found, in order, and that revision.
    fn read(&self, reads: Vec<Read>) -> impl Future<Output = Result<(Vec<Vec<KeyValue>>, i64)>> + Send;

    /// If every comparison holds, make the writes; all in one atomic step.
    fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> impl Future<Output = Result<TxnOutcome>> + Send;

    /// A new lease of `ttl` (rounded up to whole seconds for etcd); its keys vanish when it is not kept alive.
    fn lease_grant(&self, ttl: Duration) -> impl Future<Output = Result<i64>> + Send;

    /// Renews the lease once; `Err(LeaseNotFound)` when it expired already.
    fn lease_keepalive(&self, lease: i64) -> impl Future<Output = Result<()>> + Send;

    /// Ends the lease now and deletes its keys.
    fn lease_revoke(&self, lease: i64) -> impl Future<Output = Result<()>> + Send;

    /// Watches every key under `prefix`, starting with the changes at revision `from` (inclusive; 0: from now on).
    fn watch(&self, prefix: &str, from: i64) -> impl Future<Output = Result<Watch>> + Send;

    /// Drops the history before `revision` (operators' and tests' tool; the fleet never compacts).
    fn compact(&self, revision: i64) -> impl Future<Output = Result<()>> + Send;
}
