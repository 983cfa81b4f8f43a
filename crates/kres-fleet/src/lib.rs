//! Fleet mode: configuration generations rolled out across resolver nodes through etcd, one batch of nodes at a
//! time, with a halt and a rollback in reverse order on the first failure (docs/fleet.md).
//!
//! * [`kv`] — the one door to etcd: the [`kv::Kv`] trait, [`kv::MemKv`] (in memory) and [`kv::EtcdKv`].
//! * [`keys`] — the key layout; [`model`] — the stored values.
//! * [`agent`] — runs on every node: liveness, convergence to its target through a [`NodeApplier`], status.
//! * [`coordinator`] — elected among the nodes: moves the fleet batch by batch ([`coordinator::decide`] is the
//!   pure decision, the rest executes it behind a fenced lock).
//! * [`admin`] — what `kresctl fleet` does: publish, status, halt, resume, rollback.

pub mod admin;
pub mod agent;
mod applier;
pub mod config;
pub mod coordinator;
mod error;
pub mod keys;
pub mod kv;
pub mod model;

pub use applier::{ApplyResult, NodeApplier};
pub use error::FleetError;
