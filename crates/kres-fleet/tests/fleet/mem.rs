//! The in-memory KV: the contract, plus what only it offers (paused-time lease expiry, cut-off handles).

use std::time::Duration;

use kres_fleet::kv::{Kv, KvError, MemKv, Op};

#[tokio::test]
async fn mem_contract() {
    crate::contract::check(MemKv::new(), "/t/").await;
}

#[tokio::test]
async fn mem_compaction() {
    crate::contract::check_compaction(MemKv::new(), "/t/").await;
}

#[tokio::test(start_paused = true)]
async fn mem_lease_expires_without_keepalive() {
    let kv = MemKv::new();
    let lease = kv.lease_grant(Duration::from_secs(10)).await.unwrap();
    kv.txn(vec![], vec![Op::put_leased("/alive", "x", lease)]).await.unwrap();
    let mut watch = kv.watch("/alive", kv.revision() + 1).await.unwrap();
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(6)).await;
        kv.lease_keepalive(lease).await.unwrap();
    }
    assert!(kv.get("/alive").await.unwrap().0.is_some(), "kept alive for 18 s of a 10 s lease");
    tokio::time::advance(Duration::from_secs(11)).await;
    assert!(kv.get("/alive").await.unwrap().0.is_none());
    let events = watch.next().await.unwrap().unwrap();
    assert_eq!(events[0].kind, kres_fleet::kv::EventKind::Delete);
    assert!(matches!(kv.lease_keepalive(lease).await, Err(KvError::LeaseNotFound(_))));
}

#[tokio::test]
async fn mem_cut_handle_fails_and_ends_its_watches() {
    let kv = MemKv::new();
    let node = kv.handle();
    let mut watch = node.watch("/x", 0).await.unwrap();
    node.set_cut(true);
    assert!(matches!(node.get("/x").await, Err(KvError::Unavailable(_))));
    assert!(watch.next().await.is_none(), "the watch of a cut-off handle ends");
    kv.txn(vec![], vec![Op::put("/x", "1")]).await.unwrap();
    node.set_cut(false);
    assert_eq!(node.get("/x").await.unwrap().0.unwrap().value, b"1");
    assert!(node.ops() >= 3 && kv.ops() >= 1);
}
