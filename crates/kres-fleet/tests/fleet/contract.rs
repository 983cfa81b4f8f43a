//! What every [`Kv`] must do, run on [`MemKv`] here and on a real etcd in `etcd::contract`.

use std::time::Duration;

use kres_fleet::kv::{Compare, EventKind, Kv, KvError, Op, Read};

/// Compare-and-swap on absence, mod revision and value; prefix ranges; a watch from a past revision.
pub async fn check<K: Kv>(kv: K, prefix: &str) {
    let a = format!("{prefix}a");
    let b = format!("{prefix}b");
    // Absent: the first create wins, the second fails and writes nothing.
    let first = kv.txn(vec![Compare::Absent(a.clone())], vec![Op::put(&a, "1")]).await.unwrap();
    assert!(first.succeeded);
    let second = kv.txn(vec![Compare::Absent(a.clone())], vec![Op::put(&a, "2")]).await.unwrap();
    assert!(!second.succeeded);
    let (got, _) = kv.get(&a).await.unwrap();
    let got = got.expect("a exists");
    assert_eq!(got.value, b"1");
    assert_eq!(got.mod_revision, first.revision);

    // Mod revision: a stale revision fails, the current one succeeds.
    let stale = kv.txn(vec![Compare::ModRevision(a.clone(), got.mod_revision - 1)], vec![Op::put(&a, "x")]).await;
    assert!(!stale.unwrap().succeeded);
    let swap = kv.txn(vec![Compare::ModRevision(a.clone(), got.mod_revision)], vec![Op::put(&a, "3")]).await;
    let swap = swap.unwrap();
    assert!(swap.succeeded);
    assert!(swap.revision > got.mod_revision);
    // ModRevision 0 means absent.
    assert!(kv.txn(vec![Compare::ModRevision(b.clone(), 0)], vec![Op::put(&b, "b")]).await.unwrap().succeeded);

    // Value.
    assert!(!kv.txn(vec![Compare::Value(a.clone(), b"1".to_vec())], vec![Op::delete(&a)]).await.unwrap().succeeded);
    assert!(kv.txn(vec![Compare::Value(a.clone(), b"3".to_vec())], vec![]).await.unwrap().succeeded);

    // Range by prefix, sorted; a key outside the prefix is not listed.
    let outside = format!("{prefix}-outside");
    kv.txn(vec![], vec![Op::put(&outside, "o")]).await.unwrap();
    let range = kv.range(&format!("{prefix}/")).await;
    assert!(range.unwrap().kvs.is_empty());
    let range = kv.range(prefix).await.unwrap();
    let keys: Vec<&str> = range.kvs.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, [outside.as_str(), a.as_str(), b.as_str()]);
    assert!(range.revision >= swap.revision);

    // Several reads in one transaction, at one revision.
    let (found, rev) = kv
        .read(vec![Read::Prefix(prefix.to_string()), Read::Key(a.clone()), Read::Key(format!("{prefix}none"))])
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].len(), 3);
    assert_eq!(found[1].iter().map(|k| k.value.as_slice()).collect::<Vec<_>>(), [b"3"]);
    assert!(found[2].is_empty());
    assert_eq!(rev, range.revision);

    // A watch from a past revision replays what happened since, then follows live changes.
    let mut watch = kv.watch(prefix, swap.revision).await.unwrap();
    let mut seen = Vec::new();
    kv.txn(vec![], vec![Op::delete(&b)]).await.unwrap();
    while seen.len() < 4 {
        let batch = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.expect("watch event in time");
        seen.extend(batch.expect("watch open").expect("no watch error"));
    }
    let summary: Vec<(EventKind, &str)> = seen.iter().map(|e| (e.kind, e.kv.key.as_str())).collect();
    assert_eq!(
        summary,
        [
            (EventKind::Put, a.as_str()),
            (EventKind::Put, b.as_str()),
            (EventKind::Put, outside.as_str()),
            (EventKind::Delete, b.as_str())
        ]
    );
    assert_eq!(seen[0].kv.value, b"3");
    assert!(seen.windows(2).all(|w| w[0].kv.mod_revision < w[1].kv.mod_revision));

    // Leases: a leased key goes with its revoked lease; a dead lease cannot be kept alive or written with.
    let lease = kv.lease_grant(Duration::from_secs(30)).await.unwrap();
    let c = format!("{prefix}c");
    kv.txn(vec![], vec![Op::put_leased(&c, "c", lease)]).await.unwrap();
    assert_eq!(kv.get(&c).await.unwrap().0.map(|k| k.lease), Some(lease));
    kv.lease_keepalive(lease).await.unwrap();
    kv.lease_revoke(lease).await.unwrap();
    assert!(kv.get(&c).await.unwrap().0.is_none());
    assert!(matches!(kv.lease_keepalive(lease).await, Err(KvError::LeaseNotFound(_))));
    assert!(matches!(kv.txn(vec![], vec![Op::put_leased(&c, "c", lease)]).await, Err(KvError::LeaseNotFound(_))));
}

/// After compaction, a watch from before it fails with `Compacted`; one from the range's revision works.
pub async fn check_compaction<K: Kv>(kv: K, prefix: &str) {
    let k = format!("{prefix}k");
    let r1 = kv.txn(vec![], vec![Op::put(&k, "1")]).await.unwrap().revision;
    kv.txn(vec![], vec![Op::put(&k, "2")]).await.unwrap();
    let r3 = kv.txn(vec![], vec![Op::put(&k, "3")]).await.unwrap().revision;
    kv.compact(r3).await.unwrap();
    let mut stale = kv.watch(prefix, r1).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), stale.next()).await.expect("answer in time");
    match got {
        Some(Err(KvError::Compacted { compact_revision, .. })) => assert_eq!(compact_revision, r3),
        other => panic!("expected Compacted, got {other:?}"),
    }
    // The caller's recovery: re-read everything, watch from after that.
    let range = kv.range(prefix).await.unwrap();
    assert_eq!(range.kvs[0].value, b"3");
    let mut fresh = kv.watch(prefix, range.revision + 1).await.unwrap();
    kv.txn(vec![], vec![Op::put(&k, "4")]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), fresh.next()).await.expect("event in time");
    let events = got.expect("open").expect("no error");
    assert_eq!(events[0].kv.value, b"4");
}
