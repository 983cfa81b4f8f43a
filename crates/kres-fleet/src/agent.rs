//! The node agent: runs on every fleet node, next to (inside) its manager.
//!
//! * Liveness: `nodes/<name>/alive`, attached to a lease of ~10 s kept alive every third of it; re-created with a
//!   new lease whenever the old one was lost (a partition longer than the TTL).
//! * Level-triggered convergence: whenever `nodes/<name>/target` or `stable` changes (and after any error), the
//!   agent reads both and makes the node run `target`, or `stable` when the node has no target. It applies through
//!   the [`NodeApplier`] and records the outcome in `nodes/<name>/status`. A generation the node refused, rolled
//!   back or failed is not tried again until the target changes.
//! * Cut off from etcd, the agent only retries reads: the node keeps serving its last applied configuration and
//!   nothing is torn down.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::applier::{ApplyResult, NodeApplier};
use crate::keys::Keys;
use crate::kv::{Kv, KvError, Op, Watch};
use crate::model::{NodeState, NodeStatus, parse_generation, unix_now};

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// This node's name (a single key segment).
    pub name: String,
    /// TTL of the `alive` lease.
    pub alive_ttl: Duration,
    /// Pause before retrying after an etcd error.
    pub retry: Duration,
}

impl AgentOptions {
    pub fn new(name: impl Into<String>) -> AgentOptions {
        AgentOptions { name: name.into(), alive_ttl: Duration::from_secs(10), retry: Duration::from_secs(1) }
    }
}

/// One node's agent. [`Agent::run`] until the token is cancelled.
pub struct Agent<K: Kv, A: NodeApplier> {
    kv: K,
    keys: Keys,
    opts: AgentOptions,
    applier: Arc<A>,
    /// The status as last written (or to be written, when `dirty`).
    status: Option<NodeStatus>,
    dirty: bool,
}

impl<K: Kv, A: NodeApplier> Agent<K, A> {
    pub fn new(kv: K, keys: Keys, opts: AgentOptions, applier: Arc<A>) -> Agent<K, A> {
        Agent { kv, keys, opts, applier, status: None, dirty: false }
    }

    /// Runs the agent: keeps `alive`, converges, until `cancel`. On cancel the `alive` lease is revoked.
    pub async fn run(mut self, cancel: CancellationToken) {
        let liveness = tokio::spawn(keep_alive(
            self.kv.clone(),
            self.keys.alive(&self.opts.name),
            self.opts.alive_ttl,
            self.opts.retry,
            cancel.clone(),
        ));
        let mut watches: Option<(Watch, Watch)> = None;
        let mut loaded = false;
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let revision = match self.converge(&mut loaded).await {
                Ok(rev) => Some(rev),
                Err(e) => {
                    tracing::debug!(node = %self.opts.name, error = %e, "fleet agent: etcd error; retrying");
                    watches = None;
                    None
                }
            };
            if watches.is_none()
                && let Some(rev) = revision
            {
                watches = self.open_watches(rev + 1).await.ok();
            }
            let ok = match watches.as_mut() {
                Some((target, stable)) => tokio::select! {
                    () = cancel.cancelled() => break,
                    t = target.next() => matches!(t, Some(Ok(_))),
                    s = stable.next() => matches!(s, Some(Ok(_))),
                },
                None => {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(self.opts.retry) => {}
                    }
                    true
                }
            };
            if !ok || self.dirty {
                watches = None; // ended, compacted or an error: re-read everything and watch again
            }
        }
        let _ = liveness.await;
    }

    async fn open_watches(&self, from: i64) -> Result<(Watch, Watch), KvError> {
        let target = self.kv.watch(&self.keys.target(&self.opts.name), from).await?;
        let stable = self.kv.watch(&self.keys.stable(), from).await?;
        Ok((target, stable))
    }

    async fn write_status(&mut self, status: NodeStatus) -> Result<(), KvError> {
        self.status = Some(status.clone());
        self.dirty = true;
        let value = serde_json::to_vec(&status).expect("status serializes");
        self.kv.txn(vec![], vec![Op::put(self.keys.status(&self.opts.name), value)]).await?;
        self.dirty = false;
        Ok(())
    }

    /// One level-triggered pass. Returns the revision it read at.
    async fn converge(&mut self, loaded: &mut bool) -> Result<i64, KvError> {
        if !*loaded {
            let (kv, _) = self.kv.get(&self.keys.status(&self.opts.name)).await?;
            if self.status.is_none() {
                self.status = kv.and_then(|kv| serde_json::from_slice(&kv.value).ok());
            }
            *loaded = true;
        }
        if self.dirty
            && let Some(s) = self.status.clone()
        {
            self.write_status(s).await?;
        }
        let (target, revision) = self.kv.get(&self.keys.target(&self.opts.name)).await?;
        let target = target.and_then(|kv| parse_generation(&kv.value));
        let want = match target {
            Some(t) => t,
            None => {
                let (stable, _) = self.kv.get(&self.keys.stable()).await?;
                match stable.and_then(|kv| parse_generation(&kv.value)) {
                    Some(s) => s,
                    None => return Ok(revision), // nothing published yet: the local file alone
                }
            }
        };
        let current = self.status.clone();
        let applied = current.as_ref().map_or(0, |s| s.applied);
        let etag = current.as_ref().and_then(|s| s.etag.clone());
        if let Some(s) = &current
            && s.observed == want
            && s.state != NodeState::Applying
        {
            return Ok(revision); // done, or refused/failed for this very generation: not again
        }
        if applied == want {
            let status =
                NodeStatus { observed: want, applied, state: NodeState::Applied, etag, error: None, time: unix_now() };
            self.write_status(status).await?;
            return Ok(revision);
        }
        let applying = NodeStatus {
            observed: want,
            applied,
            state: NodeState::Applying,
            etag: etag.clone(),
            error: None,
            time: unix_now(),
        };
        self.write_status(applying).await?;
        let config = if want == 0 {
            None
        } else {
            match self.kv.get(&self.keys.config(want)).await?.0 {
                Some(kv) => Some(kv.value),
                None => {
                    let status = NodeStatus {
                        observed: want,
                        applied,
                        state: NodeState::Failed,
                        etag,
                        error: Some(format!("{} does not exist", self.keys.config(want))),
                        time: unix_now(),
                    };
                    self.write_status(status).await?;
                    return Ok(revision);
                }
            }
        };
        tracing::info!(node = %self.opts.name, generation = want, "fleet agent: applying");
        let result = self.applier.apply(want, config).await;
        let (state, new_applied, new_etag, error) = match result {
            ApplyResult::Applied { etag } => (NodeState::Applied, want, Some(etag), None),
            ApplyResult::Refused { reason } => (NodeState::Refused, applied, etag, Some(reason)),
            ApplyResult::RolledBack { reason } => (NodeState::RolledBack, applied, etag, Some(reason)),
            ApplyResult::Failed { reason } => (NodeState::Failed, applied, etag, Some(reason)),
        };
        let status =
            NodeStatus { observed: want, applied: new_applied, state, etag: new_etag, error, time: unix_now() };
        // On failure the status stays dirty and is written first on the next pass; the node is not applied twice.
        self.write_status(status).await?;
        Ok(revision)
    }
}

/// Keeps `key` present under a lease of `ttl`, re-creating both whenever the lease is lost; revokes it on cancel.
async fn keep_alive<K: Kv>(kv: K, key: String, ttl: Duration, retry: Duration, cancel: CancellationToken) {
    let mut lease: Option<i64> = None;
    loop {
        let wait = match lease {
            None => match create_alive(&kv, &key, ttl).await {
                Ok(id) => {
                    lease = Some(id);
                    ttl / 3
                }
                Err(_) => retry,
            },
            Some(id) => match kv.lease_keepalive(id).await {
                Ok(()) => ttl / 3,
                Err(KvError::LeaseNotFound(_)) => {
                    lease = None;
                    Duration::ZERO
                }
                Err(_) => retry.min(ttl / 3),
            },
        };
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    if let Some(id) = lease {
        let _ = kv.lease_revoke(id).await;
    }
}

async fn create_alive<K: Kv>(kv: &K, key: &str, ttl: Duration) -> Result<i64, KvError> {
    let id = kv.lease_grant(ttl).await?;
    kv.txn(vec![], vec![Op::put_leased(key, unix_now().to_string(), id)]).await?;
    Ok(id)
}
