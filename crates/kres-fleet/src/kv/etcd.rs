//! [`Kv`] on a real etcd cluster (`etcd-client`, gRPC).
//!
//! Failover: the client talks to one endpoint at a time. Every request has a deadline; a request that times out
//! or finds its endpoint unreachable moves the client to the next endpoint and is retried there, once per endpoint.
//! A member that is alive but silent (SIGSTOP, a hung disk) is found by the deadline; a watch finds it by asking
//! for a progress notification every `probe` and moving on when none comes back in time. Retrying a transaction
//! is safe for the fleet because every write it makes is a compare-and-swap: a retry of a write that did land
//! fails its comparison, and the caller re-reads.
//!
//! Every request carries `hasleader` (etcd's require-leader): a member cut off from the quorum refuses instead of
//! serving a stale view, and a watch on it is cancelled, so the watch moves to a member that has a leader.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use etcd_client as ec;
use tokio::sync::{Mutex, mpsc};

use super::{Compare, Event, EventKind, KeyValue, Kv, KvError, Op, Range, Read, Result, TxnOutcome, Watch};

/// How [`EtcdKv`] reaches etcd.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// `host:port` (or `http://host:port`) of the members.
    pub endpoints: Vec<String>,
    /// Deadline of one request on one endpoint.
    pub request_timeout: Duration,
    /// Deadline of a connection attempt.
    pub connect_timeout: Duration,
    /// How often a watch checks that its member still answers.
    pub probe: Duration,
    /// User name and password (etcd authentication), if any.
    pub user: Option<(String, String)>,
    /// TLS to the members (https), if any.
    pub tls: Option<EtcdTls>,
}

/// TLS to etcd: the CA the members' certificates must chain to (needed: no system roots are loaded), and this
/// client's certificate and key for etcd's client-certificate authentication.
#[derive(Clone)]
pub struct EtcdTls {
    /// PEM.
    pub ca: Option<Vec<u8>>,
    /// PEM certificate chain and PEM private key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("EtcdTls").field("ca", &self.ca.is_some()).field("identity", &self.identity.is_some()).finish()
    }
}

impl EtcdOptions {
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> EtcdOptions {
        EtcdOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            probe: Duration::from_secs(2),
            user: None,
            tls: None,
        }
    }
}

struct Inner {
    opts: EtcdOptions,
    /// The endpoint in use (an index into `opts.endpoints`) and its client.
    current: Mutex<Option<(usize, ec::Client)>>,
    /// The endpoint to try next when `current` is empty.
    next: AtomicUsize,
}

/// An etcd cluster. Cheap to clone.
#[derive(Clone)]
pub struct EtcdKv {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EtcdKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdKv").field("endpoints", &self.inner.opts.endpoints).finish_non_exhaustive()
    }
}

/// Is this error one that another endpoint may not have (transport, deadline, no leader)?
fn retriable(e: &ec::Error) -> bool {
    match e {
        ec::Error::TransportError(_) | ec::Error::IoError(_) => true,
        ec::Error::GRpcStatus(s) => {
            matches!(
                s.code(),
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled
                    | tonic::Code::Unknown
            ) || s.message().contains("no leader")
        }
        _ => false,
    }
}

fn other(e: ec::Error) -> KvError {
    if let ec::Error::GRpcStatus(s) = &e
        && s.message().contains("requested lease not found")
    {
        return KvError::Other(s.message().to_string());
    }
    KvError::Other(e.to_string())
}

impl EtcdKv {
    /// A client for these endpoints. Connects lazily: the first request picks the first endpoint that answers.
    pub fn new(opts: EtcdOptions) -> EtcdKv {
        assert!(!opts.endpoints.is_empty(), "EtcdKv needs at least one endpoint");
        EtcdKv { inner: Arc::new(Inner { opts, current: Mutex::new(None), next: AtomicUsize::new(0) }) }
    }

    fn url(&self, endpoint: &str) -> String {
        let scheme = if self.inner.opts.tls.is_some() { "https" } else { "http" };
        if endpoint.contains("://") { endpoint.to_string() } else { format!("{scheme}://{endpoint}") }
    }

    fn connect_options(&self) -> ec::ConnectOptions {
        let o = &self.inner.opts;
        let mut c = ec::ConnectOptions::new()
            .with_connect_timeout(o.connect_timeout)
            .with_timeout(o.request_timeout)
            .with_keep_alive(o.request_timeout, o.request_timeout)
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        if let Some((user, password)) = &o.user {
            c = c.with_user(user.clone(), password.clone());
        }
        if let Some(tls) = &o.tls {
            let mut t = ec::TlsOptions::new();
            if let Some(ca) = &tls.ca {
                t = t.ca_certificate(ec::Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.identity {
                t = t.identity(ec::Identity::from_pem(cert, key));
            }
            c = c.with_tls(t);
        }
        c
    }

    /// The client in use, connecting to the next endpoint when there is none.
    async fn client(&self) -> Result<(usize, ec::Client)> {
        let mut cur = self.inner.current.lock().await;
        if let Some((i, c)) = cur.as_ref() {
            return Ok((*i, c.clone()));
        }
        let n = self.inner.opts.endpoints.len();
        let mut last = String::new();
        for _ in 0..n {
            let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
            let url = self.url(&self.inner.opts.endpoints[i]);
            let connect = ec::Client::connect([url.as_str()], Some(self.connect_options()));
            match tokio::time::timeout(self.inner.opts.connect_timeout * 2, connect).await {
                Ok(Ok(c)) => {
                    *cur = Some((i, c.clone()));
                    return Ok((i, c));
                }
                Ok(Err(e)) => last = format!("{url}: {e}"),
                Err(_) => last = format!("{url}: connect timed out"),
            }
        }
        Err(KvError::Unavailable(format!("no etcd endpoint answered ({last})")))
    }

    /// Drops the client of endpoint `i` (if it is still the current one) so the next request moves on.
    async fn fail(&self, i: usize) {
        let mut cur = self.inner.current.lock().await;
        if cur.as_ref().is_some_and(|(j, _)| *j == i) {
            *cur = None;
            let n = self.inner.opts.endpoints.len();
            self.inner.next.store((i + 1) % n, Ordering::Relaxed);
        }
    }

    /// Runs `f` on the current endpoint, failing over (once per endpoint) on timeouts and transport errors.
    async fn call<T, F, Fut>(&self, mut f: F) -> Result<T>
    where
        F: FnMut(ec::Client) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, ec::Error>>,
    {
        let n = self.inner.opts.endpoints.len();
        let mut last = String::new();
        for _ in 0..n {
            let (i, client) = self.client().await?;
            match tokio::time::timeout(self.inner.opts.request_timeout, f(client)).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if retriable(&e) => last = e.to_string(),
                Ok(Err(e)) => return Err(other(e)),
                Err(_) => last = format!("{}: request timed out", self.inner.opts.endpoints[i]),
            }
            tracing::debug!(endpoint = %self.inner.opts.endpoints[i], error = %last, "etcd endpoint failed; trying the next one");
            self.fail(i).await;
        }
        Err(KvError::Unavailable(last))
    }
}

fn kv_of(kv: &ec::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: kv.lease(),
    }
}

fn header_revision(h: Option<&ec::ResponseHeader>) -> i64 {
    h.map_or(0, ec::ResponseHeader::revision)
}

fn compare_of(c: Compare) -> ec::Compare {
    match c {
        Compare::ModRevision(key, rev) => ec::Compare::mod_revision(key, ec::CompareOp::Equal, rev),
        Compare::Value(key, value) => ec::Compare::value(key, ec::CompareOp::Equal, value),
        Compare::Absent(key) => ec::Compare::version(key, ec::CompareOp::Equal, 0),
    }
}

fn op_of(op: Op) -> ec::TxnOp {
    match op {
        Op::Put { key, value, lease } => {
            let opts = (lease != 0).then(|| ec::PutOptions::new().with_lease(lease));
            ec::TxnOp::put(key, value, opts)
        }
        Op::Delete { key } => ec::TxnOp::delete(key, None),
    }
}

impl Kv for EtcdKv {
    async fn range(&self, prefix: &str) -> Result<Range> {
        assert!(!prefix.is_empty(), "EtcdKv::range needs a non-empty prefix");
        let resp =
            self.call(|mut c| async move { c.get(prefix, Some(ec::GetOptions::new().with_prefix())).await }).await?;
        Ok(Range { kvs: resp.kvs().iter().map(kv_of).collect(), revision: header_revision(resp.header()) })
    }

    async fn get(&self, key: &str) -> Result<(Option<KeyValue>, i64)> {
        let resp = self.call(|mut c| async move { c.get(key, None).await }).await?;
        Ok((resp.kvs().first().map(kv_of), header_revision(resp.header())))
    }

    async fn read(&self, reads: Vec<Read>) -> Result<(Vec<Vec<KeyValue>>, i64)> {
        let ops: Vec<ec::TxnOp> = reads
            .iter()
            .map(|r| match r {
                Read::Key(k) => ec::TxnOp::get(k.as_str(), None),
                Read::Prefix(p) => {
                    assert!(!p.is_empty(), "EtcdKv::read needs non-empty prefixes");
                    ec::TxnOp::get(p.as_str(), Some(ec::GetOptions::new().with_prefix()))
                }
            })
            .collect();
        let txn = ec::Txn::new().and_then(ops);
        let resp = self
            .call(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        let found = resp
            .op_responses()
            .into_iter()
            .map(|r| match r {
                ec::TxnOpResponse::Get(g) => g.kvs().iter().map(kv_of).collect(),
                _ => Vec::new(),
            })
            .collect();
        Ok((found, header_revision(resp.header())))
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnOutcome> {
        let lease = ops.iter().find_map(|o| match o {
            Op::Put { lease, .. } if *lease != 0 => Some(*lease),
            _ => None,
        });
        let txn = ec::Txn::new()
            .when(compares.into_iter().map(compare_of).collect::<Vec<_>>())
            .and_then(ops.into_iter().map(op_of).collect::<Vec<_>>());
        let resp = self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        });
        match resp.await {
            Ok(r) => Ok(TxnOutcome { succeeded: r.succeeded(), revision: header_revision(r.header()) }),
            Err(KvError::Other(m)) if m.contains("lease not found") => Err(KvError::LeaseNotFound(lease.unwrap_or(0))),
            Err(e) => Err(e),
        }
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<i64> {
        let secs = i64::try_from(ttl.as_millis().div_ceil(1000)).unwrap_or(i64::MAX).max(1);
        let resp = self.call(|mut c| async move { c.lease_grant(secs, None).await }).await?;
        Ok(resp.id())
    }

    async fn lease_keepalive(&self, lease: i64) -> Result<()> {
        let ttl = self
            .call(|mut c| async move {
                let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(r) => Ok(r.ttl()),
                    None => Err(ec::Error::LeaseKeepAliveError("keepalive stream ended".into())),
                }
            })
            .await;
        match ttl {
            Ok(ttl) if ttl > 0 => Ok(()),
            Ok(_) => Err(KvError::LeaseNotFound(lease)),
            Err(KvError::Other(m)) if m.contains("lease not found") => Err(KvError::LeaseNotFound(lease)),
            Err(e) => Err(e),
        }
    }

    async fn lease_revoke(&self, lease: i64) -> Result<()> {
        match self.call(|mut c| async move { c.lease_revoke(lease).await }).await {
            Ok(_) => Ok(()),
            Err(KvError::Other(m)) if m.contains("lease not found") => Err(KvError::LeaseNotFound(lease)),
            Err(e) => Err(e),
        }
    }

    async fn watch(&self, prefix: &str, from: i64) -> Result<Watch> {
        assert!(!prefix.is_empty(), "EtcdKv::watch needs a non-empty prefix");
        let (tx, rx) = mpsc::unbounded_channel();
        // The first connection is made here, so an unreachable cluster is reported to the caller at once.
        let first = self.open_watch(prefix, from).await?;
        let me = self.clone();
        let prefix = prefix.to_string();
        tokio::spawn(async move { me.pump_watch(prefix, from, first, tx).await });
        Ok(Watch::new(rx))
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        match self.call(|mut c| async move { c.compact(revision, None).await }).await {
            Ok(_) => Ok(()),
            Err(KvError::Other(m)) if m.contains("compacted") => {
                Err(KvError::Compacted { requested: revision, compact_revision: revision })
            }
            Err(e) => Err(e),
        }
    }
}

/// What one watch connection ended with.
enum WatchEnd {
    /// The receiver is gone: stop.
    Closed,
    /// The start revision is compacted: tell the receiver and stop.
    Compacted(i64),
    /// The member went silent or the stream broke: reconnect elsewhere from `next`.
    Lost,
}

impl EtcdKv {
    async fn open_watch(&self, prefix: &str, from: i64) -> Result<(usize, ec::WatchStream)> {
        let n = self.inner.opts.endpoints.len();
        let mut last = String::new();
        for _ in 0..n {
            let (i, mut client) = self.client().await?;
            let opts = ec::WatchOptions::new().with_prefix().with_start_revision(from).with_progress_notify();
            match tokio::time::timeout(self.inner.opts.request_timeout, client.watch(prefix, Some(opts))).await {
                Ok(Ok(stream)) => return Ok((i, stream)),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "watch request timed out".into(),
            }
            self.fail(i).await;
        }
        Err(KvError::Unavailable(last))
    }

    /// Forwards events from `stream`, reconnecting (to the next endpoint) from the last revision seen + 1 whenever
    /// the member goes silent or the stream breaks, until the receiver is dropped or the revision is compacted.
    async fn pump_watch(
        self,
        prefix: String,
        mut next: i64,
        first: (usize, ec::WatchStream),
        tx: mpsc::UnboundedSender<Result<Vec<Event>>>,
    ) {
        let mut conn = Some(first);
        let mut failures = 0u32;
        loop {
            let (i, stream) = match conn.take() {
                Some(c) => c,
                None => match self.open_watch(&prefix, next).await {
                    Ok(c) => c,
                    Err(_) => {
                        failures += 1;
                        // Bounded backoff; the loop ends when the receiver is dropped.
                        let wait = Duration::from_millis(100 * u64::from(failures.min(20)));
                        tokio::select! {
                            () = tokio::time::sleep(wait) => continue,
                            () = tx.closed() => return,
                        }
                    }
                },
            };
            match self.pump_one(stream, &mut next, &tx).await {
                WatchEnd::Closed => return,
                WatchEnd::Compacted(rev) => {
                    let _ = tx.send(Err(KvError::Compacted { requested: next, compact_revision: rev }));
                    return;
                }
                WatchEnd::Lost => {
                    failures = 0;
                    tracing::debug!(endpoint = %self.inner.opts.endpoints[i], next, "etcd watch lost; resuming elsewhere");
                    self.fail(i).await;
                }
            }
        }
    }

    async fn pump_one(
        &self,
        mut stream: ec::WatchStream,
        next: &mut i64,
        tx: &mpsc::UnboundedSender<Result<Vec<Event>>>,
    ) -> WatchEnd {
        let probe = self.inner.opts.probe;
        let patience = self.inner.opts.request_timeout;
        let mut waiting_since: Option<tokio::time::Instant> = None;
        loop {
            let deadline = match waiting_since {
                Some(t) => t + patience,
                None => tokio::time::Instant::now() + probe,
            };
            let msg = tokio::select! {
                m = stream.message() => m,
                () = tokio::time::sleep_until(deadline) => {
                    if waiting_since.is_some() {
                        return WatchEnd::Lost; // asked for progress and heard nothing
                    }
                    if stream.request_progress().await.is_err() {
                        return WatchEnd::Lost;
                    }
                    waiting_since = Some(tokio::time::Instant::now());
                    continue;
                }
                () = tx.closed() => return WatchEnd::Closed,
            };
            waiting_since = None;
            let resp = match msg {
                Ok(Some(r)) => r,
                Ok(None) | Err(_) => return WatchEnd::Lost,
            };
            if resp.compact_revision() > 0 {
                return WatchEnd::Compacted(resp.compact_revision());
            }
            if resp.canceled() {
                return WatchEnd::Lost; // e.g. the member lost its leader (require-leader)
            }
            let events: Vec<Event> = resp
                .events()
                .iter()
                .filter_map(|e| {
                    let kv = kv_of(e.kv()?);
                    let kind = match e.event_type() {
                        ec::EventType::Put => EventKind::Put,
                        ec::EventType::Delete => EventKind::Delete,
                    };
                    Some(Event { kind, kv })
                })
                .collect();
            if let Some(last) = events.last() {
                *next = last.kv.mod_revision + 1;
                if tx.send(Ok(events)).is_err() {
                    return WatchEnd::Closed;
                }
            } else if !resp.created() {
                // A progress notification: everything up to its revision has been delivered.
                *next = (*next).max(header_revision(resp.header()) + 1);
            }
        }
    }
}
