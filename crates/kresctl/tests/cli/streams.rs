//! Exit codes and the stdout/stderr split, compared with the reference's `kresctl` (`/usr/bin/kresctl`, Python,
//! knot-resolver6 6.5.0 in the sid root) run on the same arguments: operators' scripts test `$?` and capture
//! stdout. Each case must give the same exit code, and output on the same streams (the texts differ: clap's usage
//! messages are not argparse's, our diagnostics say more). Online cases run both clients against one of our
//! managers, so only the clients differ.

use std::path::Path;
use std::process::Command;

use kres_test_support::{TempDir, require_sid_root};

use crate::daemon::start_daemon;
use crate::support::{Run, kresctl_in};

const REFERENCE_KRESCTL: &str = "/usr/bin/kresctl";

fn reference(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(REFERENCE_KRESCTL).args(args).current_dir(dir).output().expect("run the reference kresctl");
    Run {
        code: out.status.code().expect("the reference kresctl was killed by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (exit code, whether stdout has output, whether stderr has output).
fn shape(run: &Run) -> (i32, bool, bool) {
    (run.code, !run.stdout.trim().is_empty(), !run.stderr.trim().is_empty())
}

#[track_caller]
fn same(dir: &Path, args: &[&str]) {
    let (ours, theirs) = (kresctl_in(Some(dir), args), reference(dir, args));
    assert_eq!(
        shape(&ours),
        shape(&theirs),
        "kresctl {args:?}: (exit code, stdout, stderr) differ\n-- ours:\n{}\n{}\n-- reference:\n{}\n{}",
        ours.stdout,
        ours.stderr,
        theirs.stdout,
        theirs.stderr
    );
}

#[test]
fn offline_commands_usage_errors_and_unreachable_managers() {
    require_sid_root();
    let dir = TempDir::new("kresctl-streams");
    let d = dir.path();
    std::fs::write(d.join("good.yaml"), "workers: 1\n").unwrap();
    std::fs::write(d.join("bad.yaml"), "workers: many\n").unwrap();
    std::fs::write(d.join("broken.yaml"), "workers: [\n").unwrap();
    let gone = d.join("gone.sock");
    let gone = gone.to_str().unwrap();
    let cases: &[&[&str]] = &[
        // usage errors: exit 2, stderr
        &[],
        &["nosuchcommand"],
        &["validate", "--nosuchflag"],
        &["config"],
        &["-s", "a.sock", "-c", "good.yaml", "schema"],
        // help and version: stdout
        &["--help"],
        &["-V"],
        &["--version"],
        // offline commands
        &["validate", "good.yaml"],
        &["validate", "bad.yaml"],
        &["validate", "broken.yaml"],
        &["validate", "missing.yaml"],
        &["convert", "good.yaml"],
        &["convert", "bad.yaml"],
        &["schema"],
        &["migrate", "broken.yaml"],
        // no manager listening
        &["-s", gone, "config", "get"],
        &["-s", gone, "reload"],
        &["-s", gone, "stop"],
        &["-s", gone, "metrics"],
        &["-s", gone, "schema", "--live"],
    ];
    for args in cases {
        same(d, args);
    }
}

#[test]
fn online_commands_and_failure_statuses() {
    let daemon = start_daemon(1);
    let dir = daemon.dir.path();
    let socket = daemon.socket();
    let socket = socket.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["-s", socket, "config", "set", "-p", "/logging/level", "info"],
        // a failure status from the manager: 400 with the reasons
        &["-s", socket, "config", "set", "-p", "/workers", "many"],
        &["-s", socket, "reload"],
        &["-s", socket, "reload", "--force"],
        &["-s", socket, "metrics"],
        &["-s", socket, "schema", "--live"],
    ];
    for args in cases {
        same(dir, args);
    }
    // A reload the manager refuses (the file is invalid now): exit 1, the manager's answer on stderr.
    let good = std::fs::read_to_string(daemon.config_file()).unwrap();
    std::fs::write(daemon.config_file(), good.replace("workers: 1", "workers: many")).unwrap();
    same(dir, &["-s", socket, "reload"]);
    std::fs::write(daemon.config_file(), good).unwrap();
    assert!(daemon.answers(), "{}", daemon.log());

    // stop: one manager for each client.
    let other = start_daemon(1);
    let other_socket = other.socket();
    let theirs = reference(dir, &["-s", other_socket.to_str().unwrap(), "stop"]);
    let ours = kresctl_in(Some(dir), ["-s", socket, "stop"]);
    assert_eq!(shape(&ours), shape(&theirs), "stop\n-- ours:\n{ours:?}\n-- reference:\n{theirs:?}");
}
