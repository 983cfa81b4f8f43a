//! The in-memory [`Kv`]: etcd's semantics (one revision counter, mod revisions, leases deleting their keys, watches
//! from a revision, compaction) without a network. Deterministic: lease time is `tokio::time`, so tests with paused
//! time control expiry exactly.
//!
//! Several handles ([`MemKv::handle`]) share one store, each with its own operation counter and its own "cut off"
//! switch ([`MemKv::set_cut`]), which makes every operation of that handle fail as a partitioned node's would and
//! ends its watches.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Compare, Event, EventKind, KeyValue, Kv, KvError, Op, Range, Read, Result, TxnOutcome, Watch};

#[derive(Debug)]
struct Watcher {
    prefix: String,
    handle: u64,
    tx: mpsc::UnboundedSender<Result<Vec<Event>>>,
}

#[derive(Debug, Default)]
struct Store {
    revision: i64,
    compacted: i64,
    kvs: BTreeMap<String, KeyValue>,
    /// Every change since `compacted`, for watches from an old revision.
    log: Vec<Event>,
    leases: HashMap<i64, (Duration, Instant)>,
    next_lease: i64,
    watchers: Vec<Watcher>,
    next_handle: u64,
}

impl Store {
    /// Applies `ops` at a new revision and notifies the watchers.
    fn write(&mut self, ops: &[Op]) {
        self.revision += 1;
        let rev = self.revision;
        let mut events = Vec::new();
        for op in ops {
            match op {
                Op::Put { key, value, lease } => {
                    let create_revision = self.kvs.get(key).map_or(rev, |kv| kv.create_revision);
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision,
                        mod_revision: rev,
                        lease: *lease,
                    };
                    self.kvs.insert(key.clone(), kv.clone());
                    events.push(Event { kind: EventKind::Put, kv });
                }
                Op::Delete { key } => {
                    if self.kvs.remove(key).is_some() {
                        let kv = KeyValue {
                            key: key.clone(),
                            value: Vec::new(),
                            create_revision: 0,
                            mod_revision: rev,
                            lease: 0,
                        };
                        events.push(Event { kind: EventKind::Delete, kv });
                    }
                }
            }
        }
        self.log.extend(events.iter().cloned());
        self.watchers.retain(|w| {
            let mine: Vec<Event> = events.iter().filter(|e| e.kv.key.starts_with(&w.prefix)).cloned().collect();
            mine.is_empty() || w.tx.send(Ok(mine)).is_ok()
        });
    }

    /// Deletes the keys of expired leases (one revision per lease, as etcd does).
    fn expire(&mut self, now: Instant) {
        let mut dead: Vec<i64> =
            self.leases.iter().filter(|(_, (_, until))| *until <= now).map(|(id, _)| *id).collect();
        dead.sort_unstable();
        for id in dead {
            self.revoke(id);
        }
    }

    fn revoke(&mut self, id: i64) {
        self.leases.remove(&id);
        let keys: Vec<Op> =
            self.kvs.values().filter(|kv| kv.lease == id).map(|kv| Op::Delete { key: kv.key.clone() }).collect();
        if !keys.is_empty() {
            self.write(&keys);
        }
    }

    fn holds(&self, c: &Compare) -> bool {
        match c {
            Compare::ModRevision(key, rev) => self.kvs.get(key).map_or(0, |kv| kv.mod_revision) == *rev,
            Compare::Value(key, value) => self.kvs.get(key).is_some_and(|kv| kv.value == *value),
            Compare::Absent(key) => !self.kvs.contains_key(key),
        }
    }
}

/// An in-memory etcd. Clones share the handle (and its counter and switch); [`MemKv::handle`] makes another.
#[derive(Debug, Clone)]
pub struct MemKv {
    store: Arc<Mutex<Store>>,
    id: u64,
    cut: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
}

impl Default for MemKv {
    fn default() -> Self {
        MemKv::new()
    }
}

impl MemKv {
    /// A new, empty store at revision 1 (as a new etcd cluster; the first write makes revision 2).
    pub fn new() -> MemKv {
        let store = Store { revision: 1, next_lease: 0x1000, ..Store::default() };
        MemKv { store: Arc::new(Mutex::new(store)), id: 0, cut: Arc::default(), ops: Arc::default() }
    }

    /// Another handle on the same store, with its own counter and cut-off switch (one per simulated node).
    pub fn handle(&self) -> MemKv {
        let id = {
            let mut s = lock(&self.store);
            s.next_handle += 1;
            s.next_handle
        };
        MemKv { store: self.store.clone(), id, cut: Arc::default(), ops: Arc::default() }
    }

    /// Cuts this handle off (every operation fails with `Unavailable`, its watches end) or reconnects it.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
        if cut {
            lock(&self.store).watchers.retain(|w| w.handle != self.id);
        }
    }

    /// Operations made through this handle so far (each call of a [`Kv`] method counts one).
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    /// The current store revision.
    pub fn revision(&self) -> i64 {
        lock(&self.store).revision
    }

    fn enter(&self) -> Result<MutexGuard<'_, Store>> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        if self.cut.load(Ordering::SeqCst) {
            return Err(KvError::Unavailable("cut off (simulated partition)".into()));
        }
        let mut s = lock(&self.store);
        s.expire(Instant::now());
        Ok(s)
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Kv for MemKv {
    async fn range(&self, prefix: &str) -> Result<Range> {
        let s = self.enter()?;
        let kvs = s.kvs.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone());
        Ok(Range { kvs: kvs.collect(), revision: s.revision })
    }

    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, i64)> {
        let s = self.enter()?;
        Ok((s.kvs.get(key).cloned(), s.revision))
    }

    async fn read(&self, reads: Vec<Read>) -> Result<(Vec<Vec<KeyValue>>, i64)> {
        let s = self.enter()?;
        let found = reads
            .iter()
            .map(|r| match r {
                Read::Key(k) => s.kvs.get(k).cloned().into_iter().collect(),
                Read::Prefix(p) => s
                    .kvs
                    .range(p.clone()..)
                    .take_while(|(k, _)| k.starts_with(p.as_str()))
                    .map(|(_, v)| v.clone())
                    .collect(),
            })
            .collect();
        Ok((found, s.revision))
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnOutcome> {
        let mut s = self.enter()?;
        for op in &ops {
            if let Op::Put { lease, .. } = op
                && *lease != 0
                && !s.leases.contains_key(lease)
            {
                return Err(KvError::LeaseNotFound(*lease));
            }
        }
        if !compares.iter().all(|c| s.holds(c)) {
            return Ok(TxnOutcome { succeeded: false, revision: s.revision });
        }
        if !ops.is_empty() {
            s.write(&ops);
        }
        Ok(TxnOutcome { succeeded: true, revision: s.revision })
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<i64> {
        let mut s = self.enter()?;
        s.next_lease += 1;
        let id = s.next_lease;
        s.leases.insert(id, (ttl, Instant::now() + ttl));
        Ok(id)
    }

    async fn lease_keepalive(&self, lease: i64) -> Result<()> {
        let mut s = self.enter()?;
        match s.leases.get_mut(&lease) {
            Some((ttl, until)) => {
                *until = Instant::now() + *ttl;
                Ok(())
            }
            None => Err(KvError::LeaseNotFound(lease)),
        }
    }

    async fn lease_revoke(&self, lease: i64) -> Result<()> {
        let mut s = self.enter()?;
        if !s.leases.contains_key(&lease) {
            return Err(KvError::LeaseNotFound(lease));
        }
        s.revoke(lease);
        Ok(())
    }

    async fn watch(&self, prefix: &str, from: i64) -> Result<Watch> {
        let mut s = self.enter()?;
        let (tx, rx) = mpsc::unbounded_channel();
        if from > 0 && from < s.compacted {
            let _ = tx.send(Err(KvError::Compacted { requested: from, compact_revision: s.compacted }));
            return Ok(Watch::new(rx));
        }
        // As in etcd, a start revision of 0 (or less) means "from now on".
        let past: Vec<Event> = if from <= 0 {
            Vec::new()
        } else {
            s.log.iter().filter(|e| e.kv.mod_revision >= from && e.kv.key.starts_with(prefix)).cloned().collect()
        };
        // One batch per revision, as etcd sends them.
        let mut batch: Vec<Event> = Vec::new();
        for e in past {
            if batch.last().is_some_and(|b| b.kv.mod_revision != e.kv.mod_revision) {
                let _ = tx.send(Ok(std::mem::take(&mut batch)));
            }
            batch.push(e);
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
        let handle = self.id;
        s.watchers.push(Watcher { prefix: prefix.to_string(), handle, tx });
        Ok(Watch::new(rx))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut s = self.enter()?;
        if revision <= s.compacted {
            return Err(KvError::Compacted { requested: revision, compact_revision: s.compacted });
        }
        if revision > s.revision {
            return Err(KvError::Other(format!("compact {revision}: future revision (now {})", s.revision)));
        }
        s.compacted = revision;
        s.log.retain(|e| e.kv.mod_revision >= revision);
        Ok(())
    }
}
