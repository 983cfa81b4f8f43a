//! Rolling restarts lose no query over UDP, TCP, DoT or DoH: forced reloads under load from every transport at
//! once (the drain in `manager/drain.rs`).
//!
//! The test runs in a private network namespace (this thread and everything it starts), so that it sees the
//! kernel's default `net.ipv4.tcp_migrate_req` (0) whatever the machine has, and can set it to 1 (as the package's
//! sysctl.d file does) without changing anything outside the test. The manager itself only checks the setting.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kres_manager::manager::kresd::drain::{DRAIN_LUA, poll_lua};
use kres_test_support::{Kresd, TempDir, free_port, offline_config, require_sid_root, try_kdig, wait_until};

use crate::api::Api;
use crate::fixture::{BIN, Daemon, TEST_ADDR, TEST_NAME};

/// Forced reloads done under load.
const RELOADS: usize = 4;
/// A query without an answer after this long is lost (generous: the machine may be busy with other tests).
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Every load loop stops after this long, whatever happens.
const LOAD_DEADLINE: Duration = Duration::from_secs(120);

/// Moves this thread (and the threads and processes it starts from now on) into a new network namespace with
/// only the loopback interface, up.
fn enter_private_netns() {
    // SAFETY: unshare(CLONE_NEWNET) only gives the calling thread a new network namespace; unlike
    // CLONE_FILES (the case `unshare_unsafe` warns about) it leaves the file descriptor table shared, so no
    // thread can observe a descriptor from an unshared table. Sockets opened before keep their namespace.
    #[expect(unsafe_code, reason = "unshare(CLONE_NEWNET), see above")]
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
        .expect("unshare(CLONE_NEWNET) (the tests run as root in the sid root)");
    let status = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("run ip");
    assert!(status.success(), "ip link set lo up failed");
}

fn tcp_migrate_req() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req").unwrap_or_default().trim().to_owned()
}

/// A daemon with 2 workers listening for plain DNS (UDP and TCP) on `port`, DoT on `dot` and DoH on `doh`
/// (kresd's ephemeral certificate). Returns the API, `dot` and `doh`.
fn start_daemon() -> (Api, u16, u16) {
    let dir = TempDir::new("stream-drain");
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::create_dir_all(dir.path().join("cache")).unwrap();
    let (port, dot, doh) = (free_port(), free_port(), free_port());
    let config = format!(
        "rundir: {d}/run\nworkers: 2\ncache:\n  storage: {d}/cache\n  size-max: 10M\n\
         management:\n  unix-socket: {d}/run/kres-api.sock\n  state-dir: {d}/state\n\
         network:\n  listen:\n    - interface: 127.0.0.1@{port}\n\
         \x20   - interface: 127.0.0.1@{dot}\n      kind: dot\n\
         \x20   - interface: 127.0.0.1@{doh}\n      kind: doh2\n\
         options:\n  priming: false\n  time-jump-detection: false\n\
         dnssec:\n  enable: false\n\
         logging:\n  level: info\n\
         local-data:\n  records: |\n    {TEST_NAME}. 300 A {TEST_ADDR}\n\
         forward:\n  - subtree: .\n    servers: [127.0.0.1@9]\n    options: {{dnssec: false}}\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let mut daemon = Daemon::spawn_in(BIN.as_ref(), dir, port);
    daemon.wait_answering(Duration::from_secs(30));
    let socket = daemon.rundir().join("kres-api.sock");
    let api = Api { daemon, socket };
    let up = wait_until(Duration::from_secs(30), Duration::from_millis(20), || {
        api.get("/healthz").status == 200 && api.daemon.kresd_pids().len() == 2 && dot_once(dot) && doh_once(doh)
    });
    assert!(up, "the resolver did not answer over DoT and DoH with 2 workers:\n{}", api.log());
    (api, dot, doh)
}

fn dns_query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in TEST_NAME.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Whether `reply` answers query `id` with NOERROR and at least one record.
fn good_answer(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && reply[0..2] == id.to_be_bytes()
        && reply[2] & 0x80 != 0
        && reply[3] & 0x0f == 0
        && u16::from_be_bytes([reply[6], reply[7]]) > 0
}

/// The counters of one load loop.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    lost: AtomicU64,
}

/// One query over UDP (one socket per query, so that queries spread over the workers).
fn udp_once(port: u16, id: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(QUERY_TIMEOUT)).unwrap();
    if s.send_to(&dns_query(id), ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    s.recv(&mut buf).is_ok_and(|n| good_answer(&buf[..n], id))
}

/// Sends query `id` on an open TCP connection and reads its answer.
fn query_on(s: &mut TcpStream, id: u16) -> std::io::Result<bool> {
    let q = dns_query(id);
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&q);
    s.write_all(&msg)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut reply)?;
    Ok(good_answer(&reply, id))
}

fn tcp_connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), QUERY_TIMEOUT)?;
    s.set_read_timeout(Some(QUERY_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// One query over its own TCP connection (connect, query, answer, close), the way `kdig +tcp` asks.
fn tcp_once(port: u16, id: u16) -> bool {
    tcp_connect(port).and_then(|mut s| query_on(&mut s, id)).unwrap_or(false)
}

/// One query over its own TLS connection (`kdig +tls`, no retry: a failed query counts).
fn dot_once(port: u16) -> bool {
    try_kdig("127.0.0.1", port, TEST_NAME, "A", &["+tls", "+retry=0", "+timeout=5"])
        .is_ok_and(|a| a.addresses().contains(&TEST_ADDR))
}

/// One query over its own HTTP/2 connection (`kdig +https`, POST to /dns-query, no retry).
fn doh_once(port: u16) -> bool {
    try_kdig("127.0.0.1", port, TEST_NAME, "A", &["+https", "+retry=0", "+timeout=5"])
        .is_ok_and(|a| a.addresses().contains(&TEST_ADDR))
}

/// A load loop running on its own thread.
struct Load {
    kind: &'static str,
    counts: Arc<Counts>,
    handle: JoinHandle<()>,
}

/// Runs `query` in a loop on a new thread until `stop` is set (and at least once), or for [`LOAD_DEADLINE`].
fn load(kind: &'static str, stop: &Arc<AtomicBool>, query: impl Fn(u16) -> bool + Send + 'static) -> Load {
    let counts = Arc::new(Counts::default());
    let (c, stop) = (counts.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + LOAD_DEADLINE;
        let mut id = 0u16;
        while (c.sent.load(Ordering::Relaxed) == 0 || !stop.load(Ordering::Relaxed)) && Instant::now() < deadline {
            id = id.wrapping_add(1);
            c.sent.fetch_add(1, Ordering::Relaxed);
            if !query(id) {
                c.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Load { kind, counts, handle }
}

#[test]
fn forced_reloads_under_udp_tcp_dot_and_doh_load_lose_no_query() {
    require_sid_root();
    enter_private_netns();
    assert_eq!(tcp_migrate_req(), "0", "a new network namespace starts with the kernel default");
    std::fs::write("/proc/sys/net/ipv4/tcp_migrate_req", "1").expect("set tcp_migrate_req in the test's namespace");
    let (api, dot, doh) = start_daemon();
    let port = api.daemon.port;
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..2 {
        loops.push(load("UDP", &stop, move |id| udp_once(port, id)));
    }
    for _ in 0..3 {
        loops.push(load("TCP", &stop, move |id| tcp_once(port, id)));
    }
    for _ in 0..2 {
        loops.push(load("DoT", &stop, move |_| dot_once(dot)));
    }
    loops.push(load("DoH", &stop, move |_| doh_once(doh)));
    let sent = |loops: &[Load]| -> Vec<u64> { loops.iter().map(|l| l.counts.sent.load(Ordering::Relaxed)).collect() };
    let mut pids = api.daemon.kresd_pids();
    for round in 0..RELOADS {
        // Every loop makes progress before each reload, so that each reload happens under load from all.
        let before = sent(&loops);
        let busy = wait_until(Duration::from_secs(30), Duration::from_millis(5), || {
            sent(&loops).iter().zip(&before).all(|(now, then)| now >= &(then + 3))
        });
        assert!(busy, "the load loops do not progress: {before:?} -> {:?}", sent(&loops));
        let r = api.call("POST", "/reload/force", &[], "");
        assert_eq!(r.status, 200, "forced reload {round}: {}\n{}", r.body, api.log());
        let now = api.daemon.kresd_pids();
        assert!(now.iter().all(|p| !pids.contains(p)), "reload {round} replaced every worker: {pids:?} -> {now:?}");
        pids = now;
    }
    let before = sent(&loops);
    let settled = wait_until(Duration::from_secs(30), Duration::from_millis(5), || {
        sent(&loops).iter().zip(&before).all(|(now, then)| now >= &(then + 3))
    });
    stop.store(true, Ordering::Relaxed);
    let mut report = Vec::new();
    let mut lost_any = false;
    for Load { kind, counts, handle } in loops {
        handle.join().expect("load loop");
        let (sent, lost) = (counts.sent.load(Ordering::Relaxed), counts.lost.load(Ordering::Relaxed));
        report.push(format!("{kind}: {lost} lost of {sent}"));
        lost_any |= lost > 0;
    }
    eprintln!("{RELOADS} forced reloads under load: {}", report.join(", "));
    assert!(settled, "the load loops stopped progressing after the reloads");
    assert!(!lost_any, "queries lost in rolling restarts: {}\n{}", report.join(", "), api.log());
    assert!(!api.log().contains("net.ipv4.tcp_migrate_req is 0"), "no warning when it is set\n{}", api.log());
}

/// Runs one Lua expression over kresd's control socket (blocking) and returns its JSON value.
fn control(socket: &Path, lua: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(socket).unwrap_or_else(|e| panic!("{}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut prompt = [0u8; 2];
    s.read_exact(&mut prompt).unwrap();
    s.write_all(format!("__json\n{lua}\n").as_bytes()).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap_or_else(|_| panic!("kresd: {}", String::from_utf8_lossy(&body)))
}

/// What the drain does to one kresd, checked directly: the connections it accepted are still served, new ones
/// go to the other kresd on the port, nothing is reset, and its client connections count as busy until quiet.
#[test]
fn a_drained_kresd_serves_its_connections_and_gets_no_new_ones() {
    require_sid_root();
    enter_private_netns();
    std::fs::write("/proc/sys/net/ipv4/tcp_migrate_req", "1").expect("set tcp_migrate_req in the test's namespace");
    let port = free_port();
    let lua = offline_config(&format!(
        "net.listen('127.0.0.1', {port}, {{kind = 'dns'}})\nmodules.load('hints > iterate')\n\
         hints['{TEST_NAME}'] = '{TEST_ADDR}'\n"
    ));
    let mut old = Kresd::start(&lua).expect("old kresd");
    let mut kept = tcp_connect(port).unwrap();
    assert!(query_on(&mut kept, 1).unwrap(), "the old kresd answers on a kept-open connection");
    let new = Kresd::start(&lua).expect("new kresd");

    let drained = control(&old.control_socket(), DRAIN_LUA);
    assert_eq!(drained, serde_json::json!({"udp": 1, "tcp": 1}), "listening sockets taken out:\n{}", old.stderr());
    // `queries` counts the queries a kresd received (`tcp`/`udp` count its upstream ones).
    let old_queries = control(&old.control_socket(), "worker.stats().queries");
    for id in 0..50 {
        assert!(tcp_once(port, id), "new connection {id} answered");
        assert!(udp_once(port, id), "UDP query {id} answered");
    }
    let now = control(&old.control_socket(), "worker.stats().queries");
    assert_eq!(now, old_queries, "no new query (TCP or UDP) reached the drained kresd");
    let stats = control(&new.control_socket(), "worker.stats()");
    assert_eq!(stats["queries"], 100, "the new kresd got them all: {stats}");

    // The connection it had keeps being served, and holds the drain while it is active.
    let poll = poll_lua();
    // Busy means "data in the last STREAM_QUIET_MS": a few tries, so that one long stall of this thread between
    // the query and the poll cannot fail the test.
    let busy = (0..5).any(|id| {
        assert!(query_on(&mut kept, 2 + id).unwrap(), "the drained kresd still answers on its connection");
        control(&old.control_socket(), &poll)["busy"] == 1
    });
    assert!(busy, "a connection with fresh data is busy");
    let quiet = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        control(&old.control_socket(), &poll)["busy"] == 0
    });
    assert!(quiet, "an idle connection stops counting as busy");
    assert_eq!(control(&old.control_socket(), &poll)["inflight"], 0);
    assert!(query_on(&mut kept, 10).unwrap(), "and is still served once quiet");

    // The listeners replaced under libuv do not trouble kresd's exit; it closes the idle connection cleanly.
    let status = old.stop().unwrap();
    assert!(status.success(), "the drained kresd exits 0 on SIGTERM: {status}\n{}", old.stderr());
    let mut rest = Vec::new();
    assert_eq!(kept.read_to_end(&mut rest).map(|_| rest.len()).ok(), Some(0), "EOF, not a reset");
}

/// The manager never changes the kernel setting; it warns (once) when a drain finds it off.
#[test]
fn a_drain_without_tcp_migration_warns_and_changes_no_kernel_setting() {
    require_sid_root();
    enter_private_netns();
    assert_eq!(tcp_migrate_req(), "0", "a new network namespace starts with the kernel default");
    let (api, _dot, _doh) = start_daemon();
    for round in 0..2 {
        let r = api.call("POST", "/reload/force", &[], "");
        assert_eq!(r.status, 200, "forced reload {round}: {}\n{}", r.body, api.log());
    }
    let warned = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        api.log().contains("net.ipv4.tcp_migrate_req is 0")
    });
    assert!(warned, "no warning about net.ipv4.tcp_migrate_req\n{}", api.log());
    assert_eq!(api.log().matches("net.ipv4.tcp_migrate_req is 0").count(), 1, "warned once\n{}", api.log());
    assert_eq!(tcp_migrate_req(), "0", "the manager changed a kernel setting");
}
