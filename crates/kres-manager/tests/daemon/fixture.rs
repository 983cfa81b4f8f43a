//! This crate's glue to the shared daemon fixture (`kres_test_support::daemon`): the `knot-resolver` binary cargo
//! built for these tests.

pub use kres_test_support::daemon::{Daemon, DaemonBuilder, TEST_ADDR, TEST_NAME, test_config};
pub use kres_test_support::{Tmpfs, alive, children_named, fd_count, kresd_in};

pub const BIN: &str = env!("CARGO_BIN_EXE_knot-resolver");

/// A daemon of this crate's `knot-resolver`.
pub fn daemon() -> DaemonBuilder {
    Daemon::builder(BIN)
}
