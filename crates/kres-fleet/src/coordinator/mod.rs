//! The coordinator: one per fleet at a time, elected among the managers through a leased lock key
//! (`P/coordinator`). While it holds the lock it reads the fleet, asks [`decide`] for the next writes and makes
//! them in one transaction fenced on the lock's revision (and on `rollout`'s), so a coordinator that lost its lock
//! (a partition, a pause longer than the lease) can never write. Everything it needs is in etcd: a successor
//! resumes at the cursor, and a node that already runs its target is not applied again.

pub mod decide;

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use decide::{NodeView, Plan, Policy, Snapshot, decide};

use crate::keys::Keys;
use crate::kv::{Compare, KeyValue, Kv, KvError, Op, Read, Watch};
use crate::model::{Rollout, RolloutState, parse_generation};

/// How a coordinator candidate runs.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    /// This manager's node name (written into the lock).
    pub name: String,
    pub policy: Policy,
    /// How long one step (or one node's rollback) may take before the rollout halts.
    pub step_deadline: Duration,
    /// TTL of the lock's lease.
    pub lock_ttl: Duration,
    /// Pause before retrying after an etcd error, and the longest wait between two looks at the fleet.
    pub retry: Duration,
}

impl CoordinatorOptions {
    pub fn new(name: impl Into<String>) -> CoordinatorOptions {
        CoordinatorOptions {
            name: name.into(),
            policy: Policy { batch: 1, canary: None },
            step_deadline: Duration::from_secs(300),
            lock_ttl: Duration::from_secs(10),
            retry: Duration::from_secs(1),
        }
    }
}

/// Reads everything [`decide`] needs. Returns the snapshot, `rollout`'s mod revision (0: absent) and the revision
/// read at.
pub async fn read_snapshot<K: Kv>(kv: &K, keys: &Keys) -> Result<(Snapshot, i64, i64), KvError> {
    // One transaction: every key as of one revision (a coordinator never combines a new rollout with old nodes).
    let reads = vec![
        Read::Prefix(keys.nodes()),
        Read::Key(keys.desired()),
        Read::Key(keys.stable()),
        Read::Key(keys.rollout()),
    ];
    let (found, revision) = kv.read(reads).await?;
    let [nodes, desired, stable, rollout]: [Vec<KeyValue>; 4] =
        found.try_into().map_err(|_| KvError::Other("a read transaction answered the wrong number of reads".into()))?;
    let first = |v: Vec<KeyValue>| v.into_iter().next();
    let (desired, stable, rollout) = (first(desired), first(stable), first(rollout));
    let mut snap = Snapshot {
        desired: desired.and_then(|kv| parse_generation(&kv.value)),
        stable: stable.and_then(|kv| parse_generation(&kv.value)),
        rollout: None,
        nodes: Default::default(),
    };
    let rollout_rev = rollout.as_ref().map_or(0, |kv| kv.mod_revision);
    snap.rollout = rollout.and_then(|kv| serde_json::from_slice::<Rollout>(&kv.value).ok());
    for kv in &nodes {
        let Some((name, leaf)) = keys.node_key(&kv.key) else { continue };
        let view = snap.nodes.entry(name.to_string()).or_default();
        match leaf {
            "alive" => view.alive = true,
            "target" => view.target = parse_generation(&kv.value),
            "status" => view.status = serde_json::from_slice(&kv.value).ok(),
            _ => {}
        }
    }
    Ok((snap, rollout_rev, revision))
}

/// A coordinator candidate: campaigns for the lock, coordinates while it holds it, campaigns again when it loses
/// it; until `cancel` (then it gives the lock up).
pub struct Coordinator<K: Kv> {
    kv: K,
    keys: Keys,
    opts: CoordinatorOptions,
}

/// Why a term as coordinator ended.
enum TermEnd {
    Cancelled,
    LostLock,
}

impl<K: Kv> Coordinator<K> {
    pub fn new(kv: K, keys: Keys, opts: CoordinatorOptions) -> Coordinator<K> {
        Coordinator { kv, keys, opts }
    }

    pub async fn run(self, cancel: CancellationToken) {
        loop {
            if cancel.is_cancelled() {
                return;
            }
            match self.campaign().await {
                Ok(Some((lease, lock_rev))) => {
                    tracing::info!(node = %self.opts.name, "fleet: this node coordinates the fleet");
                    let end = self.term(lease, lock_rev, &cancel).await;
                    let _ = self.kv.lease_revoke(lease).await;
                    if let TermEnd::Cancelled = end {
                        return;
                    }
                    tracing::info!(node = %self.opts.name, "fleet: lost the coordinator lock");
                }
                Ok(None) => {
                    // Someone else coordinates: wait until the lock goes away (or a while, then look again).
                    let wait = async {
                        match self.kv.watch(&self.keys.coordinator(), 0).await {
                            Ok(mut w) => {
                                let _ = tokio::time::timeout(self.opts.lock_ttl, w.next()).await;
                            }
                            Err(_) => tokio::time::sleep(self.opts.retry).await,
                        }
                    };
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = wait => {}
                    }
                }
                Err(_) => tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(self.opts.retry) => {}
                },
            }
        }
    }

    /// Tries to take the lock once. `Some((lease, lock revision))` when taken.
    async fn campaign(&self) -> Result<Option<(i64, i64)>, KvError> {
        let key = self.keys.coordinator();
        if self.kv.get(&key).await?.0.is_some() {
            return Ok(None);
        }
        let lease = self.kv.lease_grant(self.opts.lock_ttl).await?;
        let put = Op::put_leased(&key, self.opts.name.clone(), lease);
        match self.kv.txn(vec![Compare::Absent(key)], vec![put]).await {
            Ok(t) if t.succeeded => Ok(Some((lease, t.revision))),
            Ok(_) => {
                let _ = self.kv.lease_revoke(lease).await;
                Ok(None)
            }
            Err(e) => {
                let _ = self.kv.lease_revoke(lease).await;
                Err(e)
            }
        }
    }

    async fn term(&self, lease: i64, lock_rev: i64, cancel: &CancellationToken) -> TermEnd {
        let lock = self.keys.coordinator();
        let mut next_keepalive = Instant::now() + self.opts.lock_ttl / 3;
        let mut watch: Option<Watch> = None;
        // The step being waited on and since when (for the deadline); a new coordinator starts the clock anew.
        let mut step: Option<((u64, usize, RolloutState), Instant)> = None;
        loop {
            if cancel.is_cancelled() {
                return TermEnd::Cancelled;
            }
            if Instant::now() >= next_keepalive {
                match self.kv.lease_keepalive(lease).await {
                    Ok(()) => next_keepalive = Instant::now() + self.opts.lock_ttl / 3,
                    Err(KvError::LeaseNotFound(_)) => return TermEnd::LostLock,
                    Err(_) => next_keepalive = Instant::now() + self.opts.retry.min(self.opts.lock_ttl / 3),
                }
            }
            let read = read_snapshot(&self.kv, &self.keys).await;
            let mut wrote = false;
            let mut revision = None;
            if let Ok((snap, rollout_rev, rev)) = read {
                revision = Some(rev);
                let here = snap.rollout.as_ref().map(|r| (r.generation, r.cursor, r.state));
                let since = match &step {
                    Some((s, t)) if Some(*s) == here => *t,
                    _ => {
                        let now = Instant::now();
                        step = here.map(|h| (h, now));
                        now
                    }
                };
                let expired = since.elapsed() >= self.opts.step_deadline;
                let plan = decide(&self.keys, &snap, &self.opts.policy, expired);
                if !plan.is_empty() {
                    tracing::info!(node = %self.opts.name, "fleet coordinator: {}", plan.why);
                    let mut compares = vec![Compare::ModRevision(lock.clone(), lock_rev)];
                    compares.push(Compare::ModRevision(self.keys.rollout(), rollout_rev));
                    match self.kv.txn(compares, plan.ops).await {
                        Ok(t) if t.succeeded => wrote = true,
                        Ok(_) => {
                            // Fenced out, or `rollout` changed under us: is the lock still ours?
                            match self.kv.get(&lock).await {
                                Ok((Some(kv), _)) if kv.mod_revision == lock_rev => {}
                                Ok(_) => return TermEnd::LostLock,
                                Err(_) => {}
                            }
                        }
                        Err(_) => {}
                    }
                }
            } else {
                watch = None;
            }
            if wrote {
                continue; // level-triggered: look again right away
            }
            if watch.is_none()
                && let Some(rev) = revision
            {
                watch = self.kv.watch(self.keys.prefix(), rev + 1).await.ok();
            }
            let wait = (next_keepalive.saturating_duration_since(Instant::now())).min(self.opts.retry);
            let alive = match watch.as_mut() {
                Some(w) => tokio::select! {
                    () = cancel.cancelled() => return TermEnd::Cancelled,
                    e = w.next() => matches!(e, Some(Ok(_))),
                    () = tokio::time::sleep(wait) => true,
                },
                None => tokio::select! {
                    () = cancel.cancelled() => return TermEnd::Cancelled,
                    () = tokio::time::sleep(wait) => true,
                },
            };
            if alive {
                // Take everything already queued at once: one look at the fleet for a burst of changes.
                while let Some(e) = watch.as_mut().and_then(Watch::try_next) {
                    if e.is_err() {
                        watch = None;
                    }
                }
            } else {
                watch = None;
            }
        }
    }
}
