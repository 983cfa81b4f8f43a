//! kres-fleet's integration tests (one binary): the KV contract on both implementations, the real etcd cluster's
//! failure cases, and the rollout protocol on the in-memory KV.
//!
//! Tests under `etcd::` start a real 3-member etcd cluster inside the sid root and run one at a time (nextest
//! test group `etcd`, .config/nextest.toml).

mod contract;
mod etcd;
mod mem;
mod rollout;
mod scale;
mod sim;
