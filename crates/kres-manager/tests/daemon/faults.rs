//! Fault injection against real kresd: every fault happens during an apply (or a burst of them) under a steady
//! UDP query load. After each one the test counts the lost queries and checks that the resolver is consistent
//! and healthy again ([`check_consistent`]): `GET /readyz` is 200; the ETag is the one of the stored document;
//! every worker's `kresd<N>.conf` is the Lua rendered from `GET /v1/config`, and the worker really runs it (the
//! `lua` section sets a global `fault_gen` that is read back over each worker's control socket, and the local
//! data that goes with it is answered over DNS); exactly the configured number of kresd run in the rundir
//! (nothing leaked or orphaned); the supervisor and the manager hold no more file descriptors than before.
//!
//! Random moments come from a seeded generator: `KRES_FAULT_SEED` (default fixed) and `KRES_FAULT_ROUNDS`
//! (default 1) run more, e.g. `KRES_FAULT_SEED=7 KRES_FAULT_ROUNDS=20 cargo xtask test -p kres-manager -E
//! 'test(faults::random_kills)'`. Results: docs/reliability.md, "Fault injection".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kres_test_support::{TempDir, free_port, try_kdig, wait_until};
use serde_json::{Value, json};

use crate::api::{Api, JSON, LoadResult, Reply, http, query_loop};
use crate::fixture::{
    BIN, Daemon, TEST_ADDR, TEST_NAME, Tmpfs, alive, children_named, daemon, fd_count, kresd_in, test_config,
};

/// One bound for every wait on the resolver.
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

// ---- seeded random moments ----

/// xorshift64*: enough for reproducible random moments without a dependency.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("KRES_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6b72_6573_6431);
        eprintln!("fault seed {seed} (KRES_FAULT_SEED)");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn rounds() -> usize {
    std::env::var("KRES_FAULT_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

// ---- the resolver under test ----

/// The local data of configuration generation `generation` (1..=250): `gen.example` answers 198.51.100.<gen>.
fn records(generation: u32) -> String {
    format!("{TEST_NAME}. 300 A {TEST_ADDR}\ngen.example. 300 A 198.51.100.{generation}\n")
}

/// A JSON patch that moves the resolver to `generation`: new worker Lua (a rolling restart) and new local data
/// (a policy-loader run).
fn change(generation: u32) -> String {
    json!([
        {"op": "add", "path": "/lua", "value": {"script": format!("fault_gen = {generation}")}},
        {"op": "add", "path": "/local-data/records", "value": records(generation)},
    ])
    .to_string()
}

fn patch(api: &Api, body: &str) -> Reply {
    api.call("PATCH", "/v1/config", &[JSON], body)
}

/// Like [`http`], but `None` when the connection breaks (the manager was killed while answering).
fn try_http(socket: PathBuf, method: &'static str, path: &'static str, body: String) -> Option<Reply> {
    std::thread::spawn(move || http(&socket, method, path, &[JSON], &body)).join().ok()
}

/// Waits until the management API of `daemon` answers and it runs `workers` kresd.
fn api_of(mut daemon: Daemon, workers: usize) -> Api {
    daemon.wait_answering(WAIT);
    let socket = daemon.rundir().join("kres-api.sock");
    let api = Api { daemon, socket };
    let up = wait_until(WAIT, POLL, || {
        std::os::unix::net::UnixStream::connect(&api.socket).is_ok() && api.get("/healthz").status == 200
    });
    assert!(up, "the management API did not come up:\n{}", api.log());
    assert!(wait_until(WAIT, POLL, || api.daemon.kresd_pids().len() == workers), "{}", api.log());
    api
}

/// Starts a resolver with `workers` workers and moves it to generation 1 (so the baseline has seen an apply).
fn start(workers: usize, env: &[(&str, &str)]) -> (Api, Baseline) {
    let api = api_of(env.iter().fold(daemon().workers(workers), |d, (k, v)| d.env(k, v)).spawn(), workers);
    warm_up(api)
}

fn warm_up(api: Api) -> (Api, Baseline) {
    let r = patch(&api, &change(1));
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    let base = Baseline::take(&api);
    (api, base)
}

/// The supervisor's and the manager's open file descriptors while idle.
struct Baseline {
    supervisor: usize,
    manager: usize,
}

impl Baseline {
    fn take(api: &Api) -> Baseline {
        // Let connections of the last request close first.
        std::thread::sleep(Duration::from_millis(200));
        let manager = api.daemon.manager_pid().expect("manager PID");
        Baseline { supervisor: fd_count(api.daemon.process.id()), manager: fd_count(manager) }
    }
}

/// A steady UDP load (one query at a time from 8 sockets) until [`Load::finish`].
struct Load {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<LoadResult>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || query_loop(port, 200, stop))
        };
        std::thread::sleep(Duration::from_millis(100));
        Load { stop, thread }
    }

    fn finish(self) -> LoadResult {
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the load thread")
    }
}

/// One line per case for docs/reliability.md.
fn report(case: &str, outcome: &str, load: &LoadResult) {
    eprintln!("FAULT | {case} | {outcome} | {} sent, {} lost, {} bad answers", load.sent, load.lost, load.bad);
}

/// The kresd children of the supervisor by role, from their command lines: workers by instance, and the
/// policy-loader.
struct Tree {
    workers: BTreeMap<u32, u32>,
    policy_loader: Option<u32>,
}

fn tree(api: &Api) -> Tree {
    let mut workers = BTreeMap::new();
    let mut policy_loader = None;
    for pid in api.daemon.kresd_pids() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "policy-loader.conf") {
            policy_loader = Some(pid);
        } else if let Some(n) = args
            .iter()
            .find_map(|a| a.strip_prefix("kresd").and_then(|a| a.strip_suffix(".conf")).and_then(|n| n.parse().ok()))
        {
            workers.insert(n, pid);
        }
    }
    Tree { workers, policy_loader }
}

/// Runs `lua` in worker `instance` over its control socket.
fn control(rundir: &Path, instance: u32, lua: &str) -> Result<Value, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let socket = rundir.join("control").join(instance.to_string());
    runtime
        .block_on(kres_manager::manager::kresd::control::command(&socket, lua, Duration::from_secs(5)))
        .map_err(|e| e.to_string())
}

fn kill(pid: u32, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

/// The checks after every fault (see the module header).
fn check_consistent(api: &Api, base: &Baseline, case: &str) {
    let ready = wait_until(WAIT, Duration::from_millis(50), || api.get("/readyz").status == 200);
    assert!(ready, "{case}: /readyz is not 200: {}\n{}", api.get("/readyz").body, api.log());
    let r = api.get("/v1/config");
    assert_eq!(r.status, 200, "{case}: {}", r.body);
    let doc = r.json();
    assert_eq!(r.etag(), format!("\"{}\"", kres_datamodel::etag::etag(&doc)), "{case}: ETag of the stored document");
    let opts =
        kres_datamodel::ValidationOptions::new(true, api.daemon.dir.path(), kres_datamodel::SystemFacts::from_system());
    let config = kres_datamodel::validate(&kres_datamodel::node::Node::from_json(&doc), &opts)
        .unwrap_or_else(|e| panic!("{case}: the stored configuration does not validate: {e}"));
    let lua = kres_datamodel::lua::render_worker(&config).unwrap();
    let generation: Option<u32> =
        doc["lua"]["script"].as_str().and_then(|s| s.strip_prefix("fault_gen = ")).map(|n| n.trim().parse().unwrap());
    let rundir = api.daemon.rundir();
    let count = config.workers.count;

    // Exactly the configured workers run, and nothing else from this rundir (canaries, policy-loaders).
    let settled = wait_until(WAIT, POLL, || {
        let t = tree(api);
        t.workers.len() == count && t.policy_loader.is_none() && kresd_in(&rundir).len() == count
    });
    let t = tree(api);
    assert!(
        settled,
        "{case}: expected {count} workers, found {:?} (policy-loader {:?}), kresd in the rundir {:?}\n{}",
        t.workers,
        t.policy_loader,
        kresd_in(&rundir),
        api.log()
    );
    let mut listed: Vec<u32> = api
        .get("/processes/kresd")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    listed.sort_unstable();
    let mut pids: Vec<u32> = t.workers.values().copied().collect();
    pids.sort_unstable();
    assert_eq!(listed, pids, "{case}: /processes/kresd lists the running workers");
    for (&instance, &pid) in &t.workers {
        let file = rundir.join(format!("kresd{instance}.conf"));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(text == lua, "{case}: {} (PID {pid}) is not the Lua of the stored configuration", file.display());
        if let Some(generation) = generation {
            let got = control(&rundir, instance, "fault_gen");
            assert_eq!(got, Ok(json!(generation)), "{case}: worker {instance} (PID {pid}) runs another generation");
        }
    }
    if let Some(generation) = generation {
        let want = format!("198.51.100.{generation}");
        // Several source ports: the queries spread over the workers.
        for _ in 0..(4 * count) {
            let a = try_kdig("127.0.0.1", api.daemon.port, "gen.example", "A", &["+timeout=2", "+retry=1"]);
            assert!(
                a.as_ref().is_ok_and(|a| a.addresses().contains(&want.as_str())),
                "{case}: gen.example should be {want}: {a:?}"
            );
        }
    }
    // No file descriptors leaked (connections of the requests above may take a moment to close).
    let manager = api.daemon.manager_pid().expect("manager PID");
    let supervisor = api.daemon.process.id();
    let flat = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        fd_count(supervisor) <= base.supervisor && fd_count(manager) <= base.manager
    });
    assert!(
        flat,
        "{case}: file descriptors: supervisor {} (was {}), manager {} (was {})",
        fd_count(supervisor),
        base.supervisor,
        fd_count(manager),
        base.manager
    );
}

// ---- random-moment kills ----

#[derive(Debug, Clone, Copy)]
enum Kind {
    Worker,
    PolicyLoader,
    Canary,
    CacheGc,
    Manager,
}

/// Finds the process of `kind` to kill during an apply that started with workers `old` (polls until it
/// exists or the apply ended).
fn victim(api: &Api, kind: Kind, old: &BTreeMap<u32, u32>, done: &AtomicBool) -> Option<u32> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline && !done.load(Ordering::Relaxed) {
        let found = match kind {
            Kind::Worker => old.values().next().copied(),
            Kind::PolicyLoader => tree(api).policy_loader,
            Kind::Canary => tree(api).workers.values().find(|p| !old.values().any(|o| o == *p)).copied(),
            Kind::CacheGc => children_named(api.daemon.process.id(), "kres-cache-gc").first().copied(),
            Kind::Manager => api.daemon.manager_pid(),
        };
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn random_kills_of_each_process_kind_during_an_apply() {
    let (api, mut base) = start(2, &[]);
    let mut rng = Rng::from_env();
    let mut generation = 1;
    for round in 0..rounds() {
        for kind in [Kind::Worker, Kind::PolicyLoader, Kind::Canary, Kind::CacheGc, Kind::Manager] {
            generation = generation % 250 + 1;
            let case = format!("kill -9 {kind:?} (round {round}, generation {generation})");
            let old = tree(&api).workers;
            let load = Load::start(api.daemon.port);
            let done = Arc::new(AtomicBool::new(false));
            let request = {
                let (socket, body, done) = (api.socket.clone(), change(generation), done.clone());
                std::thread::spawn(move || {
                    let reply = try_http(socket, "PATCH", "/v1/config", body);
                    done.store(true, Ordering::Relaxed);
                    reply
                })
            };
            // A random moment in the victim's life: short-lived ones (policy-loader, canary) soon after they
            // appear, the others anywhere in the apply.
            let delay = match kind {
                Kind::PolicyLoader | Kind::Canary => rng.below(30),
                _ => rng.below(300),
            };
            let target = victim(&api, kind, &old, &done);
            std::thread::sleep(Duration::from_millis(delay));
            let killed = target.filter(|p| alive(*p)).inspect(|p| kill(*p, "KILL"));
            let reply = request.join().unwrap();
            if matches!(kind, Kind::Manager) {
                let back = wait_until(WAIT, POLL, || api.daemon.manager_pid().is_some_and(|p| Some(p) != killed));
                assert!(back, "{case}: the manager was not restarted\n{}", api.log());
                let up = wait_until(WAIT, POLL, || {
                    std::os::unix::net::UnixStream::connect(&api.socket).is_ok() && api.get("/healthz").status == 200
                });
                assert!(up, "{case}: the restarted manager's API does not answer\n{}", api.log());
            }
            check_consistent(&api, &base, &case);
            let result = load.finish();
            let status = reply.as_ref().map_or("connection broken".to_owned(), |r| r.status.to_string());
            let outcome = match killed {
                Some(pid) => format!("killed PID {pid} after {delay} ms; apply answered {status}"),
                None => format!("missed (the process had already exited); apply answered {status}"),
            };
            report(&case, &outcome, &result);
            assert_eq!(result.bad, 0, "{case}: error answers");
            // A killed worker or canary (a canary serves queries as soon as it is ready) loses what it had in
            // flight; nothing else may lose a query.
            if !matches!(kind, Kind::Worker | Kind::Canary) {
                assert_eq!(result.lost, 0, "{case}: queries lost\n{}", api.log());
            }
            if matches!(kind, Kind::Manager) {
                // A new manager process: its own baseline.
                base = Baseline::take(&api);
            }
        }
    }
}

#[test]
fn killed_supervisor_leaves_a_rundir_the_next_start_takes_over() {
    let (api, _) = start(2, &[]);
    let rundir = api.daemon.rundir();
    let supervisor = api.daemon.process.id();
    let mut rng = Rng::from_env();
    let load = Load::start(api.daemon.port);
    let request = {
        let socket = api.socket.clone();
        std::thread::spawn(move || try_http(socket, "PATCH", "/v1/config", change(2)))
    };
    let delay = rng.below(300);
    std::thread::sleep(Duration::from_millis(delay));
    kill(supervisor, "KILL");
    let reply = request.join().unwrap();
    let gone = wait_until(WAIT, POLL, || kresd_in(&rundir).is_empty() && !alive(supervisor));
    assert!(gone, "kresd outlived the killed supervisor: {:?}", kresd_in(&rundir));
    let pid_file = rundir.join(kres_manager::supervisor::PID_FILE);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), supervisor.to_string(), "the stale PID file");
    for stale in ["supervisor.sock", "supervisor-notify.sock", "kres-api.sock"] {
        assert!(rundir.join(stale).exists(), "{stale} is left behind by SIGKILL");
    }

    let Api { daemon, .. } = api;
    let Daemon { dir, port, process } = daemon;
    drop(process);
    let api = api_of(Daemon::spawn_in(BIN.as_ref(), dir, port), 2);
    let new = api.daemon.process.id();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), new.to_string(), "the PID file is taken over");
    assert!(api.log().contains("removing the stale PID file"), "{}", api.log());
    let result = load.finish();
    // The new start serves the configuration files (the API change died with the old manager).
    let (api, base) = warm_up(api);
    check_consistent(&api, &base, "after kill -9 of the supervisor");
    let status = reply.as_ref().map_or("connection broken".to_owned(), |r| r.status.to_string());
    report(
        "kill -9 supervisor, new start",
        &format!("killed after {delay} ms (apply answered {status}); the new start took over the PID file and sockets"),
        &result,
    );
}

// ---- kresd that misbehaves at start ----

/// A kresd wrapper: start number `fail_at` (counted in a file) runs `bad` instead of the real kresd.
fn wrapper(scratch: &TempDir, bad: &str) -> (PathBuf, PathBuf, PathBuf) {
    let wrapper = scratch.path().join("kresd");
    let counter = scratch.path().join("starts");
    let fail_at = scratch.path().join("fail-at");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nn=$(( $(cat {c} 2>/dev/null || echo 0) + 1 ))\necho $n > {c}\n\
             if [ \"$n\" = \"$(cat {f} 2>/dev/null)\" ]; then {bad}; fi\nexec /usr/sbin/kresd \"$@\"\n",
            c = counter.display(),
            f = fail_at.display()
        ),
    )
    .unwrap();
    assert!(Command::new("chmod").arg("755").arg(&wrapper).status().unwrap().success());
    (wrapper, counter, fail_at)
}

fn starts(counter: &Path) -> u32 {
    std::fs::read_to_string(counter).unwrap().trim().parse().unwrap()
}

#[test]
fn kresd_that_never_becomes_ready() {
    let scratch = TempDir::new("never-ready");
    let (exe, counter, fail_at) = wrapper(&scratch, "exec sleep 600");
    let env = [("KRES_KRESD_EXECUTABLE", exe.to_str().unwrap()), ("KRES_WORKER_READY_TIMEOUT", "3")];
    let (api, base) = start(2, &env);
    let etag = api.etag();
    let load = Load::start(api.daemon.port);
    // The change runs the policy-loader (start n+1), then the canary (n+2), which never sends READY=1.
    std::fs::write(&fail_at, (starts(&counter) + 2).to_string()).unwrap();
    let r = patch(&api, &change(2));
    assert_eq!(r.status, 422, "the canary never became ready: {}\n{}", r.body, api.log());
    assert_eq!(api.etag(), etag, "nothing changed");
    let sleepers = children_named(api.daemon.process.id(), "sleep");
    assert!(sleepers.is_empty(), "the never-ready process was not killed: {sleepers:?}");
    check_consistent(&api, &base, "never ready");
    let r = patch(&api, &change(3));
    assert_eq!(r.status, 200, "the next change works: {}", r.body);
    check_consistent(&api, &base, "never ready, next change");
    let result = load.finish();
    report("kresd never sends READY (canary)", "422 after the ready timeout (3 s); nothing changed", &result);
    assert_eq!((result.lost, result.bad), (0, 0));
}

#[test]
fn kresd_that_exits_right_after_ready() {
    let scratch = TempDir::new("exit-after-ready");
    let exit_lua = scratch.path().join("exit.lua");
    std::fs::write(&exit_lua, "event.after(0, function() os.exit(1) end)\n").unwrap();
    let bad = format!("exec /usr/sbin/kresd \"$@\" -c {}", exit_lua.display());
    let (exe, counter, fail_at) = wrapper(&scratch, &bad);
    let (api, base) = start(2, &[("KRES_KRESD_EXECUTABLE", exe.to_str().unwrap())]);
    let mut outcomes = Vec::new();
    let load = Load::start(api.daemon.port);
    // The canary (start n+2), then a replacement worker (n+3) exit right after READY=1.
    for (generation, offset) in [(2, 2), (3, 3)] {
        std::fs::write(&fail_at, (starts(&counter) + offset).to_string()).unwrap();
        let r = patch(&api, &change(generation));
        outcomes.push(r.status.to_string());
        check_consistent(&api, &base, &format!("exit after READY (start +{offset})"));
    }
    let result = load.finish();
    report("kresd exits right after READY (canary; replacement)", &format!("apply answered {outcomes:?}"), &result);
    assert_eq!(result.bad, 0);
}

// ---- disk full ----

/// A resolver whose rundir or cache directory (`what`) is a small tmpfs.
fn start_on_tmpfs(what: &str, size: &str) -> (Api, Baseline, Tmpfs) {
    kres_test_support::require_sid_root();
    let dir = TempDir::new("disk-full");
    let port = free_port();
    std::fs::write(dir.path().join("config.yaml"), test_config(dir.path(), port, 2, "")).unwrap();
    let tmpfs = Tmpfs::mount(&dir.path().join(what), size);
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::create_dir_all(dir.path().join("cache")).unwrap();
    let api = api_of(Daemon::spawn_in(BIN.as_ref(), dir, port), 2);
    let (api, base) = warm_up(api);
    (api, base, tmpfs)
}

fn disk_full(what: &str, size: &str) {
    let (api, base, tmpfs) = start_on_tmpfs(what, size);
    let etag = api.etag();
    let load = Load::start(api.daemon.port);
    tmpfs.fill("filler");
    let full = patch(&api, &change(2));
    if full.status != 200 {
        assert_eq!(api.etag(), etag, "a refused change changes nothing: {}", full.body);
    }
    check_consistent(&api, &base, &format!("{what} full"));
    std::fs::remove_file(tmpfs.path.join("filler")).unwrap();
    let r = patch(&api, &change(3));
    assert_eq!(r.status, 200, "with space again: {}\n{}", r.body, api.log());
    check_consistent(&api, &base, &format!("{what} has space again"));
    let result = load.finish();
    let reason: String = full.body.lines().next().unwrap_or_default().chars().take(160).collect();
    report(&format!("{what} full ({size} tmpfs)"), &format!("apply answered {}: {reason}", full.status), &result);
    assert_eq!((result.lost, result.bad), (0, 0));
    drop(api);
}

#[test]
fn rundir_full() {
    // The rules database (LMDB) lives in the rundir and needs some room to open.
    disk_full("run", "32m");
}

#[test]
fn cache_full() {
    disk_full("cache", "16m");
}

// ---- a worker that does not answer on its control socket ----

#[test]
fn stopped_worker_does_not_block_applies() {
    let (api, base) = start(2, &[]);
    let rundir = api.daemon.rundir();
    let load = Load::start(api.daemon.port);
    // A rules-only change while a worker is stopped (SIGSTOP): its kr_rules_reset() times out.
    let (&instance, &stopped) = tree(&api).workers.iter().next().unwrap();
    let rules_only = json!([{"op": "add", "path": "/local-data/records", "value": records(2)},
                            {"op": "add", "path": "/lua", "value": {"script": "fault_gen = 2"}}]);
    kill(stopped, "STOP");
    let started = Instant::now();
    let r = patch(&api, &rules_only.to_string());
    let first = started.elapsed();
    kill(stopped, "CONT");
    eprintln!("apply with worker {instance} stopped: {} in {first:?}: {}", r.status, r.body);
    check_consistent(&api, &base, "stopped worker during a rolling restart");
    // The same, rules only (no restart).
    let (&instance, &stopped) = tree(&api).workers.iter().next().unwrap();
    let rules = json!([{"op": "add", "path": "/local-data/records", "value": records(3)},
                       {"op": "add", "path": "/lua", "value": {"script": "fault_gen = 2"}}]);
    kill(stopped, "STOP");
    let started = Instant::now();
    let r2 = patch(&api, &rules.to_string());
    let second = started.elapsed();
    kill(stopped, "CONT");
    eprintln!("rules change with worker {instance} stopped: {} in {second:?}: {}", r2.status, r2.body);
    // The worker that missed the rules reset was replaced: every worker serves the new rules.
    let replaced = wait_until(WAIT, POLL, || !tree(&api).workers.values().any(|p| *p == stopped));
    assert!(replaced, "the worker that did not reload the rules still runs\n{}", api.log());
    assert!(tree(&api).workers.keys().all(|i| control(&rundir, *i, "fault_gen").is_ok()));
    let all_new = (0..16).all(|_| {
        try_kdig("127.0.0.1", api.daemon.port, "gen.example", "A", &["+timeout=2", "+retry=1"])
            .is_ok_and(|a| a.addresses().contains(&"198.51.100.3"))
    });
    let result = load.finish();
    report(
        "worker stopped (SIGSTOP) during an apply",
        &format!(
            "rolling restart answered {} in {first:.1?}; rules reload answered {} in {second:.1?}",
            r.status, r2.status
        ),
        &result,
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, api.log());
    assert_eq!(r2.status, 200, "{}\n{}", r2.body, api.log());
    assert!(all_new, "every worker serves the new rules after the stopped one continued\n{}", api.log());
    assert_eq!(result.bad, 0);
}

// ---- bursts ----

#[test]
fn hundred_sighups_in_one_second() {
    let (api, base) = start(2, &[]);
    let file = api.daemon.dir.path().join("config.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replace(
        &format!("  records: |\n    {TEST_NAME}. 300 A {TEST_ADDR}\n"),
        &format!("  records: |\n    {TEST_NAME}. 300 A {TEST_ADDR}\n    gen.example. 300 A 198.51.100.5\n"),
    ) + "lua:\n  script: fault_gen = 5\n";
    std::fs::write(&file, text).unwrap();
    let (supervisor, manager) = (api.daemon.process.id(), api.daemon.manager_pid().unwrap());
    let load = Load::start(api.daemon.port);
    let started = Instant::now();
    for i in 0..100u32 {
        kill(supervisor, "HUP");
        let next = started + Duration::from_millis(10 * u64::from(i + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let sent_in = started.elapsed();
    assert!(alive(supervisor) && alive(manager), "SIGHUP killed a process\n{}", api.log());
    assert_eq!(api.daemon.manager_pid(), Some(manager), "the manager was not restarted");
    let reloaded = wait_until(WAIT, POLL, || api.get("/v1/config/lua/script").body.contains("fault_gen = 5"));
    assert!(reloaded, "the file was reloaded\n{}", api.log());
    check_consistent(&api, &base, "100 SIGHUPs");
    let result = load.finish();
    let reloads = api.log().matches("SIGHUP received; passing it on").count();
    report("100 SIGHUPs in 1 s", &format!("sent in {sent_in:.1?}, {reloads} passed on; one reload applied"), &result);
    assert_eq!((result.lost, result.bad), (0, 0));
}

#[test]
fn fifty_concurrent_writers() {
    let (api, base) = start(2, &[]);
    let load = Load::start(api.daemon.port);
    let writers: Vec<_> = (0..50u32)
        .map(|i| {
            let socket = api.socket.clone();
            std::thread::spawn(move || http(&socket, "PATCH", "/v1/config", &[JSON], &change(100 + i)).status)
        })
        .collect();
    let statuses: Vec<u16> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    check_consistent(&api, &base, "50 concurrent writers");
    let result = load.finish();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    report("50 concurrent API writers", &format!("{ok} of 50 answered 200"), &result);
    assert_eq!(ok, 50, "{statuses:?}\n{}", api.log());
    assert_eq!((result.lost, result.bad), (0, 0));
}

// ---- soak (CI-sized; bench/soak.sh runs the long one) ----

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn threads(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn soak_short() {
    let (api, base) = start(2, &[]);
    let (supervisor, manager) = (api.daemon.process.id(), api.daemon.manager_pid().unwrap());
    let before = (rss_kb(supervisor), rss_kb(manager), threads(supervisor), threads(manager));
    let load = Load::start(api.daemon.port);
    for n in 0..20u32 {
        let r = match n % 3 {
            0 | 1 => patch(&api, &change(n + 2)),
            _ => api.put_json("/v1/config/workers", if n % 2 == 0 { "3" } else { "2" }),
        };
        assert_eq!(r.status, 200, "change {n}: {}\n{}", r.body, api.log());
    }
    let result = load.finish();
    let r = api.put_json("/v1/config/workers", "2");
    assert_eq!(r.status, 200, "{}", r.body);
    check_consistent(&api, &base, "soak (20 changes)");
    assert_eq!(api.daemon.manager_pid(), Some(manager));
    let after = (rss_kb(supervisor), rss_kb(manager), threads(supervisor), threads(manager));
    report("soak: 20 changes", &format!("RSS/threads (supervisor, manager) {before:?} -> {after:?}"), &result);
    assert_eq!((before.2, before.3), (after.2, after.3), "thread counts");
    assert_eq!((result.lost, result.bad), (0, 0));
}
