//! The Knot Resolver 6 manager daemon (`knot-resolver`).
//!
//! Two processes: the **supervisor** (first process, what systemd sees, parent of every kresd, the cache GC
//! and the policy-loader; small and rarely changing) and the **manager** (its child: config, apply pipeline,
//! HTTP API). They talk over [`protocol`]. If the manager dies, the supervisor restarts it and the new
//! manager adopts the running workers.

pub mod logging;
pub mod protocol;
pub mod supervisor;
