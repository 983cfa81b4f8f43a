//! Test helpers for the Knot Resolver manager workspace.
//!
//! Integration tests run inside the Debian sid root (see `scripts/sid-root.sh`): `cargo xtask test` sets
//! `scripts/in-root` as the cargo target runner, so every test binary runs chrooted there and can exec the real
//! [`KRESD`], [`KNOTD`] and [`KDIG`]. The workspace is bind-mounted at the same path, so `CARGO_MANIFEST_DIR`,
//! `env!("CARGO_BIN_EXE_...")` and files under the checkout work unchanged.
//!
//! What is here:
//! * [`TempDir`] — a fresh directory under `/tmp` (inside the root), removed on drop.
//! * [`free_port`] — a loopback port free for both UDP and TCP, never handed to two tests at once.
//! * [`ChildGuard`] — a spawned process killed (SIGKILL, by PID) and reaped on drop; [`wait_until`] / [`wait_for`].
//! * [`kdig`] / [`try_kdig`] — one DNS query with kdig, parsed into a [`DigAnswer`].
//! * [`Knotd`] — an authoritative server on a free port serving the given [`Zone`]s.
//! * [`Kresd`] — a kresd started on a Lua config, ready when it sent `READY=1` to `NOTIFY_SOCKET`;
//!   [`kresd_accepts`] is the canary check ("does real kresd accept this Lua?").
//! * [`OFFLINE_LUA_PRELUDE`] / [`offline_config`] — keep kresd from contacting anything outside loopback.
//! * [`daemon::Daemon`] — the real `knot-resolver` on an offline [`daemon::test_config`] in a temp dir, on a free
//!   port; waits for DNS and the API, kresd PIDs, log.
//! * [`EtcdCluster`] — a real 3-member etcd cluster on loopback; members killed, frozen, restarted, by PID.
//! * [`TcpProxy`] — a loopback TCP proxy a test partitions (silence both ways) and heals.
//! * [`children_named`], [`alive`], [`fd_count`], [`kresd_in`] — processes as `/proc` shows them; [`Tmpfs`] — a
//!   small file system to fill.
//!
//! Tests that need the root should start with [`require_sid_root`], which panics with a clear message when the
//! test binary runs on the host instead (for example through a plain `cargo test`).

pub mod daemon;
mod dig;
mod error;
pub mod etcd;
mod knotd;
mod kresd;
mod ports;
mod process;
mod procfs;
mod proxy;
mod tempdir;
pub mod tls;
mod tmpfs;

pub use dig::{DigAnswer, Record, kdig, try_kdig};
pub use error::FixtureError;
pub use etcd::EtcdCluster;
pub use knotd::{Knotd, Zone};
pub use kresd::{Kresd, KresdBuilder, kresd_accepts};
pub use ports::free_port;
pub use process::{ChildGuard, wait_for, wait_until};
pub use procfs::{alive, children_named, fd_count, kresd_in};
pub use proxy::TcpProxy;
pub use tempdir::TempDir;
pub use tls::TestCa;
pub use tmpfs::Tmpfs;

use std::path::Path;

/// The resolver daemon inside the sid root.
pub const KRESD: &str = "/usr/sbin/kresd";
/// The cache garbage collector inside the sid root.
pub const KRES_CACHE_GC: &str = "/usr/sbin/kres-cache-gc";
/// Knot DNS authoritative server inside the sid root.
pub const KNOTD: &str = "/usr/sbin/knotd";
/// Knot DNS query tool inside the sid root.
pub const KDIG: &str = "/usr/bin/kdig";
/// Prometheus' metrics checker (`promtool check metrics < file`) inside the sid root.
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Lua that keeps kresd offline: no root priming, no time-skew/jump probes, no root trust anchor (so no DNSSEC
/// validation and no trust-anchor refresh). Put it first in a test config.
///
/// It does not stop kresd from iterating from the root hints for names that no policy handles; end the config with
/// [`OFFLINE_LUA_FALLBACK`] (or use [`offline_config`]) so that such queries go to a dead loopback port instead.
pub const OFFLINE_LUA_PRELUDE: &str = "\
modules.unload('priming'); modules.unload('detect_time_skew'); modules.unload('detect_time_jump')
trust_anchors.remove('.')
";

/// Lua that forwards every query no earlier policy handled to 127.0.0.1@9, where nothing answers. Put it last:
/// policy rules are matched in the order they were added.
pub const OFFLINE_LUA_FALLBACK: &str = "policy.add(policy.all(policy.FORWARD('127.0.0.1@9')))\n";

/// `OFFLINE_LUA_PRELUDE` + `body` + `OFFLINE_LUA_FALLBACK`.
pub fn offline_config(body: &str) -> String {
    let mut lua = String::from(OFFLINE_LUA_PRELUDE);
    lua.push_str(body);
    if !body.ends_with('\n') {
        lua.push('\n');
    }
    lua.push_str(OFFLINE_LUA_FALLBACK);
    lua
}

/// True when running inside the sid root (kresd is installed here).
pub fn in_sid_root() -> bool {
    Path::new(KRESD).exists()
}

/// Panics with instructions unless running inside the sid root.
#[track_caller]
pub fn require_sid_root() {
    assert!(
        in_sid_root(),
        "this test needs the Debian sid root ({KRESD} is missing here). \
         Run the tests with `cargo xtask test` (it builds and mounts the root and runs test binaries inside it \
         via scripts/in-root), e.g. `cargo xtask test -p <crate>`."
    );
}
