//! The configuration history over the API of a real `knot-resolver` with real kresd: every apply listed with its
//! source and the unix peer as client, a generation's document and ETag, diffs, rollbacks (If-Match honoured,
//! recorded as a new generation, DNS answering the old data again), `GET /v1/events` showing a rolling restart
//! step by step, and the history surviving restarts of the manager and of the whole daemon (with the start-up
//! warning and `start-from: last-generation`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kres_test_support::{kdig, kresd_in, wait_until};
use serde_json::{Value, json};

use crate::api::{Api, JSON};
use crate::fixture::{BIN, Daemon, TEST_ADDR, TEST_NAME};

const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
const OTHER_ADDR: &str = "192.0.2.99";

/// The records of the test name pointing at `addr`.
fn records(addr: &str) -> String {
    serde_json::to_string(&format!("{TEST_NAME}. 300 A {addr}\n")).unwrap()
}

fn answer(api: &Api) -> Vec<String> {
    kdig("127.0.0.1", api.daemon.port, TEST_NAME, "A", &[]).addresses().iter().map(|a| a.to_string()).collect()
}

fn history(api: &Api) -> Value {
    let r = api.get("/v1/history");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn numbers(page: &Value) -> Vec<u64> {
    page["generations"].as_array().unwrap().iter().map(|g| g["number"].as_u64().unwrap()).collect()
}

/// A raw `GET /v1/events` over the unix socket, read line by line on a thread; the lines come through a channel.
struct Events {
    lines: mpsc::Receiver<String>,
}

impl Events {
    fn open(api: &Api) -> Events {
        let mut stream = UnixStream::connect(&api.socket).unwrap();
        stream.write_all(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let events = Events { lines };
        assert!(events.until(|l| l == ": subscribed").is_some(), "no ': subscribed' on the event stream");
        events
    }

    /// Reads lines until one satisfies `done` (at most [`WAIT`]); every line read, or None on timeout.
    fn until(&self, done: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else { return None };
            let stop = done(&line);
            seen.push(line);
            if stop {
                return Some(seen);
            }
        }
        None
    }
}

/// The `data:` of the SSE lines, parsed.
fn events_of(lines: &[String]) -> Vec<Value> {
    lines.iter().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect()
}

#[test]
fn history_lists_diffs_and_rolls_back() {
    let api = Api::start(1);
    let page = history(&api);
    assert_eq!(numbers(&page), [1], "{page}");
    let first = &page["generations"][0];
    assert_eq!(first["source"]["kind"], "startup", "{page}");
    assert!(first.get("client").is_none(), "{page}");
    assert_eq!(first["etag"].as_str().unwrap(), api.etag().trim_matches('"'));

    // A worker change, watched on the event stream: validated, the canary, each worker replaced, done.
    let events = Events::open(&api);
    let r = api.put_json("/v1/config/lua", r#"{"script": "-- generation two"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["generation"], 2, "{}", r.body);
    let lines = events.until(|l| l.starts_with("data: ") && l.contains(r#""kind":"done""#)).expect("a done event");
    let events = events_of(&lines);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let position = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("no {kind}: {kinds:?}"));
    assert!(
        position("started") < position("validated")
            && position("validated") < position("canary-ready")
            && position("canary-ready") < position("worker-replaced")
            && position("worker-replaced") < position("done"),
        "{kinds:?}"
    );
    assert!(events.iter().all(|e| e["generation"] == 2), "{events:?}");
    assert!(lines.iter().any(|l| l == "event: worker-replaced"), "SSE event names: {lines:?}");
    assert_eq!(events.last().unwrap()["result"]["kind"], "applied");

    // A rules change: DNS answers the new data.
    let r = api.put_json("/v1/config/local-data/records", &records(OTHER_ADDR));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(answer(&api), [OTHER_ADDR]);

    let page = history(&api);
    assert_eq!(numbers(&page), [3, 2, 1], "newest first: {page}");
    let third = &page["generations"][0];
    assert_eq!(third["source"], json!({"kind": "api", "method": "PUT", "route": "/v1/config/local-data/records"}));
    assert_eq!(third["result"]["kind"], "applied");
    // This test process is the peer of the unix socket.
    let uid = own_uid();
    assert_eq!(third["client"], json!({"kind": "peer", "uid": uid, "pid": std::process::id()}), "{page}");
    let restarted = page["generations"][1]["restarted_workers"].as_array().unwrap().len();
    assert_eq!(restarted, 1, "the worker change restarted the worker: {page}");
    let paged = api.get("/v1/history?offset=1&limit=1").json();
    assert_eq!((numbers(&paged), paged["total"].as_u64()), (vec![2], Some(3)), "{paged}");
    assert_eq!(api.get("/v1/history?limit=1001").status, 400);

    // One generation's document, with its ETag.
    let r = api.get("/v1/history/2");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["lua"]["script"], "-- generation two");
    assert_eq!(r.etag().trim_matches('"'), page["generations"][1]["etag"].as_str().unwrap());
    let missing = api.get("/v1/history/99");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("generation 99"), "{}", missing.body);

    // Diffs: explicit `to`, and by default the generation in force (3).
    let diff = api.get("/v1/history/1/diff?to=3").json();
    let changes: Vec<(&str, &str)> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["op"].as_str().unwrap(), c["path"].as_str().unwrap()))
        .collect();
    assert_eq!(changes, [("replace", "/local-data/records"), ("add", "/lua")], "{diff}");
    let unified = diff["unified"].as_str().unwrap();
    assert!(unified.starts_with("--- generation 1\n+++ generation 3\n"), "{unified}");
    assert!(unified.contains("+lua:\n") && unified.contains(OTHER_ADDR), "{unified}");
    assert_eq!(api.get("/v1/history/1/diff").json(), diff, "to defaults to the generation in force");

    // A rollback whose If-Match fails changes and records nothing.
    let r = api.call("POST", "/v1/history/1/rollback", &[("If-Match", "\"not-the-etag\"")], "");
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(numbers(&history(&api)), [3, 2, 1]);
    assert_eq!(answer(&api), [OTHER_ADDR]);

    // The rollback: generation 1's document is in force again, DNS answers the old data, recorded as 4.
    let etag = api.etag();
    let r = api.call("POST", "/v1/history/1/rollback", &[("If-Match", &etag), JSON], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["generation"], 4, "{}", r.body);
    assert_eq!(r.etag(), api.etag());
    assert_eq!(api.get("/v1/config").json(), api.get("/v1/history/1").json());
    assert_eq!(api.etag(), format!("\"{}\"", first["etag"].as_str().unwrap()));
    assert_eq!(answer(&api), [TEST_ADDR]);
    let newest = history(&api)["generations"][0].clone();
    assert_eq!((newest["number"].as_u64(), &newest["source"]), (Some(4), &json!({"kind": "rollback", "of": 1})));
    assert_eq!(newest["result"]["kind"], "applied");
    assert_eq!(newest["client"]["pid"], std::process::id());
    assert_eq!(api.call("POST", "/v1/history/77/rollback", &[], "").status, 404);
}

/// This process's real uid (`/proc/self/status`).
fn own_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:")).expect("a Uid: line");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn history_survives_restarts_of_the_manager_and_the_daemon() {
    let api = Api::start(1);
    let r = api.put_json("/v1/config/local-data/records", &records(OTHER_ADDR));
    assert_eq!((r.status, r.json()["generation"].as_u64()), (200, Some(2)), "{}", r.body);

    // The manager dies; the supervisor starts another, which reads the files: they differ from generation 2, so
    // it says so loudly, names the rollback that restores it, and records the files as generation 3.
    let killed = api.daemon.manager_pid().expect("manager PID");
    kill_process(killed);
    let back = wait_until(WAIT, POLL, || {
        api.daemon.manager_pid().is_some_and(|p| p != killed)
            && UnixStream::connect(&api.socket).is_ok()
            && api.get("/healthz").status == 200
    });
    assert!(back, "the manager did not come back:\n{}", api.log());
    let log = api.log();
    assert!(log.contains("THE CONFIGURATION FILES DIFFER FROM THE LAST APPLIED CONFIGURATION, generation 2"), "{log}");
    assert!(log.contains("`kresctl rollback 2` restores generation 2"), "{log}");
    assert!(log.contains("/local-data/records"), "what differs: {log}");
    let page = history(&api);
    assert_eq!(numbers(&page), [3, 2, 1], "{page}");
    assert_eq!(page["generations"][0]["source"]["kind"], "startup");
    // The files are the configuration in force, in the API and in DNS: the adopted worker was started with the
    // files' Lua, but the rules database held generation 2's records, so the new manager re-applied the files.
    let records_in_force = api.get("/v1/config/local-data/records").json();
    assert_eq!(records_in_force, json!(format!("{TEST_NAME}. 300 A {TEST_ADDR}\n")));
    let files_served = wait_until(WAIT, POLL, || answer(&api) == [TEST_ADDR]);
    assert!(files_served, "DNS still answers generation 2's data: {:?}\n{}", answer(&api), api.log());
    let r = api.put_json("/v1/config/local-data/records", &records(OTHER_ADDR));
    assert_eq!((r.status, r.json()["generation"].as_u64()), (200, Some(4)), "{}", r.body);

    // The whole daemon is killed and started again on the same directory, now with start-from: last-generation.
    let Api { daemon, socket } = api;
    let rundir = daemon.rundir();
    let Daemon { dir, port, process } = daemon;
    drop(process);
    assert!(wait_until(WAIT, POLL, || kresd_in(&rundir).is_empty()), "kresd outlived the killed daemon");
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let config = config.replace("  health-hold: 300ms\n", "  health-hold: 300ms\n  start-from: last-generation\n");
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let api = Api { daemon: Daemon::spawn_in(BIN.as_ref(), dir, port), socket };
    // Ready, answering generation 4's data (the fixture's own wait expects the files' data).
    let up = wait_until(Duration::from_secs(60), POLL, || {
        api.daemon.api_ready()
            && kres_test_support::try_kdig("127.0.0.1", port, TEST_NAME, "A", &["+timeout=1", "+retry=0"])
                .is_ok_and(|a| a.addresses().contains(&OTHER_ADDR))
    });
    assert!(up, "the restarted daemon does not serve generation 4:\n{}", api.log());
    let log = api.log();
    assert!(log.contains("starting from generation 4 (/management/start-from: last-generation)"), "{log}");
    assert_eq!(answer(&api), [OTHER_ADDR], "the API-written generation is in force");
    assert_eq!(api.get("/v1/config").json(), api.get("/v1/history/4").json());
    let page = history(&api);
    assert_eq!(numbers(&page), [4, 3, 2, 1], "nothing new recorded: generation 4 is in force: {page}");
    // Numbering continues.
    let r = api.put_json("/v1/config/local-data/records", &records(TEST_ADDR));
    assert_eq!((r.status, r.json()["generation"].as_u64()), (200, Some(5)), "{}", r.body);
    assert_eq!(answer(&api), [TEST_ADDR]);
}

fn kill_process(pid: u32) {
    let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -KILL {pid}");
}
