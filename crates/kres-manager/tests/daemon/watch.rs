//! File watchers and the Graphite bridge with a real daemon and real kresd workers: a DoT listener whose
//! certificate is replaced on disk (rename-over, in-place write, delete and recreate, a broken file), an RPZ file
//! rewritten the same ways, and Graphite plaintext received by a TCP and a UDP listener in the test. Every change
//! must reach the workers without restarting them (same kresd PIDs).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kres_test_support::{TempDir, free_port, require_sid_root, try_kdig, wait_until};

use crate::fixture::{BIN, Daemon, daemon, test_config};

/// How long a change may take to reach the workers (debounce 1 s + policy-loader or `net.tls`), generously.
const FOLLOW: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(200);
/// Longer than the watchers' debounce: the manager has looked at the files by then.
const SETTLE: Duration = Duration::from_millis(2500);

/// Starts a daemon on the fixture's configuration changed by `edit` (to add keys to sections it already has).
fn spawn_edited(workers: usize, edit: impl FnOnce(String) -> String) -> Daemon {
    require_sid_root();
    let dir = TempDir::new("watch");
    fs::create_dir_all(dir.path().join("run")).unwrap();
    fs::create_dir_all(dir.path().join("cache")).unwrap();
    let port = free_port();
    let config = edit(test_config(dir.path(), port, workers, ""));
    fs::write(dir.path().join("config.yaml"), config).unwrap();
    let mut d = Daemon::spawn_in(BIN.as_ref(), dir, port);
    d.wait_answering(Duration::from_secs(30));
    let all = wait_until(Duration::from_secs(10), POLL, || d.kresd_pids().len() == workers);
    assert!(all, "expected {workers} workers, got {:?}\n{}", d.kresd_pids(), d.log());
    d
}

/// Writes a temporary file next to `path` and renames it onto `path` (how careful tools replace files).
fn replace(path: &Path, contents: impl AsRef<[u8]>) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).unwrap();
    fs::rename(&tmp, path).unwrap();
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Waits until the daemon's log holds `needle` more than `before` times.
#[track_caller]
fn wait_log(d: &Daemon, needle: &str, before: usize) {
    let ok = wait_until(FOLLOW, POLL, || count(&d.log(), needle) > before);
    assert!(ok, "the log never said '{needle}' (again):\n{}", d.log());
}

// ---------------------------------------------------------------------------------------------------------------
// TLS

/// Makes `<cn>.pem` and `<cn>.key` in `dir`: a self-signed P-256 certificate for `CN=<cn>.test`.
fn make_cert(dir: &Path, cn: &str) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .arg("-subj")
        .arg(format!("/CN={cn}.test"))
        .arg("-keyout")
        .arg(dir.join(format!("{cn}.key")))
        .arg("-out")
        .arg(dir.join(format!("{cn}.pem")))
        .output()
        .expect("run openssl (it is in the sid root)");
    assert!(out.status.success(), "openssl failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The CN of the certificate a DoT query to `port` is served with (kdig -d prints the chain), or kdig's output.
fn served_cn(port: u16) -> Result<String, String> {
    let out = Command::new("kdig")
        .args(["-d", "+tls", "+timeout=2", "+retry=0", "@127.0.0.1", "-p", &port.to_string(), "test.example", "A"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kdig: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !text.contains("status: NOERROR") {
        return Err(text);
    }
    // ";; DEBUG:  #1, CN=one.test"
    text.lines()
        .find_map(|l| l.split_once("#1, CN=").map(|(_, cn)| cn.trim().to_owned()))
        .ok_or_else(|| format!("no certificate in kdig's output:\n{text}"))
}

/// Whether several DoT connections (spread over the workers by SO_REUSEPORT) are all served `cn`.
fn all_served(port: u16, cn: &str) -> bool {
    (0..6).all(|_| served_cn(port).is_ok_and(|served| served == format!("{cn}.test")))
}

#[test]
fn dot_certificate_follows_the_files_without_restarting_workers() {
    require_sid_root();
    let tls = TempDir::new("tls");
    for cn in ["one", "two"] {
        make_cert(tls.path(), cn);
    }
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let pem = |name: &str| fs::read(tls.join(name)).unwrap();
    fs::write(&cert, pem("one.pem")).unwrap();
    fs::write(&key, pem("one.key")).unwrap();
    let dot = free_port();
    let d = spawn_edited(2, |config| {
        config.replace(
            "network:\n  listen:\n",
            &format!(
                "network:\n  tls:\n    watchdog: true\n    cert-file: {}\n    key-file: {}\n  listen:\n    \
                 - interface: 127.0.0.1@{dot}\n      kind: dot\n",
                cert.display(),
                key.display()
            ),
        )
    });
    let ok = wait_until(FOLLOW, POLL, || all_served(dot, "one"));
    assert!(ok, "DoT is not served with the first certificate: {:?}\n{}", served_cn(dot), d.log());
    let pids = d.kresd_pids();
    let triggered = "TLS cert files reload triggered";
    let refused = "did not load the new TLS certificate files";

    // Rename-over (write temporary files, mv them onto the names): the reference misses this one.
    let before = count(&d.log(), triggered);
    replace(&key, pem("two.key"));
    replace(&cert, pem("two.pem"));
    let ok = wait_until(FOLLOW, POLL, || all_served(dot, "two"));
    assert!(ok, "the renamed-over certificate is not served: {:?}\n{}", served_cn(dot), d.log());
    assert!(count(&d.log(), triggered) > before, "{}", d.log());
    assert!(d.log().contains("Sending 'net.tls("), "{}", d.log());

    // A broken certificate: every worker refuses it (logged) and keeps serving the one it has.
    let before = count(&d.log(), refused);
    replace(&cert, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
    wait_log(&d, refused, before);
    assert!(all_served(dot, "two"), "a broken file replaced the certificate: {:?}\n{}", served_cn(dot), d.log());

    // In-place writes (truncate and write the same inode).
    fs::write(&cert, pem("one.pem")).unwrap();
    fs::write(&key, pem("one.key")).unwrap();
    let ok = wait_until(FOLLOW, POLL, || all_served(dot, "one"));
    assert!(ok, "the certificate written in place is not served: {:?}\n{}", served_cn(dot), d.log());

    // Delete: nothing is sent while the files are missing; recreating them reloads.
    fs::remove_file(&cert).unwrap();
    fs::remove_file(&key).unwrap();
    std::thread::sleep(SETTLE);
    assert!(d.log().contains("waiting for it to come back"), "{}", d.log());
    assert!(all_served(dot, "one"), "{:?}\n{}", served_cn(dot), d.log());
    fs::write(&key, pem("two.key")).unwrap();
    fs::write(&cert, pem("two.pem")).unwrap();
    let ok = wait_until(FOLLOW, POLL, || all_served(dot, "two"));
    assert!(ok, "the re-created certificate is not served: {:?}\n{}", served_cn(dot), d.log());

    assert_eq!(d.kresd_pids(), pids, "workers were restarted:\n{}", d.log());
}

#[test]
fn unchanged_reload_resends_the_certificate_files_without_applying() {
    // No watcher: the files change behind the manager's back, then a reload of the unchanged configuration file
    // re-sends them to the workers (the reference's "TLS cert files reload triggered"), restarting nothing.
    require_sid_root();
    let tls = TempDir::new("tls");
    for cn in ["one", "two"] {
        make_cert(tls.path(), cn);
    }
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let pem = |name: &str| fs::read(tls.join(name)).unwrap();
    fs::write(&cert, pem("one.pem")).unwrap();
    fs::write(&key, pem("one.key")).unwrap();
    let dot = free_port();
    let d = spawn_edited(2, |config| {
        config.replace(
            "network:\n  listen:\n",
            &format!(
                "network:\n  tls:\n    watchdog: false\n    cert-file: {}\n    key-file: {}\n  listen:\n    \
                 - interface: 127.0.0.1@{dot}\n      kind: dot\n",
                cert.display(),
                key.display()
            ),
        )
    });
    let ok = wait_until(FOLLOW, POLL, || all_served(dot, "one"));
    assert!(ok, "DoT is not served with the first certificate: {:?}\n{}", served_cn(dot), d.log());
    let pids = d.kresd_pids();
    let (triggered, applied) = ("TLS cert files reload triggered", "Config applied successfully to all workers");
    let (before, applied_before) = (count(&d.log(), triggered), count(&d.log(), applied));
    fs::write(&cert, pem("two.pem")).unwrap();
    fs::write(&key, pem("two.key")).unwrap();
    std::thread::sleep(SETTLE);
    assert!(all_served(dot, "one"), "nothing watches the files: the old certificate stays until a reload");
    let (status, body) = http(&d.rundir().join("kres-api.sock"), "POST", "/reload", "");
    assert_eq!(status, 200, "{body}\n{}", d.log());
    assert_eq!(count(&d.log(), triggered), before + 1, "{}", d.log());
    assert_eq!(count(&d.log(), applied), applied_before, "nothing else is applied:\n{}", d.log());
    let ok = wait_until(FOLLOW, POLL, || all_served(dot, "two"));
    assert!(ok, "the reload did not re-send the certificate files: {:?}\n{}", served_cn(dot), d.log());
    assert_eq!(d.kresd_pids(), pids, "no worker was restarted");
}

// ---------------------------------------------------------------------------------------------------------------
// RPZ

/// An RPZ zone: `blocked` names answer NXDOMAIN (`CNAME .`), `local` names answer their address.
fn rpz(blocked: &[&str], local: &[(&str, &str)]) -> String {
    let mut text = "$TTL 300\n@ SOA localhost. root.localhost. 1 3600 900 604800 300\n".to_owned();
    for name in blocked {
        text.push_str(&format!("{name} CNAME .\n"));
    }
    for (name, addr) in local {
        text.push_str(&format!("{name} A {addr}\n"));
    }
    text
}

/// What the resolver answers for `name`: `NXDOMAIN`, an address, or the failure.
fn answer(d: &Daemon, name: &str) -> String {
    match try_kdig("127.0.0.1", d.port, name, "A", &["+timeout=1", "+retry=0"]) {
        Ok(a) if a.rcode == "NOERROR" => a.addresses().join(","),
        Ok(a) => a.rcode,
        Err(e) => format!("no answer: {e}"),
    }
}

/// Waits until both workers (several queries) answer `expected` (name → answer).
#[track_caller]
fn wait_answers(d: &Daemon, expected: &[(&str, &str)]) {
    let matches = || (0..4).all(|_| expected.iter().all(|(name, want)| answer(d, name) == *want));
    let ok = wait_until(FOLLOW, POLL, matches);
    let got: Vec<String> = expected.iter().map(|(name, _)| format!("{name}: {}", answer(d, name))).collect();
    assert!(ok, "expected {expected:?}, got {got:?}\n{}", d.log());
}

#[test]
fn rpz_changes_apply_without_restarting_workers() {
    require_sid_root();
    let zones = TempDir::new("rpz");
    let file = zones.join("block.rpz");
    fs::write(&file, rpz(&["a.example"], &[("b.example", "192.0.2.2")])).unwrap();
    let d = spawn_edited(2, |config| {
        config.replace(
            "local-data:\n",
            &format!("local-data:\n  rpz:\n    - file: {}\n      watchdog: true\n", file.display()),
        )
    });
    wait_answers(&d, &[("a.example", "NXDOMAIN"), ("b.example", "192.0.2.2")]);
    let pids = d.kresd_pids();
    let finished = "Renewing configuration has finished";

    // Modified in place.
    let before = count(&d.log(), finished);
    fs::write(&file, rpz(&["b.example"], &[("a.example", "192.0.2.1")])).unwrap();
    wait_answers(&d, &[("a.example", "192.0.2.1"), ("b.example", "NXDOMAIN")]);
    wait_log(&d, finished, before);
    let modified = format!("Watched file '{}' has been modified", file.display());
    assert!(d.log().contains(&modified), "the reference's line '{modified}':\n{}", d.log());

    // A broken file: the renew fails (logged) and the rules loaded before keep serving.
    let failed = "Renewing configuration after the change of RPZ file";
    let before = count(&d.log(), failed);
    replace(&file, "this is { not a zone file\n");
    wait_log(&d, failed, before);
    wait_answers(&d, &[("a.example", "192.0.2.1"), ("b.example", "NXDOMAIN")]);

    // Replaced (rename-over).
    replace(&file, rpz(&["a.example"], &[("b.example", "192.0.2.22")]));
    wait_answers(&d, &[("a.example", "NXDOMAIN"), ("b.example", "192.0.2.22")]);

    // Deleted: nothing changes while it is missing; re-created: applied.
    fs::remove_file(&file).unwrap();
    std::thread::sleep(SETTLE);
    assert!(d.log().contains("waiting for it to come back"), "{}", d.log());
    wait_answers(&d, &[("a.example", "NXDOMAIN"), ("b.example", "192.0.2.22")]);
    fs::write(&file, rpz(&["b.example"], &[("a.example", "192.0.2.11")])).unwrap();
    wait_answers(&d, &[("a.example", "192.0.2.11"), ("b.example", "NXDOMAIN")]);

    assert_eq!(d.kresd_pids(), pids, "workers were restarted:\n{}", d.log());
}

// ---------------------------------------------------------------------------------------------------------------
// Graphite

/// Checks one Graphite plaintext line: `<prefix>.<path> <number> <unix seconds, about now>`.
#[track_caller]
fn assert_graphite_line(line: &str, prefix: &str) {
    let parts: Vec<&str> = line.split(' ').collect();
    assert_eq!(parts.len(), 3, "not '<path> <value> <timestamp>': {line:?}");
    let path = parts[0].strip_prefix(prefix).and_then(|p| p.strip_prefix('.'));
    let path = path.unwrap_or_else(|| panic!("no prefix '{prefix}.': {line:?}"));
    assert!(
        !path.is_empty() && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "metric path with odd characters: {line:?}"
    );
    assert!(parts[1].parse::<f64>().is_ok_and(f64::is_finite), "value is not a number: {line:?}");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let ts: u64 = parts[2].parse().unwrap_or_else(|_| panic!("timestamp is not an integer: {line:?}"));
    assert!(ts.abs_diff(now) < 120, "timestamp {ts} is not about now ({now}): {line:?}");
}

/// Checks what a Graphite listener received: whole lines, with worker 0's counters and the manager's metrics.
#[track_caller]
fn assert_graphite_lines(lines: &[String], prefix: &str) {
    for line in lines {
        assert_graphite_line(line, prefix);
    }
    let has = |start: &str| lines.iter().any(|l| l.starts_with(&format!("{prefix}.{start}")));
    assert!(has("resolver_request_total.instance_id.kresd_kresd0 "), "{lines:#?}");
    assert!(has("resolver_response_latency_bucket.instance_id.kresd_kresd0.le.0_001 "), "{lines:#?}");
    assert!(has("resolver_metrics_loaded.instance_id.kresd_kresd0 1.0 "), "{lines:#?}");
    assert!(has("kres_manager_config_generation "), "{lines:#?}");
}

/// A minimal HTTP/1.1 request over the management socket; returns the status.
fn http(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, reply)
}

/// Lines received by a TCP Graphite listener in this test (one thread per connection; they end with the test).
fn tcp_graphite_listener() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = sink.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
    });
    (port, lines)
}

#[test]
fn graphite_enabled_at_runtime_pushes_over_tcp() {
    let (port, lines) = tcp_graphite_listener();
    let d = daemon().start();
    let socket = d.rundir().join("kres-api.sock");
    let monitoring = format!(
        r#"{{"graphite": {{"enable": true, "host": "127.0.0.1", "port": {port}, "prefix": "kres.tcp", "interval": "1s"}}}}"#
    );
    let (status, reply) = http(&socket, "PUT", "/v1/config/monitoring", &monitoring);
    assert_eq!(status, 200, "enabling Graphite at runtime: {reply}\n{}", d.log());
    assert!(d.answers());
    let complete = |lines: &[String]| {
        lines.iter().any(|l| l.starts_with("kres.tcp.resolver_request_total.instance_id.kresd_kresd0 "))
            && lines.iter().any(|l| l.starts_with("kres.tcp.kres_manager_config_generation "))
    };
    let ok = wait_until(FOLLOW, POLL, || complete(&lines.lock().unwrap()));
    assert!(ok, "no complete push arrived: {:#?}\n{}", lines.lock().unwrap(), d.log());
    assert_graphite_lines(&lines.lock().unwrap(), "kres.tcp");

    // Once enabled, it cannot be changed or disabled at runtime; it keeps pushing.
    let (status, reply) = http(&socket, "PUT", "/v1/config/monitoring/graphite/enable", "false");
    assert_eq!(status, 409, "disabling Graphite at runtime: {reply}");
    let received = lines.lock().unwrap().len();
    let ok = wait_until(FOLLOW, POLL, || lines.lock().unwrap().len() > received);
    assert!(ok, "pushes stopped:\n{}", d.log());
}

#[test]
fn graphite_pushes_over_udp_when_tcp_is_false() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let port = socket.local_addr().unwrap().port();
    let mut d = daemon().extra(
        &format!(
            "monitoring:\n  graphite:\n    enable: true\n    host: 127.0.0.1\n    port: {port}\n    prefix: kres.udp\n    \
             interval: 1s\n    tcp: false\n"
        ))
        .spawn();
    d.wait_answering(Duration::from_secs(30));
    let mut lines: Vec<String> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let ok = wait_until(FOLLOW, Duration::from_millis(1), || {
        if let Ok(n) = socket.recv(&mut buf) {
            let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(datagram.ends_with('\n') && n <= 1400, "a datagram must hold whole lines: {datagram:?}");
            lines.extend(datagram.lines().map(str::to_owned));
        }
        lines.iter().any(|l| l.starts_with("kres.udp.resolver_metrics_loaded.instance_id.kresd_kresd0 1.0 "))
            && lines.iter().any(|l| l.starts_with("kres.udp.kres_manager_config_generation "))
    });
    assert!(ok, "no UDP push arrived: {lines:#?}\n{}", d.log());
    assert_graphite_lines(&lines, "kres.udp");
}
