//! The whole daemon as systemd sees it, with a fake `NOTIFY_SOCKET` (systemd itself does not run here): the test
//! binds a unix datagram socket, passes it to the real `knot-resolver` binary and reads what arrives.
//!
//! Covers `Type=notify` (READY=1 once the API and the workers are up, STOPPING=1 on SIGTERM),
//! `Type=notify-reload` (SIGHUP → RELOADING=1 with MONOTONIC_USEC, then READY=1 once the reload is applied or
//! refused) and `WatchdogSec=` (WATCHDOG=1 every WATCHDOG_USEC/2 only while the manager pings and no worker is
//! FATAL).

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kres_test_support::{ChildGuard, TempDir, free_port, require_sid_root, try_kdig, wait_until};
use rustix::process::{Pid, Signal, kill_process};

use crate::fixture::{BIN, Daemon, TEST_ADDR, TEST_NAME, alive, test_config};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A fake systemd: the notify socket and every datagram received on it, with its arrival time.
struct FakeSystemd {
    messages: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl FakeSystemd {
    fn bind(dir: &TempDir) -> (FakeSystemd, String) {
        let path = dir.path().join("systemd-notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the fake NOTIFY_SOCKET");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the test process exits; the socket file goes with the temp dir.
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        (FakeSystemd { messages }, path.display().to_string())
    }

    fn all(&self) -> Vec<(Instant, String)> {
        self.messages.lock().unwrap().clone()
    }

    /// How many messages have arrived so far (an index for [`FakeSystemd::wait_after`]).
    fn mark(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    /// Waits for a message after index `from` that `matches`; returns its index and text.
    fn wait_after(&self, from: usize, what: &str, matches: impl Fn(&str) -> bool) -> (usize, String) {
        let mut found = None;
        let ok = wait_until(TIMEOUT, Duration::from_millis(10), || {
            let messages = self.messages.lock().unwrap();
            found =
                messages.iter().enumerate().skip(from).find(|(_, (_, m))| matches(m)).map(|(i, (_, m))| (i, m.clone()));
            found.is_some()
        });
        assert!(ok, "no {what} within {TIMEOUT:?}; systemd got: {:?}", self.texts());
        found.unwrap()
    }

    /// Messages other than WATCHDOG=1, in order.
    fn texts(&self) -> Vec<String> {
        self.all().into_iter().map(|(_, m)| m).filter(|m| m != "WATCHDOG=1").collect()
    }

    /// WATCHDOG=1 messages that arrived within `[from, to)`.
    fn watchdogs_between(&self, from: Instant, to: Instant) -> usize {
        self.all().iter().filter(|(t, m)| m == "WATCHDOG=1" && *t >= from && *t < to).count()
    }
}

/// Starts `knot-resolver` with `NOTIFY_SOCKET` (and more environment) pointing at a fake systemd.
fn start(workers: usize, env: &[(&str, &str)]) -> (Daemon, FakeSystemd) {
    require_sid_root();
    let dir = TempDir::new("systemd");
    fs::create_dir_all(dir.path().join("run")).unwrap();
    fs::create_dir_all(dir.path().join("cache")).unwrap();
    let port = free_port();
    fs::write(dir.path().join("config.yaml"), test_config(dir.path(), port, workers, "")).unwrap();
    let (systemd, notify_socket) = FakeSystemd::bind(&dir);
    let log = fs::File::create(dir.path().join("daemon.log")).unwrap();
    let process = ChildGuard::spawn(
        Command::new(BIN)
            .arg("-c")
            .arg(dir.path().join("config.yaml"))
            .env("NOTIFY_SOCKET", notify_socket)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    )
    .expect("spawn knot-resolver");
    (Daemon { dir, port, process }, systemd)
}

fn signal(pid: u32, signal: Signal) {
    kill_process(Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(), signal).expect("kill");
}

fn monotonic_usec() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(now.tv_sec).unwrap() * 1_000_000 + u64::try_from(now.tv_nsec).unwrap() / 1_000
}

fn answer(d: &Daemon, name: &str) -> Vec<String> {
    try_kdig("127.0.0.1", d.port, name, "A", &["+timeout=2", "+retry=1"])
        .map(|a| a.addresses().into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The `MONOTONIC_USEC=` value of a notification.
fn monotonic_of(message: &str) -> u64 {
    let value = message.lines().find_map(|l| l.strip_prefix("MONOTONIC_USEC=")).expect("MONOTONIC_USEC=");
    value.parse().expect("MONOTONIC_USEC is a number")
}

#[test]
fn ready_reloading_and_stopping_notifications() {
    let (mut d, systemd) = start(1, &[]);
    let (_, ready) = systemd.wait_after(0, "READY=1", |m| m.lines().any(|l| l == "READY=1"));
    assert_eq!(ready, "READY=1\nSTATUS=Ready");
    // READY=1 means the resolver is up: the workers answer and the management API listens.
    assert_eq!(answer(&d, TEST_NAME), [TEST_ADDR]);
    assert!(d.rundir().join("kres-api.sock").exists());
    assert_eq!(systemd.texts().first().map(String::as_str), Some("STATUS=Starting..."));
    assert!(!systemd.texts().iter().any(|m| m.contains("WATCHDOG")), "no watchdog without WATCHDOG_USEC");

    // Type=notify-reload: systemd sends SIGHUP to the main process (the supervisor) and waits for RELOADING=1
    // with a fresh MONOTONIC_USEC, then READY=1 once the new configuration is in force.
    let config = d.dir.path().join("config.yaml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, text.replace(TEST_ADDR, "192.0.2.54")).unwrap();
    let mark = systemd.mark();
    let before = monotonic_usec();
    signal(d.process.id(), Signal::HUP);
    let (reloading_at, reloading) = systemd.wait_after(mark, "RELOADING=1", |m| m.contains("RELOADING=1"));
    let after = monotonic_usec();
    let usec = monotonic_of(&reloading);
    assert!(before <= usec && usec <= after, "MONOTONIC_USEC {usec} is not within [{before}, {after}]");
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
    let (_, ready) = systemd.wait_after(reloading_at + 1, "READY=1 after the reload", |m| m.starts_with("READY=1"));
    assert_eq!(ready, "READY=1\nSTATUS=Ready");
    // By READY=1 the reload has been applied.
    assert_eq!(answer(&d, TEST_NAME), ["192.0.2.54"], "{}", d.log());

    // A reload that fails still ends with READY=1 (the previous configuration stays in force); STATUS= says so.
    fs::write(&config, "workers: [not, a, number]\n").unwrap();
    let mark = systemd.mark();
    signal(d.process.id(), Signal::HUP);
    let (at, _) = systemd.wait_after(mark, "RELOADING=1 (invalid file)", |m| m.contains("RELOADING=1"));
    let (_, ready) = systemd.wait_after(at + 1, "READY=1 after a failed reload", |m| m.starts_with("READY=1"));
    assert!(ready.contains("STATUS=Ready; the last reload failed"), "{ready}");
    assert_eq!(answer(&d, TEST_NAME), ["192.0.2.54"]);
    assert!(d.log().contains("Configuration has NOT been changed."), "{}", d.log());

    // SIGTERM: STOPPING=1, then a clean exit; nothing after STOPPING=1.
    let mark = systemd.mark();
    d.process.signal("TERM").unwrap();
    let status = d.process.wait_timeout(TIMEOUT).unwrap().expect("knot-resolver exits after SIGTERM");
    assert!(status.success(), "exit status {status}:\n{}", d.log());
    let (stopping, _) = systemd.wait_after(mark, "STOPPING=1", |m| m == "STOPPING=1");
    let after_stopping: Vec<String> = systemd.all().into_iter().skip(stopping + 1).map(|(_, m)| m).collect();
    assert!(after_stopping.is_empty(), "notifications after STOPPING=1: {after_stopping:?}");
}

#[test]
fn watchdog_is_fed_only_while_the_manager_answers() {
    // WATCHDOG_USEC=1 s: WATCHDOG=1 every 0.5 s, the manager pings every 0.25 s.
    let (mut d, systemd) = start(1, &[("WATCHDOG_USEC", "1000000")]);
    systemd.wait_after(0, "READY=1", |m| m.starts_with("READY=1"));
    let manager = d.manager_pid().expect("the manager process");
    // Neither the manager nor kresd sees systemd's variables (the supervisor alone talks to systemd).
    for pid in [manager].into_iter().chain(d.kresd_pids()) {
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(!environ.contains("WATCHDOG_USEC"), "PID {pid} got WATCHDOG_USEC");
        assert!(!environ.split('\0').any(|v| v.starts_with("NOTIFY_SOCKET=") && v.contains("systemd-notify")));
    }

    let from = Instant::now();
    thread::sleep(Duration::from_millis(2600));
    let fed = systemd.watchdogs_between(from, Instant::now());
    // One every 0.5 s: 5, give or take a tick on a loaded machine.
    assert!((3..=7).contains(&fed), "{fed} WATCHDOG=1 in 2.6 s; expected one every 0.5 s");

    // A stopped manager stops answering: the watchdog starves (systemd would kill and restart the service).
    signal(manager, Signal::STOP);
    thread::sleep(Duration::from_millis(1200)); // the last ping may be up to 0.5 s old at the next tick
    let from = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    let fed_while_stopped = systemd.watchdogs_between(from, Instant::now());
    signal(manager, Signal::CONT);
    assert_eq!(fed_while_stopped, 0, "WATCHDOG=1 while the manager was stopped:\n{}", d.log());
    assert!(d.log().contains("not feeding the systemd watchdog: the manager has sent nothing for"), "{}", d.log());
    let mark = systemd.mark();
    systemd.wait_after(mark, "WATCHDOG=1 after SIGCONT", |m| m == "WATCHDOG=1");
    assert!(d.log().contains("healthy again; feeding the systemd watchdog"), "{}", d.log());
    assert!(d.answers());

    d.process.signal("TERM").unwrap();
    assert!(d.process.wait_timeout(TIMEOUT).unwrap().is_some_and(|s| s.success()), "{}", d.log());
}

#[test]
fn watchdog_starves_when_a_worker_is_fatal() {
    let (mut d, systemd) = start(2, &[("WATCHDOG_USEC", "1000000")]);
    systemd.wait_after(0, "READY=1", |m| m.starts_with("READY=1"));
    let mark = systemd.mark();
    systemd.wait_after(mark, "WATCHDOG=1", |m| m == "WATCHDOG=1");

    // Kill the same worker until the supervisor gives up on it (more than 5 failures within a minute).
    let mut pids = d.kresd_pids();
    assert_eq!(pids.len(), 2, "{}", d.log());
    let mut target = pids[0];
    for round in 1..=6 {
        signal(target, Signal::KILL);
        let last = round == 6;
        let ok = wait_until(TIMEOUT, Duration::from_millis(20), || {
            let now = d.kresd_pids();
            if last { !alive(target) && now.len() == 1 } else { now.len() == 2 && !now.contains(&target) }
        });
        assert!(ok, "round {round}: worker PIDs {:?}\n{}", d.kresd_pids(), d.log());
        if !last {
            let now = d.kresd_pids();
            target = *now.iter().find(|p| !pids.contains(p)).expect("the restarted worker");
            pids = now;
        }
    }
    let fatal = wait_until(TIMEOUT, Duration::from_millis(20), || {
        d.log().contains("not feeding the systemd watchdog: kresd") && d.log().contains("FATAL")
    });
    assert!(fatal, "{}", d.log());
    thread::sleep(Duration::from_millis(600));
    let from = Instant::now();
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(systemd.watchdogs_between(from, Instant::now()), 0, "WATCHDOG=1 with a FATAL worker:\n{}", d.log());
    // The other worker still answers: only systemd's watchdog (WatchdogSec=, Restart=) acts on this.
    assert!(d.answers());

    d.process.signal("TERM").unwrap();
    assert!(d.process.wait_timeout(TIMEOUT).unwrap().is_some_and(|s| s.success()), "{}", d.log());
}
