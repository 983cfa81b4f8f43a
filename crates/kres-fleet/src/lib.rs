//! Fleet mode: configuration generations rolled out across resolver nodes through etcd, one batch of nodes at a
//! time, with a halt and a rollback in reverse order on the first failure (docs/fleet.md).
//!
//! * [`kv`] — the one door to etcd: the [`kv::Kv`] trait, [`kv::MemKv`] (in memory) and [`kv::EtcdKv`].

pub mod kv;
