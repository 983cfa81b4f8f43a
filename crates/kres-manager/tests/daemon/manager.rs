//! The daemon as a whole: start-up, worker restarts, manager crash and adoption, shutdown, errors.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kres_test_support::wait_until;

use crate::fixture::{alive, daemon};

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

#[test]
fn two_workers_start_and_answer_on_one_port() {
    let d = daemon().workers(2).start();
    let ok = wait_until(Duration::from_secs(10), Duration::from_millis(20), || d.kresd_pids().len() == 2);
    assert!(ok, "expected 2 kresd workers, got {:?}\n{}", d.kresd_pids(), d.log());
    // Both workers listen on the configured port (SO_REUSEPORT): each has its own control socket too.
    assert!(d.rundir().join("control/0").exists() && d.rundir().join("control/1").exists(), "{}", d.log());
    assert!(d.answers());
}

#[test]
fn killed_worker_is_replaced_quickly() {
    let d = daemon().start();
    let old = d.kresd_pids();
    assert_eq!(old.len(), 1, "{}", d.log());
    kill(old[0], "KILL");
    let killed_at = Instant::now();
    let ok = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
        let now = d.kresd_pids();
        now.len() == 1 && now != old && d.answers()
    });
    assert!(ok, "no replacement worker answered:\n{}", d.log());
    // Not a timing assertion on a shared machine: just report how long it took.
    eprintln!("replacement worker answered {:?} after kill -9", killed_at.elapsed());
}

#[test]
fn manager_crash_keeps_dns_answering_and_workers_are_adopted() {
    let d = daemon().workers(2).start();
    assert!(wait_until(Duration::from_secs(10), Duration::from_millis(20), || d.kresd_pids().len() == 2));
    let workers = d.kresd_pids();
    let manager = d.manager_pid().expect("manager process");
    kill(manager, "KILL");
    // A bounded query loop while the manager is down and restarting: every query must be answered.
    let mut failures = 0;
    let mut queries = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && queries < 300 {
        queries += 1;
        if !d.answers() {
            failures += 1;
        }
    }
    assert_eq!(failures, 0, "{failures} of {queries} queries failed while the manager restarted:\n{}", d.log());
    let ok = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        d.manager_pid().is_some_and(|p| p != manager) && d.log().contains("adopting running workers")
    });
    assert!(ok, "the manager was not restarted or did not adopt the workers:\n{}", d.log());
    assert_eq!(d.kresd_pids(), workers, "workers were restarted instead of adopted");
    for pid in &workers {
        assert!(d.log().contains(&format!("PID {pid}")), "adoption log does not list PID {pid}:\n{}", d.log());
    }
}

#[test]
fn failing_lua_script_stops_startup_with_kresd_error() {
    let mut d = daemon().extra("lua:\n  script: this_is_not_defined()\n").spawn();
    let ok =
        wait_until(Duration::from_secs(30), Duration::from_millis(20), || matches!(d.process.try_wait(), Ok(Some(_))));
    assert!(ok, "knot-resolver kept running with a broken lua/script:\n{}", d.log());
    let status = d.process.try_wait().unwrap().unwrap();
    assert!(!status.success(), "exit status should be non-zero");
    let log = d.log();
    assert!(log.contains("this_is_not_defined"), "kresd's own error text is missing:\n{log}");
    assert!(d.kresd_pids().is_empty());
}

#[test]
fn sigterm_stops_everything_and_cleans_up() {
    let mut d = daemon().workers(2).start();
    assert!(wait_until(Duration::from_secs(10), Duration::from_millis(20), || d.kresd_pids().len() == 2));
    let workers = d.kresd_pids();
    let manager = d.manager_pid().expect("manager");
    d.process.signal("TERM").unwrap();
    let ok =
        wait_until(Duration::from_secs(20), Duration::from_millis(20), || matches!(d.process.try_wait(), Ok(Some(_))));
    assert!(ok, "knot-resolver did not stop on SIGTERM:\n{}", d.log());
    let status = d.process.try_wait().unwrap().unwrap();
    assert!(status.success(), "exit status {status}:\n{}", d.log());
    for pid in workers.iter().chain([&manager]) {
        assert!(!alive(*pid), "process {pid} survived the shutdown");
    }
    let run = d.rundir();
    for leftover in ["knot-resolver.pid", "supervisor.sock", "supervisor-notify.sock", "kresd0.conf", "kresd1.conf"] {
        assert!(!run.join(leftover).exists(), "{leftover} left in the rundir");
    }
    let sockets: Vec<_> = std::fs::read_dir(run.join("control")).into_iter().flatten().flatten().collect();
    assert!(sockets.is_empty(), "stale control sockets: {sockets:?}");
}

#[test]
fn second_daemon_on_the_same_rundir_is_refused() {
    let d = daemon().start();
    let out = Command::new(crate::fixture::BIN).arg("-c").arg(d.dir.path().join("config.yaml")).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Rundir already in use: "), "unexpected output: {text}");
    assert!(d.answers(), "the first daemon must keep running");
    assert!(Path::new(&d.rundir().join("knot-resolver.pid")).exists());
}
