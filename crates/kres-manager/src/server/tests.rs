//! The API against a fake manager actor (no kresd): routing, statuses, ETags, bodies and the socket.
//! The same behaviour against real workers is tested in `tests/daemon/api.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kres_datamodel::config::ManagementSchema;
use kres_datamodel::node::Node;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::manager::handle::{ApplyError, ApplyOutcome, Command, SelfMetrics, Snapshot, WorkerInfo};
use tokio_util::sync::CancellationToken;

fn snapshot(raw: Value, generation: u64) -> Snapshot {
    let config =
        kres_datamodel::validate(&Node::from_json(&raw), &kres_datamodel::ValidationOptions::lenient()).unwrap();
    Snapshot {
        etag: kres_datamodel::etag::etag(&raw),
        raw: Arc::new(raw),
        config: Arc::new(config),
        generation,
        workers: vec![WorkerInfo { instance: 0, pid: 4242 }],
        gc_pid: Some(4343),
        metrics: SelfMetrics::default(),
    }
}

/// A stand-in for the manager actor: plans like it (preconditions, edit, validation, runtime-immutable changes:
/// [`edit_and_validate`](crate::manager::plan::edit_and_validate)) without processes, and publishes snapshots.
/// Each apply takes a little while, like the real one.
fn fake_manager(raw: Value) -> ManagerHandle {
    let (commands, mut rx) = mpsc::channel(16);
    let (publish, snapshots) = watch::channel(Arc::new(snapshot(raw, 1)));
    tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            match command {
                Command::Apply(request, reply) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let current = publish.borrow().clone();
                    let result = (|| {
                        // The manager's own edit, validation and runtime-change steps.
                        let (raw, _) = crate::manager::plan::edit_and_validate(
                            &current.raw,
                            &current.config,
                            &current.etag,
                            &request,
                            &kres_datamodel::ValidationOptions::lenient(),
                        )?;
                        let etag = kres_datamodel::etag::etag(&raw);
                        let outcome = ApplyOutcome {
                            etag: etag.clone(),
                            changed: etag != current.etag,
                            dry_run: request.dry_run,
                            restarted_workers: vec![],
                            rules_reloaded: false,
                            canary: None,
                            seconds: 0.02,
                            generation: None,
                            impact: None,
                        };
                        if !request.dry_run {
                            publish.send_replace(Arc::new(snapshot(raw, current.generation + 1)));
                        }
                        Ok(outcome)
                    })();
                    let _ = reply.send(result);
                }
                Command::Reload { reply, .. } => {
                    let _ = reply.send(Err(ApplyError::Load("cannot read configuration file '/x.yaml'".into())));
                }
                Command::Fleet { reply, .. } => {
                    let _ = reply.send(Err(ApplyError::NotFound("no fleet in the fake".into())));
                }
                Command::Rollback { reply, .. } => {
                    let _ = reply.send(Err(ApplyError::NotFound("no history in the fake".into())));
                }
                Command::Stop => break,
            }
        }
    });
    ManagerHandle::new(commands, snapshots, tokio::sync::broadcast::channel(16).0, None)
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A minimal HTTP/1.1 client over the unix socket (one request per connection).
async fn request(socket: &Path, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Reply { status, headers, body: body.to_owned() }
}

struct Api {
    _dir: kres_test_support::TempDir,
    socket: PathBuf,
    server: Option<ServerHandle>,
}

async fn api(raw: Value) -> Api {
    let dir = kres_test_support::TempDir::new("api-unit");
    let socket = dir.path().join("api.sock");
    let management = management_for(&socket);
    let server = start(fake_manager(raw), &management, CancellationToken::new()).await.unwrap();
    Api { _dir: dir, socket, server: Some(server) }
}

fn management_for(socket: &Path) -> ManagementSchema {
    let raw = json!({"management": {"unix-socket": socket.display().to_string()}});
    let config =
        kres_datamodel::validate(&Node::from_json(&raw), &kres_datamodel::ValidationOptions::lenient()).unwrap();
    config.management.clone()
}

impl Api {
    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        request(&self.socket, method, path, headers, body.as_bytes()).await
    }
    async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], "").await
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test]
async fn config_reads_etags_and_conditions() {
    let api = api(json!({"workers": 1, "network": {"listen": [{"interface": "127.0.0.1@5353"}]}})).await;
    let r = api.get("/v1/config").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"workers": 1, "network": {"listen": [{"interface": "127.0.0.1@5353"}]}}));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let etag = r.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 22, "{etag}");

    let r = api.get("/v1/config/network/listen/0/interface").await;
    assert_eq!((r.status, r.json()), (200, json!("127.0.0.1@5353")));
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = api.call("GET", "/v1/config", &[("If-None-Match", &etag)], "").await;
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = api.call("GET", "/v1/config", &[("If-Match", "\"stale\"")], "").await;
    assert_eq!(r.status, 412, "If-Match failing on GET is 412, not 304");
    let r = api.call("GET", "/v1/config", &[("If-Match", &etag)], "").await;
    assert_eq!(r.status, 200);
    let r = api.call("HEAD", "/v1/config", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));

    for missing in ["/v1/config/nosuch", "/v1/config/network/listen/5", "/v1/config/workers/x", "/v1/config/"] {
        let r = api.get(missing).await;
        assert_eq!(r.status, 404, "{missing}: {}", r.body);
        assert_eq!(r.header("etag"), Some(etag.as_str()), "ETag on every config response");
    }
    assert_eq!(api.get("/v1/config/network/listen/01").await.status, 400);
}

#[tokio::test]
async fn config_writes_map_errors_to_statuses() {
    let api = api(json!({"workers": 1, "network": {"listen": [{"interface": "127.0.0.1@5353"}]}})).await;
    let etag = api.get("/v1/config").await.header("etag").unwrap().to_owned();

    let r = api.call("PUT", "/v1/config/workers", &[JSON], "2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changed"], json!(true));
    let new = r.header("etag").unwrap().to_owned();
    assert_ne!(new, etag);
    assert_eq!(api.get("/v1/config").await.header("etag"), Some(new.as_str()));

    // A stale If-Match: 412, nothing applied.
    let r = api.call("PUT", "/v1/config/workers", &[JSON, ("If-Match", &etag)], "3").await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(api.get("/v1/config/workers").await.json(), json!(2));

    // YAML bodies by Content-Type, and PATCH at a list index.
    let r = api
        .call(
            "PUT",
            "/v1/config/network",
            &[("Content-Type", "application/yaml")],
            "listen:\n  - interface: 127.0.0.1@5354\n",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let patch = r#"[{"op": "add", "path": "/network/listen/0", "value": {"interface": "127.0.0.1@5355"}}]"#;
    let r = api.call("PATCH", "/v1/config", &[JSON], patch).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(api.get("/v1/config/network/listen/1/interface").await.json(), json!("127.0.0.1@5354"));

    // Dry run: the outcome, nothing applied, the current ETag.
    let before = api.get("/v1/config").await.header("etag").unwrap().to_owned();
    let r = api.call("PUT", "/v1/config/workers?dry-run=true", &[JSON], "4").await;
    assert_eq!((r.status, r.json()["dry_run"].clone()), (200, json!(true)));
    assert_eq!(r.header("etag"), Some(before.as_str()));
    assert_eq!(api.get("/v1/config/workers").await.json(), json!(2));

    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str, u16, &'a str);
    let cases: &[Case] = &[
        ("PUT", "/v1/config/workers", &[JSON], "\"many\"", 400, "/workers"),
        ("PUT", "/v1/config/workers", &[JSON], "{", 400, "cannot parse"),
        ("PUT", "/v1/config/workers", &[JSON], "", 400, "empty"),
        ("PUT", "/v1/config/workers", &[("Content-Type", "text/html")], "2", 415, "Content-Type"),
        ("PUT", "/v1/config/a/b", &[JSON], "1", 404, ""),
        ("PUT", "/v1/config/management", &[JSON], "{\"interface\": \"127.0.0.1@9999\"}", 409, "/management"),
        ("PUT", "/v1/config/workers?dry-rn=1", &[JSON], "2", 400, "unknown query parameter"),
        ("DELETE", "/v1/config/nosuch", &[], "", 404, ""),
        ("DELETE", "/v1/config", &[], "", 400, "whole configuration"),
        ("PATCH", "/v1/config", &[JSON], "{\"op\": \"add\"}", 400, "JSON Patch"),
        ("PATCH", "/v1/config", &[JSON], "[{\"op\": \"test\", \"path\": \"/workers\", \"value\": 9}]", 400, ""),
        ("POST", "/v1/config", &[JSON], "1", 405, ""),
    ];
    for (method, path, headers, body, status, needle) in cases {
        let r = api.call(method, path, headers, body).await;
        assert_eq!(r.status, *status, "{method} {path} {body}: {}", r.body);
        assert!(r.body.contains(needle), "{method} {path}: {needle:?} not in {}", r.body);
    }
    let big = format!("\"{}\"", "x".repeat(BODY_LIMIT + 10));
    let r = api.call("PUT", "/v1/config/lua/script", &[JSON], &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
}

#[tokio::test]
async fn concurrent_writes_with_one_etag_one_wins() {
    let api = api(json!({"workers": 1})).await;
    let etag = api.get("/v1/config").await.header("etag").unwrap().to_owned();
    let headers = [JSON, ("If-Match", etag.as_str())];
    let (a, b) = tokio::join!(
        api.call("PUT", "/v1/config/workers", &headers, "2"),
        api.call("PUT", "/v1/config/workers", &headers, "3"),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{} / {}", a.body, b.body);
    let winner = if a.status == 200 { 2 } else { 3 };
    assert_eq!(api.get("/v1/config/workers").await.json(), json!(winner));
}

#[tokio::test]
async fn other_routes() {
    let api = api(json!({})).await;
    let r = api.get("/").await;
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("RUNNING")));
    let r = api.get("/metrics").await;
    assert_eq!((r.status, r.header("location")), (301, Some("/metrics/json")));
    let r = api.get("/schema").await;
    assert_eq!(r.status, 200);
    assert!(r.json()["properties"]["workers"].is_object());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = api.get("/schema/ui").await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/html; charset=utf-8")));
    let r = api.get("/processes").await;
    assert_eq!(
        r.json(),
        json!([{"type": "KRESD", "pid": 4242, "status": "RUNNING"}, {"type": "GC", "pid": 4343, "status": "RUNNING"}])
    );
    assert_eq!(api.get("/processes/kresd").await.json().as_array().unwrap().len(), 1);
    assert_eq!(api.get("/processes/gc").await.json()[0]["pid"], json!(4343));
    let r = api.get("/processes/bogus").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Invalid process type 'bogus'"));
    assert_eq!(api.get("/healthz").await.status, 200);
    // The fake worker has no control socket: not ready, with the reason.
    let r = api.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert!(r.json()["workers"][0]["reason"].as_str().unwrap().contains("control"), "{}", r.body);
    let r = api.call("POST", "/reload", &[], "").await;
    assert_eq!(r.status, 400, "a failed reload is not a 200");
    assert!(r.body.contains("NOT been changed"), "{}", r.body);
    let r = api.call("POST", "/cache/clear", &[JSON], "{\"rr-type\": \"A\"}").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("exact-name: true"));
    let r = api.call("POST", "/cache/clear", &[JSON], "{}").await;
    assert_eq!(r.status, 503, "the fake worker's control socket does not exist: {}", r.body);
    let r = api.get("/nosuch").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("/nosuch"));
}

#[tokio::test]
async fn socket_is_0660_refused_while_in_use_and_replaced_when_stale() {
    use std::os::unix::fs::PermissionsExt;
    let mut api = api(json!({})).await;
    let mode = std::fs::metadata(&api.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let management = management_for(&api.socket);
    let err = start(fake_manager(json!({})), &management, CancellationToken::new())
        .await
        .err()
        .expect("a second server must be refused");
    assert!(matches!(err, ServerError::SocketInUse(_)), "{err}");
    // Stop: the socket is removed.
    api.server.take().unwrap().stop().await;
    assert!(!api.socket.exists());
    // A stale socket (nobody listening) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&api.socket).unwrap());
    assert!(api.socket.exists());
    let server = start(fake_manager(json!({})), &management, CancellationToken::new()).await.unwrap();
    assert_eq!(api.get("/healthz").await.status, 200);
    server.stop().await;
    // A regular file is not clobbered.
    std::fs::write(&api.socket, "data").unwrap();
    assert!(matches!(
        start(fake_manager(json!({})), &management, CancellationToken::new()).await,
        Err(ServerError::NotASocket(_))
    ));
}

#[tokio::test]
async fn tcp_listener() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let raw = json!({"management": {"interface": format!("127.0.0.1@{port}")}});
    let config =
        kres_datamodel::validate(&Node::from_json(&raw), &kres_datamodel::ValidationOptions::lenient()).unwrap();
    let server = start(fake_manager(raw), &config.management, CancellationToken::new()).await.unwrap();
    assert_eq!(server.listen(), &Listen::Tcp(format!("127.0.0.1:{port}").parse().unwrap()));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    server.stop().await;
}

/// The manager's shutdown token stops the server: no new connection is served once it is cancelled.
#[tokio::test]
async fn the_shutdown_token_stops_accepting() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let raw = json!({"management": {"interface": format!("127.0.0.1@{port}")}});
    let config =
        kres_datamodel::validate(&Node::from_json(&raw), &kres_datamodel::ValidationOptions::lenient()).unwrap();
    let shutdown = CancellationToken::new();
    let server = start(fake_manager(raw), &config.management, shutdown.clone()).await.unwrap();
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok());
    shutdown.cancel();
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the listener still accepts after the shutdown token was cancelled");
    server.stop().await;
}
