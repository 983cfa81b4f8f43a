//! What operators' scripts see of the running daemon, compared with the reference manager: its log lines at each
//! event (an apply, a reload, a renew, a TLS reload, workers starting and stopping, a refused change), reload and
//! renew that apply nothing when nothing changed (and everything when forced), and the raw HTTP response head
//! with the reference's header names (`ETag`, `Content-Type`).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kres_test_support::{TempDir, try_kdig, wait_until};

use crate::fixture::{Daemon, daemon};

const APPLIED: &str = "Config applied successfully to all workers";
const POLICY_LOADER_SPAWNED: &str = "spawned: 'policy-loader' with pid";

/// A raw HTTP/1.1 exchange over the API socket: (head as received, body).
fn raw_http(socket: &Path, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (String, String) {
    let mut stream = UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("bad HTTP response: {text:?}"));
    (head.to_owned(), body.to_owned())
}

fn status(head: &str) -> u16 {
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"))
}

/// The header lines of a raw head, exactly as sent.
fn header_lines(head: &str) -> Vec<&str> {
    head.split("\r\n").skip(1).collect()
}

struct Resolver {
    daemon: Daemon,
    socket: PathBuf,
}

impl Resolver {
    fn start(workers: usize) -> Resolver {
        let mut daemon = daemon().workers(workers).spawn();
        daemon.wait_answering(Duration::from_secs(30));
        let socket = daemon.rundir().join("kres-api.sock");
        let r = Resolver { daemon, socket };
        let up = wait_until(Duration::from_secs(30), Duration::from_millis(20), || {
            UnixStream::connect(&r.socket).is_ok() && r.daemon.kresd_pids().len() == workers
        });
        assert!(up, "the API or the workers did not come up:\n{}", r.daemon.log());
        r
    }

    fn post(&self, path: &str) -> String {
        let (head, body) = raw_http(&self.socket, "POST", path, &[], "");
        assert_eq!(status(&head), 200, "POST {path}: {head}\n{body}\n{}", self.daemon.log());
        body
    }

    fn count(&self, line: &str) -> usize {
        self.daemon.log().matches(line).count()
    }

    /// Waits until the log has more than `before` lines with `line`.
    #[track_caller]
    fn wait_log(&self, line: &str, before: usize) {
        let ok = wait_until(Duration::from_secs(30), Duration::from_millis(20), || self.count(line) > before);
        assert!(ok, "'{line}' was not logged (again):\n{}", self.daemon.log());
    }
}

#[test]
fn unchanged_reload_and_renew_apply_nothing_and_forced_ones_restart_every_worker() {
    let r = Resolver::start(2);
    let pids = r.daemon.kresd_pids();
    let (applied, loader) = (r.count(APPLIED), r.count(POLICY_LOADER_SPAWNED));
    assert_eq!(loader, 1, "the policy-loader ran once at start:\n{}", r.daemon.log());
    assert_eq!(applied, 1, "the initial apply is logged, like the reference's:\n{}", r.daemon.log());
    assert_eq!(r.count("Initial configuration applied. Process manager initialized..."), 1);

    let body = r.post("/reload");
    assert!(body.starts_with("Reloading...\n"), "{body}");
    r.wait_log("Configuration file successfully reloaded", 0);
    let body = r.post("/renew");
    assert!(body.starts_with("Renewing configuration...\n"), "{body}");
    r.wait_log("Configuration successfully renewed", 0);
    assert_eq!(r.count(APPLIED), applied, "an unchanged reload or renew logs no apply:\n{}", r.daemon.log());
    assert_eq!(r.count(POLICY_LOADER_SPAWNED), loader, "nothing changed: no policy-loader run");
    assert_eq!(r.daemon.kresd_pids(), pids, "an unchanged reload or renew restarts no worker");
    for line in ["Reloading event triggered...", "Renewing configuration event triggered..."] {
        assert_eq!(r.count(line), 1, "'{line}':\n{}", r.daemon.log());
    }

    r.post("/reload/force");
    assert_eq!(r.count(APPLIED), applied + 1, "a forced reload is applied:\n{}", r.daemon.log());
    assert_eq!(r.count(POLICY_LOADER_SPAWNED), loader + 1, "a forced reload re-reads the rules");
    let forced = r.daemon.kresd_pids();
    assert_eq!(forced.len(), 2);
    assert!(forced.iter().all(|p| !pids.contains(p)), "every worker restarted: {pids:?} → {forced:?}");

    r.post("/renew/force");
    assert_eq!(r.count(APPLIED), applied + 2, "a forced renew is applied:\n{}", r.daemon.log());
    let renewed = r.daemon.kresd_pids();
    assert!(renewed.iter().all(|p| !forced.contains(p)), "every worker restarted: {forced:?} → {renewed:?}");
    // The workers' lifecycle, in supervisord's words.
    for line in [
        "spawned: 'kresd",
        "success: kresd0 entered RUNNING state, process sent notification via $NOTIFY_SOCKET",
        "waiting for kresd",
        "stopped: kresd",
        "exited: policy-loader (exit status 0; expected)",
    ] {
        assert!(r.count(line) > 0, "'{line}' not logged:\n{}", r.daemon.log());
    }
    assert!(r.daemon.answers());
}

/// An RPZ zone answering `name` with `addr`.
fn rpz(name: &str, addr: &str) -> String {
    format!("$TTL 300\n@ SOA localhost. root.localhost. 1 3600 900 604800 300\n{name} A {addr}\n")
}

fn address(d: &Daemon, name: &str) -> String {
    match try_kdig("127.0.0.1", d.port, name, "A", &["+timeout=1", "+retry=0"]) {
        Ok(a) => a.addresses().join(","),
        Err(e) => format!("no answer: {e}"),
    }
}

#[test]
fn renew_rereads_a_changed_rule_file_and_sighup_reloads() {
    let zones = TempDir::new("rpz");
    let file = zones.path().join("local.rpz");
    fs::write(&file, rpz("rpz.example", "192.0.2.1")).unwrap();
    let r = Resolver::start(1);
    let pids = r.daemon.kresd_pids();
    let applied = r.count(APPLIED);
    // A reload of a changed file applies it. No file watcher: only an explicit renew re-reads the RPZ file.
    let config = r.daemon.dir.path().join("config.yaml");
    let rpz_config = format!("local-data:\n  rpz:\n    - file: {}\n      watchdog: false\n", file.display());
    let text = fs::read_to_string(&config).unwrap().replace("local-data:\n", &rpz_config);
    fs::write(&config, text).unwrap();
    r.post("/reload");
    assert_eq!(r.count(APPLIED), applied + 1, "a changed file is applied:\n{}", r.daemon.log());
    assert_eq!(address(&r.daemon, "rpz.example"), "192.0.2.1");
    let loader = r.count(POLICY_LOADER_SPAWNED);

    r.post("/renew");
    assert_eq!(r.count(POLICY_LOADER_SPAWNED), loader, "the file is unchanged: nothing re-read");

    fs::write(&file, rpz("rpz.example", "192.0.2.2")).unwrap();
    r.post("/renew");
    assert_eq!(r.count(POLICY_LOADER_SPAWNED), loader + 1, "a changed file is re-read:\n{}", r.daemon.log());
    let ok = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        address(&r.daemon, "rpz.example") == "192.0.2.2"
    });
    assert!(ok, "rpz.example: {}\n{}", address(&r.daemon, "rpz.example"), r.daemon.log());
    assert_eq!(
        r.count(APPLIED),
        applied + 1,
        "re-reading rule files is not a configuration apply:\n{}",
        r.daemon.log()
    );
    assert_eq!(r.daemon.kresd_pids(), pids, "rules are reloaded without restarting workers");

    // SIGHUP to the main process: the reference's lines, nothing applied for an unchanged file.
    let reloaded = r.count("Configuration file successfully reloaded");
    let status = Command::new("kill").args(["-HUP", &r.daemon.process.id().to_string()]).status().unwrap();
    assert!(status.success());
    r.wait_log("Configuration file successfully reloaded", reloaded);
    assert_eq!(r.count("Received SIGHUP, reloading configuration file"), 1, "{}", r.daemon.log());
    assert_eq!(r.count(APPLIED), applied + 1, "{}", r.daemon.log());
}

#[test]
fn refused_and_applied_changes_log_the_reference_lines() {
    let r = Resolver::start(1);
    let applied = r.count(APPLIED);
    let json = [("Content-Type", "application/json")];
    let (head, body) = raw_http(&r.socket, "PUT", "/v1/config/lua", &json, r#"{"script": "error('refused')"}"#);
    assert_eq!(status(&head), 422, "{head}\n{body}");
    assert!(r.count("Kresd with the new config failed to start, rejecting config") > 0, "{}", r.daemon.log());
    assert_eq!(r.count(APPLIED), applied, "a refused change is not applied");
    let (head, body) = raw_http(&r.socket, "PUT", "/v1/config/rundir", &json, "\"/tmp\"");
    assert_eq!(status(&head), 409, "{head}\n{body}");
    assert!(r.count("Configuration validation failed. The reasons are:\n - /rundir") > 0, "{}", r.daemon.log());

    let (head, body) = raw_http(&r.socket, "PUT", "/v1/config/workers", &json, "2");
    assert_eq!(status(&head), 200, "{head}\n{body}");
    assert_eq!(r.count(APPLIED), applied + 1, "{}", r.daemon.log());
    assert_eq!(r.daemon.kresd_pids().len(), 2);
}

/// 6.5.0's launcher: the greeting, the user warnings (tests run as root), transparent huge pages switched off for
/// every process (the kresd workers inherit it).
#[test]
fn start_up_logs_the_launcher_lines_and_disables_huge_pages_for_every_child() {
    let r = Resolver::start(1);
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        format!("Starting Knot Resolver {version}..."),
        "Knot Resolver does not run as the default 'knot-resolver' user, but as 'root' instead.".into(),
        "It is not recommended to run under root privileges unless there is no other option.".into(),
        "THP (Transparent Huge Pages) disabled.".into(),
    ] {
        assert!(r.count(&line) == 1, "'{line}' is not logged once:\n{}", r.daemon.log());
    }
    for pid in r.daemon.kresd_pids() {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let thp = status.lines().find(|l| l.starts_with("THP_enabled:")).unwrap_or("THP_enabled:\t?");
        assert_eq!(thp.split_whitespace().nth(1), Some("0"), "kresd {pid}: {thp}");
    }
}

#[test]
fn response_heads_spell_header_names_like_the_reference() {
    let r = Resolver::start(1);
    let (head, _) = raw_http(&r.socket, "GET", "/v1/config/workers", &[], "");
    let lines = header_lines(&head);
    let etag = lines.iter().find(|l| l.starts_with("ETag: \"")).unwrap_or_else(|| panic!("no 'ETag:' line: {head}"));
    for name in ["Content-Type: application/json", "Content-Length: ", "Date: "] {
        assert!(lines.iter().any(|l| l.starts_with(name)), "no '{name}' line: {head}");
    }
    assert!(lines.iter().all(|l| l.chars().next().is_some_and(|c| c.is_ascii_uppercase())), "{head}");

    // A keep-alive connection: every response on it has the same spelling (the fix is not only for the first).
    let mut stream = UnixStream::connect(&r.socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = "GET /v1/config/workers HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(format!("{request}{request}").as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let both = wait_until(Duration::from_secs(10), Duration::from_millis(1), || {
        if let Ok(n) = stream.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&raw).matches(*etag).count() == 2
    });
    assert!(both, "two responses with '{etag}': {:?}", String::from_utf8_lossy(&raw));

    let (head, _) = raw_http(&r.socket, "POST", "/reload", &[], "");
    assert!(header_lines(&head).iter().any(|l| l.starts_with("Content-Type: text/plain")), "{head}");
    assert!(header_lines(&head).contains(etag), "{head}");
}

#[test]
fn a_killed_worker_is_logged_in_supervisords_words() {
    let r = Resolver::start(1);
    let pid = r.daemon.kresd_pids()[0];
    let spawned = r.count("spawned: 'kresd");
    let status = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    r.wait_log("(terminated by SIGKILL; not expected)", 0);
    let line = r.daemon.log().lines().find(|l| l.contains("(terminated by SIGKILL; not expected)")).unwrap().to_owned();
    assert!(line.contains("exited: kresd"), "{line}");
    r.wait_log("spawned: 'kresd", spawned);
    let ok = wait_until(Duration::from_secs(30), Duration::from_millis(20), || r.daemon.answers());
    assert!(ok, "the restarted worker does not answer:\n{}", r.daemon.log());
}
