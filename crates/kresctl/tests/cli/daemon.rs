//! This crate's glue to the shared daemon fixture (`kres_test_support::daemon`): the workspace's `knot-resolver`
//! (built next to `kresctl`) with real kresd workers, and `kresctl` pointed at its management socket.

use std::path::{Path, PathBuf};

pub use kres_test_support::alive;
pub use kres_test_support::daemon::Daemon;

use crate::support::{Run, kresctl};

/// The `knot-resolver` binary: cargo puts every binary of the workspace in the same directory.
pub fn knot_resolver_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_kresctl")).with_file_name("knot-resolver");
    assert!(
        bin.is_file(),
        "{} is missing: the online kresctl tests run the workspace's manager. Build it first \
         (`cargo build -p kres-manager`), or run the tests with `cargo xtask test` (`cargo xtask test -p kresctl` \
         builds it too)",
        bin.display()
    );
    bin
}

/// Starts a resolver with `workers` kresd and waits until it answers DNS and its API reports every worker ready.
pub fn start_daemon(workers: usize) -> Daemon {
    Daemon::builder(knot_resolver_bin()).tag("kresctl").workers(workers).start()
}

/// `kresctl` against a running [`Daemon`].
pub trait DaemonExt {
    /// `kresctl -s <the daemon's socket> ARGS`.
    fn kresctl<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>;

    /// The kresd PIDs `kresctl pids kresd` lists, sorted.
    fn pids_kresd(&self) -> Vec<u32>;
}

impl DaemonExt for Daemon {
    fn kresctl<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["-s".into(), self.socket().into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        kresctl(all)
    }

    fn pids_kresd(&self) -> Vec<u32> {
        let run = self.kresctl(["pids", "kresd"]).success();
        let mut pids: Vec<u32> = run.stdout.lines().map(|l| l.parse().unwrap_or_else(|_| panic!("{l:?}"))).collect();
        pids.sort_unstable();
        pids
    }
}
