//! The supervisor on its own, driven through its socket by the test playing the manager.
//!
//! Each test starts the supervisor as a separate process — this test binary re-executed to run only
//! [`helper_supervisor_process`] — so signals, the parent-death signal and the exit code are the real ones and
//! tests can run in parallel. Its manager child is a shell command, or this binary again as
//! [`helper_fake_manager`], which connects and records what it sees. Children are real kresd (offline configs on
//! free ports) or small shell commands.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kres_manager::protocol::{
    ENV_SUPERVISOR_SOCKET, Event, NOTIFY_SOCKET, ProcInfo, ProcKind, ProcStatus, Reply, Request, RequestLine, Restart,
    SUPERVISOR_SOCKET, SpawnSpec, SupervisorLine, WaitFor,
};
use kres_manager::supervisor::{self, PID_FILE, SupervisorOptions};
use kres_test_support::{
    ChildGuard, KRESD, TempDir, free_port, offline_config, require_sid_root, try_kdig, wait_for, wait_until,
};
use rustix::process::{Pid, Signal, kill_process};

/// One timeout for every wait in these tests.
const TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);
/// Set (to the JSON options) for the re-executed test binary that runs the supervisor.
const ENV_HELPER_SUPERVISOR: &str = "KRES_TEST_SUPERVISOR";
/// Set (to a log file) for the re-executed test binary that plays the manager.
const ENV_HELPER_MANAGER: &str = "KRES_TEST_FAKE_MANAGER";
const TEST_NAME: &str = "sup.example";
const TEST_ADDR: &str = "192.0.2.53";

// ---- the re-executed helpers ----

/// Not a test: the supervisor process of the other tests (a no-op unless `KRES_TEST_SUPERVISOR` is set).
#[test]
fn helper_supervisor_process() {
    let Ok(json) = std::env::var(ENV_HELPER_SUPERVISOR) else { return };
    let v: serde_json::Value = serde_json::from_str(&json).expect("helper options");
    let opts = SupervisorOptions {
        rundir: PathBuf::from(v["rundir"].as_str().unwrap()),
        manager_argv: v["manager"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(),
        manager_env: Vec::new(),
        stop_timeout: Duration::from_millis(v["stop_timeout_ms"].as_u64().unwrap()),
        manager_restart_limit: u32::try_from(v["restart_limit"].as_u64().unwrap()).unwrap(),
    };
    kres_manager::logging::init("supervisor", kres_manager::logging::Startup::default());
    kres_manager::logging::flush(); // no configuration to wait for: log directly
    let code = match supervisor::run(opts) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Not a test: a manager that connects, lists the processes, appends `<pid> <ids>` to the file named by
/// `KRES_TEST_FAKE_MANAGER` and then idles until it is killed.
#[test]
fn helper_fake_manager() {
    let Some(log) = std::env::var_os(ENV_HELPER_MANAGER) else { return };
    let socket = std::env::var_os(ENV_SUPERVISOR_SOCKET).expect("started by the supervisor");
    let mut client = Client::connect(Path::new(&socket));
    let Reply::List { procs } = client.request(Request::List) else { panic!("list failed") };
    let ids: Vec<String> = procs.iter().map(|p| format!("{}:{}", p.id, p.pid)).collect();
    let mut file = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    writeln!(file, "{} {}", std::process::id(), ids.join(",")).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1000));
    }
}

fn self_exec(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1", "--quiet"]);
    cmd
}

// ---- fixtures ----

/// How to start a supervisor.
struct Setup {
    manager: Vec<String>,
    stop_timeout_ms: u64,
    restart_limit: u32,
    env: Vec<(String, String)>,
}

impl Setup {
    /// A supervisor whose manager just sleeps (the test connects as the manager itself).
    fn new() -> Setup {
        Setup::with_manager(&["/bin/sh", "-c", "exec sleep 100000"])
    }

    fn with_manager(argv: &[&str]) -> Setup {
        Setup {
            manager: argv.iter().map(|s| s.to_string()).collect(),
            stop_timeout_ms: 5000,
            restart_limit: 3,
            env: Vec::new(),
        }
    }

    /// The fake manager ([`helper_fake_manager`]) recording into `log`.
    fn with_fake_manager(log: &Path) -> Setup {
        let exe = std::env::current_exe().unwrap();
        let mut setup = Setup::with_manager(&[exe.to_str().unwrap()]);
        setup.manager.extend(
            ["--exact", "supervisor::helper_fake_manager", "--nocapture", "--test-threads=1", "--quiet"]
                .map(String::from),
        );
        setup.env.push((ENV_HELPER_MANAGER.into(), log.display().to_string()));
        setup
    }

    fn spawn(&self, rundir: &Path, log: &Path) -> ChildGuard {
        let options = serde_json::json!({
            "rundir": rundir,
            "manager": self.manager,
            "stop_timeout_ms": self.stop_timeout_ms,
            "restart_limit": self.restart_limit,
        });
        let log = File::options().create(true).append(true).open(log).unwrap();
        let mut cmd = self_exec("supervisor::helper_supervisor_process");
        cmd.env(ENV_HELPER_SUPERVISOR, options.to_string())
            .env_remove("NOTIFY_SOCKET")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        ChildGuard::spawn(&mut cmd).expect("start the supervisor")
    }

    fn start(self) -> Supervisor {
        require_sid_root();
        let dir = TempDir::new("sup");
        let rundir = dir.join("run");
        fs::create_dir(&rundir).unwrap();
        let log = dir.join("supervisor.log");
        let process = self.spawn(&rundir, &log);
        Supervisor { process, rundir, log, dir }
    }
}

/// A running supervisor process (SIGKILLed on drop, which takes its children along).
struct Supervisor {
    process: ChildGuard,
    rundir: PathBuf,
    log: PathBuf,
    dir: TempDir,
}

impl Supervisor {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn connect(&self) -> Client {
        Client::connect(&self.rundir.join(SUPERVISOR_SOCKET))
    }

    /// Polls `condition` up to [`TIMEOUT`]; panics with the supervisor's log otherwise.
    #[track_caller]
    fn wait(&self, what: &str, condition: impl FnMut() -> bool) {
        assert!(wait_until(TIMEOUT, POLL, condition), "timed out waiting for {what}; supervisor log:\n{}", self.log());
    }

    #[track_caller]
    fn wait_exit(&mut self) -> ExitStatus {
        match self.process.wait_timeout(TIMEOUT).unwrap() {
            Some(status) => status,
            None => panic!("the supervisor did not exit; its log:\n{}", self.log()),
        }
    }

    fn signal(&self, signal: Signal) {
        kill(self.process.id(), signal);
    }

    /// The manager child's PID (call it before spawning children: it is the supervisor's only child then).
    fn manager_pid(&self) -> u32 {
        let me = self.process.id();
        wait_for(TIMEOUT, POLL, || children_of(me).into_iter().next())
            .unwrap_or_else(|| panic!("no manager process; supervisor log:\n{}", self.log()))
    }
}

/// The test's side of the protocol: a blocking client that queues the events it reads while waiting for replies.
struct Client {
    stream: BufReader<UnixStream>,
    partial: Vec<u8>,
    seq: u64,
    events: VecDeque<Event>,
}

enum Read {
    Line(SupervisorLine),
    Timeout,
    Closed,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let stream = wait_for(TIMEOUT, POLL, || UnixStream::connect(path).ok())
            .unwrap_or_else(|| panic!("cannot connect to {}", path.display()));
        Client { stream: BufReader::new(stream), partial: Vec::new(), seq: 0, events: VecDeque::new() }
    }

    fn read(&mut self, deadline: Instant) -> Read {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        self.stream.get_ref().set_read_timeout(Some(left)).unwrap();
        match self.stream.read_until(b'\n', &mut self.partial) {
            Ok(_) if self.partial.ends_with(b"\n") => {
                let line = std::mem::take(&mut self.partial);
                Read::Line(serde_json::from_slice(&line).unwrap_or_else(|e| {
                    panic!("bad line from the supervisor ({e}): {}", String::from_utf8_lossy(&line))
                }))
            }
            Ok(_) => Read::Closed,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Read::Timeout,
            Err(e) => panic!("reading from the supervisor: {e}"),
        }
    }

    fn request(&mut self, request: Request) -> Reply {
        self.seq += 1;
        let seq = self.seq;
        let mut line = serde_json::to_vec(&RequestLine { seq, request }).unwrap();
        line.push(b'\n');
        self.stream.get_mut().write_all(&line).unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.read(deadline) {
                Read::Line(SupervisorLine::Reply { seq: s, reply }) if s == seq => return reply,
                Read::Line(SupervisorLine::Reply { seq: s, reply }) => {
                    panic!("reply to an unknown request {s}: {reply:?}")
                }
                Read::Line(SupervisorLine::Event(event)) => self.events.push_back(event),
                Read::Timeout => panic!("no reply to request {seq} within {TIMEOUT:?}"),
                Read::Closed => panic!("the supervisor closed the connection"),
            }
        }
    }

    /// Waits for (and removes) the first event matching `what`, queued or new.
    fn event(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        if let Some(i) = self.events.iter().position(&matches) {
            return self.events.remove(i).unwrap();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.read(deadline) {
                Read::Line(SupervisorLine::Event(event)) if matches(&event) => return event,
                Read::Line(SupervisorLine::Event(event)) => self.events.push_back(event),
                Read::Line(other) => panic!("unexpected line while waiting for {what}: {other:?}"),
                Read::Timeout => panic!("no {what} event within {TIMEOUT:?}; got {:?}", self.events),
                Read::Closed => panic!("the supervisor closed the connection while waiting for {what}"),
            }
        }
    }

    /// Whether the supervisor closes this connection within [`TIMEOUT`] (events read meanwhile are queued).
    fn closed(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.read(deadline) {
                Read::Line(SupervisorLine::Event(event)) => self.events.push_back(event),
                Read::Line(_) => {}
                Read::Timeout => return false,
                Read::Closed => return true,
            }
        }
    }

    fn spawn(&mut self, spec: SpawnSpec) -> Reply {
        self.request(Request::Spawn { spec })
    }

    #[track_caller]
    fn spawn_ok(&mut self, spec: SpawnSpec) -> ProcInfo {
        match self.spawn(spec) {
            Reply::Proc { info } => info,
            other => panic!("spawn failed: {other:?}"),
        }
    }

    fn list(&mut self) -> Vec<ProcInfo> {
        match self.request(Request::List) {
            Reply::List { procs } => procs,
            other => panic!("list failed: {other:?}"),
        }
    }

    fn get(&mut self, id: &str) -> Option<ProcInfo> {
        self.list().into_iter().find(|p| p.id == id)
    }
}

fn spec(id: &str, argv: &[&str], wait: WaitFor, restart: Restart) -> SpawnSpec {
    SpawnSpec {
        id: id.into(),
        kind: ProcKind::Gc,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        notify: false,
        wait,
        restart,
        cleanup: Vec::new(),
        etag: "g1".into(),
    }
}

/// A kresd worker answering [`TEST_NAME`] on `port`, its config written as `<id>.conf` in the rundir and its
/// control socket at `control/<id>` (removed before every restart).
fn kresd_spec(id: &str, rundir: &Path, port: u16) -> SpawnSpec {
    let conf = format!("{id}.conf");
    let lua = offline_config(&format!(
        "net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})\n\
         net.listen('{rundir}/control/{id}', nil, {{ kind = 'control' }})\n\
         cache.open(10 * MB, 'lmdb://./cache')\n\
         policy.add(policy.suffix(policy.ANSWER({{ [kres.type.A] = {{ rdata = kres.str2ip('{TEST_ADDR}'), \
         ttl = 300 }} }}), {{ todname('{TEST_NAME}.') }}))\n",
        rundir = rundir.display()
    ));
    fs::write(rundir.join(&conf), lua).unwrap();
    SpawnSpec {
        id: id.into(),
        kind: ProcKind::Kresd,
        argv: vec![KRESD.into(), "-c".into(), conf, "-n".into()],
        env: vec![("SYSTEMD_INSTANCE".into(), id.into())],
        notify: true,
        wait: WaitFor::Ready { timeout_ms: TIMEOUT.as_millis() as u64 },
        restart: Restart::OnFailure { max_retries: 3 },
        cleanup: vec![format!("control/{id}")],
        etag: "g1".into(),
    }
}

fn answers(port: u16) -> bool {
    try_kdig("127.0.0.1", port, TEST_NAME, "A", &["+timeout=1", "+retry=0"]).is_ok_and(|a| a.addresses() == [TEST_ADDR])
}

fn kill(pid: u32, signal: Signal) {
    let _ = kill_process(Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(), signal);
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// Live processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .filter(|pid| running(*pid))
        .collect();
    pids.sort_unstable();
    pids
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap_or_default().lines().map(String::from).collect()
}

// ---- tests ----

#[test]
fn kresd_ready_restart_after_kill_and_stop() {
    let sup = Setup::new().start();
    let mut client = sup.connect();
    let port = free_port();
    let first = client.spawn_ok(kresd_spec("kresd0", &sup.rundir, port));
    assert_eq!(first.status, ProcStatus::Running, "{first:?}");
    assert!(first.pid > 0 && running(first.pid));
    assert!(sup.rundir.join("control/kresd0").exists(), "kresd's control socket");
    assert!(answers(port), "kresd answers; log:\n{}", sup.log());

    // kill -9 leaves the control socket behind; the supervisor removes it and restarts at once.
    let killed = Instant::now();
    kill(first.pid, Signal::KILL);
    let Event::Exited { info, .. } = client.event("exited", |e| matches!(e, Event::Exited { .. })) else {
        unreachable!()
    };
    assert_eq!((info.status, info.last_exit.as_deref()), (ProcStatus::Backoff, Some("signal 9")), "{info:?}");
    let Event::Started { info } = client.event("started", |e| matches!(e, Event::Started { .. })) else {
        unreachable!()
    };
    assert!(killed.elapsed() < Duration::from_secs(1), "restarted after {:?}", killed.elapsed());
    assert_ne!(info.pid, first.pid);
    assert_eq!(info.restarts, 1);
    let Event::Ready { info: ready } = client.event("ready", |e| matches!(e, Event::Ready { .. })) else {
        unreachable!()
    };
    assert_eq!((ready.pid, ready.status), (info.pid, ProcStatus::Running));
    eprintln!("the killed worker was replaced and ready after {:?}", killed.elapsed());
    sup.wait("DNS answers from the restarted kresd", || answers(port));
    let listed = client.get("kresd0").unwrap();
    assert_eq!((listed.pid, listed.restarts, listed.etag.as_str()), (info.pid, 1, "g1"));

    // A second spawn with the same id is refused while it runs.
    let Reply::Error { message, .. } = client.spawn(kresd_spec("kresd0", &sup.rundir, port)) else {
        panic!("a duplicate id must be refused")
    };
    assert_eq!(message, format!("kresd0 is already running (PID {})", info.pid));

    assert_eq!(client.request(Request::Stop { id: "kresd0".into(), timeout_ms: 5000 }), Reply::Ok);
    assert!(!running(info.pid), "kresd0 is gone once the stop is answered");
    assert!(client.list().is_empty());
    assert!(!sup.rundir.join("control/kresd0").exists(), "kresd removes its control socket on SIGTERM");
    // Stopping what is not there is fine.
    assert_eq!(client.request(Request::Stop { id: "kresd0".into(), timeout_ms: 5000 }), Reply::Ok);
}

#[test]
fn kresd_config_error_is_reported_with_its_output() {
    let sup = Setup::new().start();
    let mut client = sup.connect();
    let broken = kresd_spec("kresd1", &sup.rundir, free_port());
    fs::write(sup.rundir.join("kresd1.conf"), "this_is_not_defined()\n").unwrap();
    let Reply::Error { message, output_tail } = client.spawn(broken) else { panic!("a broken config must fail") };
    assert_eq!(message, "kresd1 exited with code 1 before it was ready");
    assert!(
        output_tail.iter().any(|l| l.contains("attempt to call global 'this_is_not_defined'")),
        "kresd's error is in the tail: {output_tail:?}"
    );
    // Not restarted: the manager decides.
    let info = client.get("kresd1").unwrap();
    assert_eq!((info.status, info.pid, info.restarts), (ProcStatus::Fatal, 0, 0), "{info:?}");
    assert_eq!(info.last_exit.as_deref(), Some("exit code 1"));
    assert!(sup.log().contains("kresd1["), "kresd's output is re-emitted:\n{}", sup.log());

    // A program that does not exist.
    let Reply::Error { message, .. } = client.spawn(spec("x", &["/nonexistent"], WaitFor::Started, Restart::Never))
    else {
        panic!("spawning a missing program must fail")
    };
    assert!(message.starts_with("cannot start x (/nonexistent): "), "{message}");
}

#[test]
fn ready_and_exit_timeouts_kill_the_process() {
    let sup = Setup::new().start();
    let mut client = sup.connect();
    let mut never_ready = spec("slow", &["/bin/sleep", "1000"], WaitFor::Ready { timeout_ms: 300 }, Restart::Never);
    never_ready.notify = true;
    let Reply::Error { message, .. } = client.spawn(never_ready) else { panic!("must time out") };
    assert_eq!(message, "slow did not become ready within 0.3 s");
    let info = client.get("slow").unwrap();
    assert_eq!((info.status, info.pid, info.last_exit.as_deref()), (ProcStatus::Fatal, 0, Some("signal 9")));

    let hang = spec("hang", &["/bin/sleep", "1000"], WaitFor::Exit { timeout_ms: 200 }, Restart::Never);
    let Reply::Error { message, .. } = client.spawn(hang) else { panic!("must time out") };
    assert_eq!(message, "hang did not exit within 0.2 s");

    // Waiting for readiness of a process without NOTIFY_SOCKET is a mistake.
    let Reply::Error { message, .. } =
        client.spawn(spec("x", &["/bin/true"], WaitFor::Ready { timeout_ms: 100 }, Restart::Never))
    else {
        panic!("must be refused")
    };
    assert!(message.contains("not started with NOTIFY_SOCKET"), "{message}");
}

#[test]
fn one_shot_exit_code_and_output() {
    let sup = Setup::new().start();
    let mut client = sup.connect();
    let once = spec(
        "once",
        &["/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"],
        WaitFor::Exit { timeout_ms: 10_000 },
        Restart::Never,
    );
    let Reply::Exited { info, code, output_tail } = client.spawn(once) else { panic!("must exit") };
    assert_eq!(code, Some(3));
    assert_eq!(info.status, ProcStatus::Exited);
    let mut tail = output_tail.clone();
    tail.sort();
    assert_eq!(tail, ["hello", "oops"]);
    // The same id can be started again once it has exited.
    let again = spec("once", &["/bin/true"], WaitFor::Exit { timeout_ms: 10_000 }, Restart::Never);
    assert!(matches!(client.spawn(again), Reply::Exited { code: Some(0), .. }));
}

#[test]
fn crash_loop_becomes_fatal() {
    let sup = Setup::new().start();
    let mut client = sup.connect();
    let crashing = spec(
        "crash",
        &["/bin/sh", "-c", "echo dying; exit 7"],
        WaitFor::Started,
        Restart::OnFailure { max_retries: 2 },
    );
    client.spawn_ok(crashing);
    // Restarted twice (at once, then after 0.5 s); the third failure within a minute is fatal.
    let mut statuses = Vec::new();
    loop {
        let Event::Exited { info, output_tail } = client.event("exited", |e| matches!(e, Event::Exited { .. })) else {
            unreachable!()
        };
        assert_eq!(output_tail, ["dying"]);
        assert_eq!(info.last_exit.as_deref(), Some("exit code 7"));
        statuses.push(info.status);
        if info.status == ProcStatus::Fatal {
            assert_eq!(info.restarts, 2);
            break;
        }
    }
    assert_eq!(statuses, [ProcStatus::Backoff, ProcStatus::Backoff, ProcStatus::Fatal]);
    assert_eq!(client.get("crash").unwrap().status, ProcStatus::Fatal);
    sup.wait("the error log", || sup.log().contains("giving up, it is FATAL now"));

    // A process that is not restarted reports its exit (here after a signal request).
    client.spawn_ok(spec("never", &["/bin/sleep", "1000"], WaitFor::Started, Restart::Never));
    assert_eq!(client.request(Request::Signal { id: "never".into(), signal: 15 }), Reply::Ok);
    let Event::Exited { info, .. } = client.event("exited", |e| matches!(e, Event::Exited { .. })) else {
        unreachable!()
    };
    assert_eq!(
        (info.id.as_str(), info.status, info.last_exit.as_deref()),
        ("never", ProcStatus::Exited, Some("signal 15"))
    );
    assert!(matches!(client.request(Request::Signal { id: "never".into(), signal: 15 }), Reply::Error { .. }));
}

#[test]
fn sigterm_stops_everything_and_cleans_the_rundir() {
    let mut setup = Setup::new();
    setup.stop_timeout_ms = 500;
    let mut sup = setup.start();
    let mut client = sup.connect();
    let manager = sup.manager_pid();
    let kresd = client.spawn_ok(kresd_spec("kresd0", &sup.rundir, free_port()));
    // One child that ignores SIGTERM: it is killed after the stop timeout.
    let stubborn = client.spawn_ok(spec(
        "stubborn",
        &["/bin/sh", "-c", "trap '' TERM; echo ignoring SIGTERM; exec sleep 1000"],
        WaitFor::Started,
        Restart::OnFailure { max_retries: 3 },
    ));
    let trapped = format!("stubborn[{}]: ignoring SIGTERM", stubborn.pid);
    sup.wait("the stubborn child's trap", || sup.log().contains(&trapped));
    fs::write(sup.rundir.join("policy-loader.conf"), "-- generated\n").unwrap();
    assert!(sup.rundir.join(PID_FILE).exists());

    sup.signal(Signal::TERM);
    client.event("shutting-down", |e| matches!(e, Event::ShuttingDown));
    let status = sup.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", sup.log());
    for pid in [kresd.pid, stubborn.pid, manager] {
        assert!(!running(pid), "process {pid} survived the shutdown");
    }
    let mut left: Vec<String> =
        fs::read_dir(&sup.rundir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    // kresd's own state stays; the PID file, sockets and generated configs are gone.
    assert_eq!(left, ["cache", "control", "defer", "ruledb"], "{}", sup.log());
    assert!(sup.log().contains("did not stop within 0.5 s; killing"), "{}", sup.log());
}

#[test]
fn second_signal_kills_at_once() {
    let mut setup = Setup::new();
    setup.stop_timeout_ms = 60_000;
    let mut sup = setup.start();
    let mut client = sup.connect();
    let stubborn = client.spawn_ok(spec(
        "stubborn",
        &["/bin/sh", "-c", "trap '' TERM INT; echo ignoring SIGTERM; exec sleep 1000"],
        WaitFor::Started,
        Restart::Never,
    ));
    let trapped = format!("stubborn[{}]: ignoring SIGTERM", stubborn.pid);
    sup.wait("the stubborn child's trap", || sup.log().contains(&trapped));
    sup.signal(Signal::TERM);
    client.event("shutting-down", |e| matches!(e, Event::ShuttingDown));
    let start = Instant::now();
    sup.signal(Signal::INT);
    assert_eq!(sup.wait_exit().code(), Some(0), "{}", sup.log());
    assert!(start.elapsed() < Duration::from_secs(10), "exited {:?} after the second signal", start.elapsed());
    assert!(!running(stubborn.pid));
    assert!(sup.log().contains("SIGINT received again; killing every process"), "{}", sup.log());
}

#[test]
fn second_supervisor_on_the_same_rundir_is_refused() {
    let sup = Setup::new().start();
    let mut client = sup.connect(); // the first one holds the lock now
    let log = sup.dir.join("second.log");
    let mut second = Setup::new().spawn(&sup.rundir, &log);
    let status = second.wait_timeout(TIMEOUT).unwrap().expect("the second supervisor exits");
    assert_eq!(status.code(), Some(1));
    let text = fs::read_to_string(&log).unwrap();
    let expected = format!(
        "Rundir already in use: {} (another manager runs there: PID {}, PID file {})",
        sup.rundir.display(),
        sup.process.id(),
        sup.rundir.join(PID_FILE).display()
    );
    assert!(text.contains(&expected), "{text}");
    // The first one is unaffected.
    assert!(client.list().is_empty());
    assert_eq!(fs::read_to_string(sup.rundir.join(PID_FILE)).unwrap().trim(), sup.process.id().to_string());
}

#[test]
fn stale_pid_file_and_sockets_are_replaced() {
    require_sid_root();
    let dir = TempDir::new("sup-stale");
    let rundir = dir.join("run");
    fs::create_dir(&rundir).unwrap();
    // A PID that cannot be alive, and stale socket files.
    fs::write(rundir.join(PID_FILE), "4194303\n").unwrap();
    drop(UnixDatagram::bind(rundir.join(NOTIFY_SOCKET)).unwrap());
    fs::write(rundir.join(SUPERVISOR_SOCKET), "").unwrap();
    let log = dir.join("supervisor.log");
    let mut process = Setup::new().spawn(&rundir, &log);
    let mut client = Client::connect(&rundir.join(SUPERVISOR_SOCKET));
    assert!(client.list().is_empty());
    assert_eq!(fs::read_to_string(rundir.join(PID_FILE)).unwrap().trim(), process.id().to_string());
    assert_eq!(client.request(Request::Shutdown), Reply::Ok);
    let status = process.wait_timeout(TIMEOUT).unwrap().expect("exits after shutdown");
    assert_eq!(status.code(), Some(0));
    assert!(fs::read_dir(&rundir).unwrap().next().is_none(), "rundir is empty again");
}

#[test]
fn crashed_manager_is_restarted_and_children_keep_running() {
    let dir = TempDir::new("sup-mgr");
    let record = dir.join("manager.record");
    let sup = Setup::with_fake_manager(&record).start();
    sup.wait("the fake manager's connection", || read_lines(&record).len() == 1);
    let first_manager: u32 = read_lines(&record)[0].split(' ').next().unwrap().parse().unwrap();
    assert_eq!(sup.manager_pid(), first_manager);

    let mut client = sup.connect(); // replaces the fake manager's connection
    let child =
        client.spawn_ok(spec("idle", &["/bin/sleep", "1000"], WaitFor::Started, Restart::OnFailure { max_retries: 3 }));

    kill(first_manager, Signal::KILL);
    sup.wait("a new manager connection", || read_lines(&record).len() == 2);
    let second = &read_lines(&record)[1];
    let (pid, procs) = second.split_once(' ').unwrap();
    assert_ne!(pid, first_manager.to_string());
    assert_eq!(procs, format!("idle:{}", child.pid), "the new manager sees the same child");
    assert!(running(child.pid));
    assert!(client.closed(), "the new manager's connection replaced the test's");
    assert!(sup.log().contains("exited unexpectedly (signal 9); restarting it"), "{}", sup.log());
}

#[test]
fn manager_exit_codes() {
    // 2: fatal, no restart, exit code 1.
    let mut sup = Setup::with_manager(&["/bin/sh", "-c", "exit 2"]).start();
    assert_eq!(sup.wait_exit().code(), Some(1), "{}", sup.log());
    assert!(!sup.rundir.join(PID_FILE).exists());
    assert!(sup.log().contains("must not be restarted"), "{}", sup.log());

    // 0: normal shutdown.
    let mut sup = Setup::with_manager(&["/bin/sh", "-c", "exit 0"]).start();
    assert_eq!(sup.wait_exit().code(), Some(0), "{}", sup.log());

    // Anything else: restarted, until it crashed more than the limit within a minute.
    let dir = TempDir::new("sup-crash");
    let starts = dir.join("starts");
    let script = format!("echo started >> {}; exit 101", starts.display());
    let mut setup = Setup::with_manager(&["/bin/sh", "-c", &script]);
    setup.restart_limit = 2;
    let mut sup = setup.start();
    assert_eq!(sup.wait_exit().code(), Some(1), "{}", sup.log());
    assert_eq!(read_lines(&starts).len(), 3, "started, restarted twice, then given up:\n{}", sup.log());
    assert!(sup.log().contains("times within 60 s"), "{}", sup.log());
}

#[test]
fn killed_supervisor_takes_its_children_along() {
    let mut sup = Setup::new().start();
    let mut client = sup.connect();
    let manager = sup.manager_pid();
    let kresd = client.spawn_ok(kresd_spec("kresd0", &sup.rundir, free_port()));
    let sleeper = client.spawn_ok(spec("idle", &["/bin/sleep", "1000"], WaitFor::Started, Restart::Never));
    sup.process.kill().unwrap();
    for pid in [kresd.pid, sleeper.pid, manager] {
        sup.wait("the parent-death signal", || !running(pid));
    }
}

#[test]
fn systemd_notifications_and_a_clean_child_environment() {
    require_sid_root();
    let dir = TempDir::new("sup-sd");
    let systemd = UnixDatagram::bind(dir.join("systemd.sock")).unwrap();
    systemd.set_read_timeout(Some(TIMEOUT)).unwrap();
    // WATCHDOG=1 (fed while the connected test client talks) may come in between; tests/daemon/systemd.rs checks it.
    let recv = || loop {
        let mut buf = [0u8; 4096];
        let n = systemd.recv(&mut buf).expect("a notification for systemd");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text != "WATCHDOG=1" {
            return text;
        }
    };
    let hup = dir.join("hup");
    let manager = format!("trap 'echo hup >> {}' HUP; while :; do sleep 0.05; done", hup.display());
    let mut setup = Setup::with_manager(&["/bin/sh", "-c", &manager]);
    setup.env.push(("NOTIFY_SOCKET".into(), dir.join("systemd.sock").display().to_string()));
    setup.env.push(("WATCHDOG_USEC".into(), "1000000".into()));
    let mut sup = setup.start();
    assert_eq!(recv(), "STATUS=Starting...");
    let mut client = sup.connect();

    // The children never see systemd's variables; notify-type children get the supervisor's socket.
    let env_of = |client: &mut Client, notify: bool| {
        let mut s = spec(
            "env",
            &["/bin/sh", "-c", "echo \"N=$NOTIFY_SOCKET W=$WATCHDOG_USEC\""],
            WaitFor::Exit { timeout_ms: 10_000 },
            Restart::Never,
        );
        s.notify = notify;
        match client.spawn(s) {
            Reply::Exited { output_tail, .. } => output_tail.join("\n"),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(env_of(&mut client, false), "N= W=");
    assert_eq!(env_of(&mut client, true), format!("N={} W=", sup.rundir.join(NOTIFY_SOCKET).display()));

    assert_eq!(client.request(Request::Ready { status: "Ready".into() }), Reply::Ok);
    assert_eq!(recv(), "READY=1\nSTATUS=Ready");
    assert_eq!(client.request(Request::Notify { state: "RELOADING=1\nMONOTONIC_USEC=1".into() }), Reply::Ok);
    assert_eq!(recv(), "RELOADING=1\nMONOTONIC_USEC=1");

    // A notification from a process the supervisor does not know is ignored.
    UnixDatagram::unbound().unwrap().send_to(b"READY=1", sup.rundir.join(NOTIFY_SOCKET)).unwrap();

    sup.signal(Signal::HUP);
    sup.wait("SIGHUP passed on to the manager", || read_lines(&hup) == ["hup"]);

    assert_eq!(client.request(Request::Shutdown), Reply::Ok);
    assert_eq!(recv(), "STOPPING=1");
    assert_eq!(sup.wait_exit().code(), Some(0), "{}", sup.log());
}
