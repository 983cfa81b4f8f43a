//! [`EtcdKv`] against a real 3-member etcd cluster (kres-test-support's [`EtcdCluster`]): the KV contract, CAS
//! races, lease expiry, watch resume and compaction, the leader killed, a member frozen. One test at a time
//! (nextest group `etcd`). Every wait is bounded.

use std::time::Duration;

use kres_fleet::kv::{Compare, EtcdKv, EtcdOptions, Kv, KvError, Op};
use kres_test_support::{EtcdCluster, TcpProxy, require_sid_root};

fn cluster() -> EtcdCluster {
    require_sid_root();
    EtcdCluster::start().unwrap_or_else(|e| panic!("etcd cluster: {e}"))
}

/// A client with short deadlines, its endpoints in the order given.
fn client(endpoints: Vec<String>) -> EtcdKv {
    let mut opts = EtcdOptions::new(endpoints);
    opts.request_timeout = Duration::from_millis(1500);
    opts.connect_timeout = Duration::from_millis(500);
    opts.probe = Duration::from_millis(500);
    EtcdKv::new(opts)
}

/// Retries `f` until it succeeds, at most `tries` times 200 ms apart; panics with the last error.
async fn eventually<T, F, Fut>(tries: u32, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, KvError>>,
{
    let mut last = None;
    for _ in 0..tries {
        match f().await {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("still failing after {tries} tries: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_contract() {
    let etcd = cluster();
    crate::contract::check(client(etcd.endpoints()), "/t/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compaction_then_full_reread() {
    let etcd = cluster();
    crate::contract::check_compaction(client(etcd.endpoints()), "/t/").await;
}

/// Eight writers, each on its own connection, add 1 to one counter 15 times with compare-and-swap on the mod
/// revision: no increment is lost, and every failed swap was a real conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_cas_race_loses_no_update() {
    let etcd = cluster();
    let endpoints = etcd.endpoints();
    let key = "/race/counter";
    client(endpoints.clone()).txn(vec![], vec![Op::put(key, "0")]).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8usize {
        let mut eps = endpoints.clone();
        eps.rotate_left(w % 3);
        let kv = client(eps);
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..15 {
                // Bounded: 8 writers cannot make one writer lose 200 times in a row.
                for attempt in 0.. {
                    assert!(attempt < 200, "writer {w} starved");
                    let (cur, _) = kv.get(key).await.unwrap();
                    let cur = cur.unwrap();
                    let n: u64 = cur.value_str().parse().unwrap();
                    let put = Op::put(key, (n + 1).to_string());
                    if kv
                        .txn(vec![Compare::ModRevision(key.into(), cur.mod_revision)], vec![put])
                        .await
                        .unwrap()
                        .succeeded
                    {
                        break;
                    }
                    conflicts += 1;
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let (v, _) = client(endpoints).get(key).await.unwrap();
    assert_eq!(v.unwrap().value_str(), "120", "8 writers x 15 increments ({conflicts} conflicts retried)");
}

/// A 1 s lease kept alive outlives its TTL several times; left alone, its key is gone within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_lease_expires_without_keepalive() {
    let etcd = cluster();
    let kv = client(etcd.endpoints());
    let lease = kv.lease_grant(Duration::from_secs(1)).await.unwrap();
    kv.txn(vec![], vec![Op::put_leased("/node/a/alive", "1", lease)]).await.unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kv.lease_keepalive(lease).await.unwrap();
    }
    assert!(kv.get("/node/a/alive").await.unwrap().0.is_some(), "kept alive for 2.4 s of a 1 s lease");
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if kv.get("/node/a/alive").await.unwrap().0.is_none() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the leased key is still there 5 s after the last keepalive");
    assert!(matches!(kv.lease_keepalive(lease).await, Err(KvError::LeaseNotFound(_))));
}

/// A watch broken off (dropped) resumes from the last revision seen + 1 and misses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_watch_resumes_from_revision() {
    let etcd = cluster();
    let kv = client(etcd.endpoints());
    let start = kv.get("/w/").await.unwrap().1 + 1;
    let mut watch = kv.watch("/w/", start).await.unwrap();
    kv.txn(vec![], vec![Op::put("/w/1", "a")]).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap().unwrap();
    let last_seen = first.last().unwrap().kv.mod_revision;
    drop(watch);
    // Changes made while nobody watches.
    for i in 2..=4 {
        kv.txn(vec![], vec![Op::put(format!("/w/{i}"), "b")]).await.unwrap();
    }
    let mut resumed = kv.watch("/w/", last_seen + 1).await.unwrap();
    let mut keys = Vec::new();
    while keys.len() < 3 {
        let batch = tokio::time::timeout(Duration::from_secs(10), resumed.next()).await.unwrap().unwrap().unwrap();
        keys.extend(batch.into_iter().map(|e| e.kv.key));
    }
    assert_eq!(keys, ["/w/2", "/w/3", "/w/4"]);
}

/// kill -9 of the leader: reads, writes and a running watch go on (a new leader is elected in about a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_leader_killed_operations_continue() {
    let mut etcd = cluster();
    let leader = etcd.wait_leader().expect("a leader");
    // Start on the leader, so the client has to move.
    let mut eps = etcd.endpoints();
    eps.rotate_left(leader);
    let kv = client(eps);
    kv.txn(vec![], vec![Op::put("/k/before", "1")]).await.unwrap();
    let mut watch = kv.watch("/k/", kv.get("/k/").await.unwrap().1 + 1).await.unwrap();
    etcd.kill(leader);
    let after =
        eventually(50, || kv.txn(vec![Compare::Absent("/k/after".into())], vec![Op::put("/k/after", "2")])).await;
    // The CAS may have landed on a first attempt whose answer was lost: either way the key is there, once.
    let (v, _) = eventually(50, || kv.get("/k/after")).await;
    assert_eq!(v.expect("written after the leader died").value, b"2", "{after:?}");
    let batch =
        tokio::time::timeout(Duration::from_secs(15), watch.next()).await.expect("watch event").unwrap().unwrap();
    assert_eq!(batch[0].kv.key, "/k/after");
    let new_leader = etcd.wait_leader().expect("a new leader");
    assert_ne!(new_leader, leader);
}

/// SIGSTOP of the member the client uses: the member is connected but silent. Requests time out there and move to
/// another member; a watch notices the silence through its progress probe and resumes elsewhere, missing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_frozen_member_client_fails_over() {
    let mut etcd = cluster();
    // Freeze a follower (freezing the leader works too but adds an election).
    let leader = etcd.wait_leader().expect("a leader");
    let victim = (leader + 1) % 3;
    let mut eps = etcd.endpoints();
    eps.rotate_left(victim);
    let kv = client(eps);
    kv.txn(vec![], vec![Op::put("/f/0", "0")]).await.unwrap();
    let mut watch = kv.watch("/f/", kv.get("/f/").await.unwrap().1 + 1).await.unwrap();
    etcd.stop(victim);
    // Both the request client and the watch have to leave the frozen member.
    let writer = client({
        let mut e = etcd.endpoints();
        e.rotate_left((victim + 1) % 3);
        e
    });
    for i in 1..=3 {
        writer.txn(vec![], vec![Op::put(format!("/f/{i}"), "x")]).await.unwrap();
    }
    let (v, _) = eventually(10, || kv.get("/f/3")).await;
    assert!(v.is_some(), "read through another member");
    let mut keys = Vec::new();
    while keys.len() < 3 {
        let batch = tokio::time::timeout(Duration::from_secs(15), watch.next())
            .await
            .expect("the watch moved on")
            .unwrap()
            .unwrap();
        keys.extend(batch.into_iter().map(|e| e.kv.key));
    }
    assert_eq!(keys, ["/f/1", "/f/2", "/f/3"]);
    etcd.cont(victim);
}

/// Agents and coordinator candidates on the real cluster (fake appliers, no kresd): each node and each candidate
/// has its own client, starting on a different member.
struct EtcdFleet {
    keys: kres_fleet::keys::Keys,
    appliers: Vec<crate::sim::FakeApplier>,
    cancel: tokio_util::sync::CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    admin: EtcdKv,
}

impl EtcdFleet {
    fn start(etcd: &EtcdCluster, nodes: usize, apply_time: Duration) -> EtcdFleet {
        EtcdFleet::start_with(etcd, nodes, apply_time, |i| {
            let mut eps = etcd.endpoints();
            let n = eps.len();
            eps.rotate_left(i % n);
            eps
        })
    }

    /// Node `i` (0-based) and its coordinator candidate reach etcd through `endpoints(i)`.
    fn start_with(
        etcd: &EtcdCluster,
        nodes: usize,
        apply_time: Duration,
        endpoints: impl Fn(usize) -> Vec<String>,
    ) -> EtcdFleet {
        use kres_fleet::agent::{Agent, AgentOptions};
        use kres_fleet::coordinator::{Coordinator, CoordinatorOptions};
        let keys = kres_fleet::keys::Keys::new("/fleet");
        let cancel = tokio_util::sync::CancellationToken::new();
        let mut tasks = Vec::new();
        let mut appliers = Vec::new();
        for i in 0..nodes {
            let eps = endpoints(i);
            let applier = crate::sim::FakeApplier { state: Default::default(), apply_time };
            let mut opts = AgentOptions::new(format!("n{}", i + 1));
            opts.alive_ttl = Duration::from_secs(3);
            opts.retry = Duration::from_millis(200);
            let agent = Agent::new(client(eps.clone()), keys.clone(), opts, std::sync::Arc::new(applier.clone()));
            tasks.push(tokio::spawn(agent.run(cancel.clone())));
            let mut copts = CoordinatorOptions::new(format!("n{}", i + 1));
            copts.lock_ttl = Duration::from_secs(3);
            copts.retry = Duration::from_millis(200);
            copts.step_deadline = Duration::from_secs(60);
            tasks.push(tokio::spawn(Coordinator::new(client(eps), keys.clone(), copts).run(cancel.clone())));
            appliers.push(applier);
        }
        EtcdFleet { keys, appliers, cancel, tasks, admin: client(etcd.endpoints()) }
    }

    /// Waits (bounded) until `cond` holds on the fleet status.
    async fn wait_for(&self, what: &str, cond: impl Fn(&kres_fleet::admin::FleetStatus) -> bool) {
        let mut last = None;
        for _ in 0..300 {
            if let Ok(s) = kres_fleet::admin::status(&self.admin, &self.keys).await {
                if cond(&s) {
                    return;
                }
                last = Some(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: not within 30 s: {last:#?}");
    }

    /// Waits until every node's agent has registered (so a rollout includes them all).
    async fn ready(&self) {
        let n = self.appliers.len();
        self.wait_for("every node alive", |s| s.nodes.iter().filter(|x| x.alive).count() == n).await;
    }

    fn calls(&self, node: usize) -> Vec<u64> {
        self.appliers[node - 1].state.lock().unwrap().calls.iter().map(|(g, _, _)| *g).collect()
    }

    /// Waits (real time, bounded) for the rollout of `generation` to be done or halted.
    async fn settle(&self, generation: u64) -> kres_fleet::admin::FleetStatus {
        let mut last = None;
        for _ in 0..300 {
            if let Ok(s) = kres_fleet::admin::status(&self.admin, &self.keys).await {
                let settled = s.rollout.as_ref().is_some_and(|r| {
                    r.generation == generation
                        && matches!(
                            r.state,
                            kres_fleet::model::RolloutState::Done | kres_fleet::model::RolloutState::Halted
                        )
                });
                if settled {
                    return s;
                }
                last = Some(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the rollout of {generation} did not settle in 30 s: {last:#?}");
    }

    async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// The whole protocol on real etcd: a generation reaches three nodes with one ETag; the next fails its health hold
/// on node 2, which rolls nodes 1 and 2 back and leaves node 3 untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_rollout_publish_then_health_hold_failure_rolls_back() {
    use kres_fleet::model::RolloutState;
    let etcd = cluster();
    let fleet = EtcdFleet::start(&etcd, 3, Duration::from_millis(200));
    fleet.ready().await;
    let g1 = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 2\n").await.unwrap();
    let s = fleet.settle(g1).await;
    assert_eq!(s.rollout.as_ref().unwrap().state, RolloutState::Done, "{s:#?}");
    assert!(s.nodes.iter().all(|n| n.alive && n.generation == g1), "{s:#?}");
    assert_eq!(crate::sim::etags(&s).len(), 1, "one ETag everywhere");
    fleet.appliers[1].state.lock().unwrap().behaviour.insert(g1 + 1, crate::sim::Behaviour::FailHealthHold);
    let g2 = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 3\n").await.unwrap();
    let s = fleet.settle(g2).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!((r.state, r.failed_node.as_deref()), (RolloutState::Halted, Some("n2")), "{s:#?}");
    assert_eq!((s.desired, s.stable), (Some(g1), Some(g1)));
    assert_eq!(fleet.calls(1), [g1, g2, g1]);
    assert_eq!(fleet.calls(2), [g1, g2]);
    assert_eq!(fleet.calls(3), [g1]);
    fleet.stop().await;
}

/// kill -9 of the etcd leader in the middle of a rollout: the rollout completes, each node applying once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_rollout_survives_leader_kill() {
    use kres_fleet::model::RolloutState;
    let mut etcd = cluster();
    let fleet = EtcdFleet::start(&etcd, 3, Duration::from_millis(700));
    fleet.ready().await;
    let g = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 2\n").await.unwrap();
    // Mid-rollout: the first node is applying.
    for _ in 0..100 {
        if !fleet.calls(1).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fleet.calls(1), [g], "n1 started applying");
    let leader = etcd.wait_leader().expect("a leader");
    etcd.kill(leader);
    let s = fleet.settle(g).await;
    assert_eq!(s.rollout.as_ref().unwrap().state, RolloutState::Done, "{s:#?}");
    for n in 1..=3 {
        assert_eq!(fleet.calls(n), [g], "n{n} applied once");
    }
    fleet.stop().await;
}

/// Quorum lost mid-rollout (two of three members killed): the rollout stops, nothing is applied twice and no node
/// is rolled back; when the members return, the rollout completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_rollout_pauses_without_quorum_and_resumes() {
    use kres_fleet::model::RolloutState;
    let mut etcd = cluster();
    let fleet = EtcdFleet::start(&etcd, 3, Duration::from_millis(500));
    fleet.ready().await;
    let g = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 2\n").await.unwrap();
    for _ in 0..100 {
        if !fleet.calls(1).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fleet.calls(1), [g], "n1 started applying");
    etcd.kill(1);
    etcd.kill(2);
    // Without quorum, nothing moves: n2 and n3 get no target, whatever the wait.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(fleet.calls(2).is_empty() && fleet.calls(3).is_empty(), "no progress without quorum");
    assert!(kres_fleet::admin::status(&fleet.admin, &fleet.keys).await.is_err(), "no quorum, no status");
    etcd.restart(1).unwrap();
    etcd.restart(2).unwrap();
    etcd.wait_healthy().unwrap();
    let s = fleet.settle(g).await;
    assert_eq!(s.rollout.as_ref().unwrap().state, RolloutState::Done, "{s:#?}");
    for n in 1..=3 {
        assert_eq!(fleet.calls(n), [g], "n{n} applied once");
    }
    fleet.stop().await;
}

/// A node partitioned from etcd (its TCP proxy goes silent): it keeps serving and applies nothing; its `alive`
/// expires, so the next rollout leaves it out and completes; healed, it converges to the new stable generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_partitioned_node_keeps_serving_then_converges() {
    use kres_fleet::model::RolloutState;
    let etcd = cluster();
    let proxy = TcpProxy::start(&etcd.endpoints()).unwrap();
    let behind = proxy.endpoints();
    let fleet = EtcdFleet::start_with(&etcd, 3, Duration::from_millis(200), |i| {
        if i == 2 { behind.clone() } else { etcd.endpoints() }
    });
    fleet.ready().await;
    let g1 = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 2\n").await.unwrap();
    assert_eq!(fleet.settle(g1).await.rollout.unwrap().state, RolloutState::Done);
    assert_eq!(fleet.calls(3), [g1]);
    proxy.partition();
    // Its alive key expires (TTL 3 s) ...
    fleet.wait_for("n3's alive key expired", |s| s.nodes.iter().any(|n| n.name == "n3" && !n.alive)).await;
    // ... so a rollout goes over n1 and n2 and completes.
    let g2 = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 3\n").await.unwrap();
    let s = fleet.settle(g2).await;
    let r = s.rollout.as_ref().unwrap();
    assert_eq!((r.state, r.order.clone()), (RolloutState::Done, vec!["n1".to_string(), "n2".to_string()]));
    assert_eq!(fleet.calls(3), [g1], "the partitioned node applied nothing");
    proxy.heal();
    fleet
        .wait_for("n3 converged to stable after the partition healed", |s| {
            s.nodes.iter().any(|n| n.name == "n3" && n.alive && n.generation == g2)
        })
        .await;
    assert_eq!(fleet.calls(3), [g1, g2]);
    fleet.stop().await;
}

/// The coordinating node is partitioned from etcd mid-rollout: its lock expires, another node takes over and
/// finishes at the cursor; healed, the old coordinator is fenced out. Every node applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_partitioned_coordinator_is_replaced() {
    use kres_fleet::model::RolloutState;
    let etcd = cluster();
    let proxies: Vec<TcpProxy> = (0..3).map(|_| TcpProxy::start(&etcd.endpoints()).unwrap()).collect();
    let fleet = EtcdFleet::start_with(&etcd, 3, Duration::from_millis(1500), |i| proxies[i].endpoints());
    fleet.ready().await;
    let g = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 2\n").await.unwrap();
    // Wait until n1 is done (cursor 1), then cut the coordinator off.
    let mut coordinator = None;
    for _ in 0..200 {
        let s = kres_fleet::admin::status(&fleet.admin, &fleet.keys).await.unwrap();
        if s.rollout.as_ref().is_some_and(|r| r.cursor >= 1) {
            coordinator = s.coordinator.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let coordinator = coordinator.expect("a coordinator moved n1");
    let i: usize = coordinator.trim_start_matches('n').parse::<usize>().unwrap() - 1;
    proxies[i].partition();
    // The successor finishes. (If the coordinator was n2 or n3, its own agent is cut off too: its alive key
    // expires and the rollout halts and rolls back when it reaches it: both end the rollout.)
    let s = fleet.settle(g).await;
    let r = s.rollout.as_ref().unwrap();
    assert_ne!(s.coordinator.as_deref(), Some(coordinator.as_str()), "another node coordinates: {s:#?}");
    if i == 0 {
        assert_eq!(r.state, RolloutState::Done, "{s:#?}");
    }
    proxies[i].heal();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = kres_fleet::admin::status(&fleet.admin, &fleet.keys).await.unwrap();
    assert_eq!(after.rollout, s.rollout, "the healed old coordinator wrote nothing");
    for n in 1..=3 {
        let calls = fleet.calls(n);
        assert!(calls.iter().filter(|c| **c == g).count() <= 1, "n{n} applied {g} at most once: {calls:?}");
    }
    fleet.stop().await;
}

/// TLS with client certificates: a client with the CA and its certificate works; one without a certificate, one
/// with a certificate of another CA, and one speaking plain HTTP are all refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_tls_with_client_certificates() {
    use kres_fleet::kv::EtcdTls;
    use kres_test_support::TempDir;
    use kres_test_support::TestCa;
    use kres_test_support::etcd::EtcdTlsFiles;
    require_sid_root();
    let dir = TempDir::new("etcd-tls");
    let good = TestCa::new("fleet CA");
    let other = TestCa::new("another CA");
    let (server_cert, server_key) = good.issue_pem("server", &["127.0.0.1", "localhost"], false);
    let (client_cert, client_key) = good.issue_pem("node1", &["node1"], true);
    let (stranger_cert, stranger_key) = other.issue_pem("node9", &["node9"], true);
    let files = EtcdTlsFiles {
        ca: dir.write("ca.pem", good.pem()),
        server_cert: dir.write("server.pem", &server_cert),
        server_key: dir.write("server.key", &server_key),
        client_cert: dir.write("client.pem", &client_cert),
        client_key: dir.write("client.key", &client_key),
    };
    let etcd = EtcdCluster::start_tls(files).unwrap_or_else(|e| panic!("etcd cluster with TLS: {e}"));
    let with = |identity: Option<(String, String)>| {
        let mut o = EtcdOptions::new(etcd.endpoints());
        o.request_timeout = Duration::from_millis(1000);
        o.connect_timeout = Duration::from_millis(500);
        o.tls = Some(EtcdTls {
            ca: Some(good.pem().into_bytes()),
            identity: identity.map(|(c, k)| (c.into_bytes(), k.into_bytes())),
        });
        EtcdKv::new(o)
    };
    let kv = with(Some((client_cert.clone(), client_key.clone())));
    assert!(kv.txn(vec![], vec![Op::put("/tls/a", "1")]).await.unwrap().succeeded);
    assert_eq!(kv.get("/tls/a").await.unwrap().0.unwrap().value, b"1");
    assert!(with(None).get("/tls/a").await.is_err(), "no client certificate");
    assert!(with(Some((stranger_cert, stranger_key))).get("/tls/a").await.is_err(), "a certificate of another CA");
    assert!(client(etcd.endpoints()).get("/tls/a").await.is_err(), "plain HTTP");
}

/// The coordinator's overhead on real etcd: eight nodes one by one with a fixed 250 ms apply (fake appliers, no
/// kresd). Prints the rollout time against nodes x apply (docs/fleet.md records it); asserts only the outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_rollout_overhead_per_node() {
    use kres_fleet::model::RolloutState;
    const NODES: usize = 8;
    const APPLY: Duration = Duration::from_millis(250);
    let etcd = cluster();
    let fleet = EtcdFleet::start(&etcd, NODES, APPLY);
    fleet.ready().await;
    let start = std::time::Instant::now();
    let g = kres_fleet::admin::publish(&fleet.admin, &fleet.keys, b"workers: 2\n").await.unwrap();
    let mut done = None;
    for _ in 0..1500 {
        let s = kres_fleet::admin::status(&fleet.admin, &fleet.keys).await.unwrap();
        if s.rollout.as_ref().is_some_and(|r| r.generation == g && r.state == RolloutState::Done) {
            done = Some((start.elapsed(), s));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (took, s) = done.expect("the rollout finished within 30 s");
    assert!(s.nodes.iter().all(|n| n.generation == g));
    for n in 1..=NODES {
        assert_eq!(fleet.calls(n), [g], "n{n} applied once");
    }
    let floor = APPLY * NODES as u32;
    let overhead = took.saturating_sub(floor) / NODES as u32;
    eprintln!(
        "fleet on real etcd: {NODES} nodes one by one, apply {APPLY:?} each: rollout {:.3} s, nodes x apply {:.3} s, \
         overhead {:.1} ms per node (publish, coordinator reactions, agents' status writes, 20 ms polling)",
        took.as_secs_f64(),
        floor.as_secs_f64(),
        overhead.as_secs_f64() * 1000.0
    );
    fleet.stop().await;
}
