//! The authenticated management API against the real daemon: TLS on the TCP listener (certificates generated
//! with rcgen for each test), bearer tokens with scopes, mutual TLS, a token rotated and a certificate renewed
//! while it runs, and the unix socket's peer-credential check. The client is curl (in the sid root).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use argon2::PasswordHasher;
use kres_test_support::{TempDir, free_port, wait_until};

use crate::fixture::{BIN, Daemon, test_config};

const ADMIN: &str = "admin-secret-0123456789abcdef";
const READER: &str = "reader-secret-0123456789abcdef";

/// An argon2id hash of `secret` with the smallest parameters (tests run unoptimised builds; the manager reads
/// the parameters from the hash).
fn cheap_hash(secret: &str) -> String {
    cheap_hash_salted(secret, b"0123456789abcdef")
}

fn cheap_hash_salted(secret: &str, salt: &[u8]) -> String {
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = argon2::password_hash::SaltString::encode_b64(salt).unwrap();
    argon.hash_password(secret.as_bytes(), &salt).unwrap().to_string()
}

/// A CA that signs server and client certificates.
type Ca = kres_test_support::TestCa;

/// Replaces a file atomically (as certbot's renewal does).
fn replace(from: &Path, to: &Path) {
    let temporary = to.with_extension("new");
    std::fs::copy(from, &temporary).unwrap();
    std::fs::rename(&temporary, to).unwrap();
}

/// A daemon whose API listens on TCP 127.0.0.1:`api` with `management` (YAML lines indented by two spaces)
/// instead of the unix socket; waits until it answers DNS.
fn tcp_daemon(_tag: &str, dir: TempDir, api: u16, management: &str) -> Daemon {
    Daemon::start_with_tcp_api(Path::new(BIN), dir, api, management)
}

/// What curl got: its exit code, the status (0 without an answer), the response head and body.
#[derive(Debug)]
struct Curl {
    code: i32,
    status: u16,
    head: String,
    body: String,
}

fn curl(args: &[&str]) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-D", "/dev/stdout", "-o", "/dev/stdout"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Curl {
        code: out.status.code().unwrap_or(-1),
        status,
        head: head.to_owned(),
        body: format!("{body}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// `curl --cacert CA [-H 'Authorization: Bearer TOKEN'] [-X METHOD -d BODY] https://127.0.0.1:PORT/PATH`.
fn https(ca: &Path, port: u16, token: Option<&str>, method: &str, path: &str, body: Option<&str>) -> Curl {
    let url = format!("https://127.0.0.1:{port}{path}");
    let header = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["--cacert", ca.to_str().unwrap(), "-X", method];
    if let Some(header) = &header {
        args.extend(["-H", header]);
    }
    if let Some(body) = body {
        args.extend(["-H", "Content-Type: application/json", "--data-binary", body]);
    }
    args.push(&url);
    curl(&args)
}

#[track_caller]
fn expect(answer: &Curl, status: u16, daemon: &Daemon) {
    assert_eq!(answer.status, status, "{answer:#?}\nlog:\n{}", daemon.log());
}

/// Every 401 and 403 of the TCP listener over TLS, the scopes, a token rotated at runtime, the identity in the log,
/// and no secret in the log.
#[test]
fn tls_tokens_scopes_rotation() {
    let dir = TempDir::new("auth-tokens");
    let ca = Ca::new("test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert, key) = ca.issue(dir.path(), "server", &["localhost", "127.0.0.1"], false);
    let api = free_port();
    let management = format!(
        "  tls: {{cert-file: {}, key-file: {}}}\n  tokens:\n    - {{name: ops, scope: admin, hash: '{}'}}\n    \
         - {{name: grafana, scope: read, hash: '{}'}}\n",
        cert.display(),
        key.display(),
        cheap_hash(ADMIN),
        cheap_hash(READER)
    );
    let d = tcp_daemon("tokens", dir, api, &management);
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
            https(&ca_file, api, Some(ADMIN), "GET", "/", None).status == 200
        }),
        "the API did not answer over TLS:\n{}",
        d.log()
    );

    // 401: no token, a wrong one, another scheme, a malformed header; each with the challenge.
    let none = https(&ca_file, api, None, "GET", "/v1/config", None);
    expect(&none, 401, &d);
    assert!(none.head.contains("WWW-Authenticate: Bearer realm=\"knot-resolver\""), "{none:#?}");
    assert!(none.body.contains("a token is required"), "{none:#?}");
    let wrong = https(&ca_file, api, Some("wrong-secret-0123456789"), "GET", "/v1/config", None);
    expect(&wrong, 401, &d);
    assert!(wrong.head.contains("error=\"invalid_token\""), "{wrong:#?}");
    for header in ["Authorization: Basic b3BzOnNlY3JldA==", "Authorization: Bearer a b", "Authorization: Bearer"] {
        let url = format!("https://127.0.0.1:{api}/v1/config");
        let answer = curl(&["--cacert", ca_file.to_str().unwrap(), "-H", header, &url]);
        expect(&answer, 401, &d);
        assert!(answer.head.contains("WWW-Authenticate: Bearer"), "{header}: {answer:#?}");
    }
    // Failures are counted per address (after the first few, each next check waits a little longer); a success
    // clears the count.
    for _ in 0..3 {
        expect(&https(&ca_file, api, Some("wrong-secret-0123456789"), "GET", "/", None), 401, &d);
    }
    assert!(d.log().contains("a wrong token from 127.0.0.1 (4 failure(s) in a row)"), "{}", d.log());
    expect(&https(&ca_file, api, Some(READER), "GET", "/", None), 200, &d);
    expect(&https(&ca_file, api, Some("wrong-secret-0123456789"), "GET", "/", None), 401, &d);
    let last = d.log().lines().rfind(|l| l.contains("a wrong token from")).unwrap_or_default().to_owned();
    assert!(last.contains("(1 failure(s) in a row)"), "{last}");
    // A write without a token is refused the same way, and nothing happens.
    expect(&https(&ca_file, api, None, "POST", "/stop", None), 401, &d);
    expect(&https(&ca_file, api, None, "GET", "/metrics/prometheus", None), 401, &d);

    // The read scope: every read route, and 403 on every write.
    for path in
        ["/", "/v1/config", "/v1/config/workers", "/schema", "/metrics/json", "/processes", "/healthz", "/readyz"]
    {
        expect(&https(&ca_file, api, Some(READER), "GET", path, None), 200, &d);
    }
    for (method, path, body) in [
        ("PUT", "/v1/config/workers", Some("2")),
        ("DELETE", "/v1/config/lua", None),
        ("POST", "/reload", None),
        ("POST", "/cache/clear", Some("{}")),
        ("POST", "/stop", None),
    ] {
        let answer = https(&ca_file, api, Some(READER), method, path, body);
        expect(&answer, 403, &d);
        assert!(answer.body.contains("'read' scope") && answer.body.contains("admin"), "{answer:#?}");
    }
    assert!(d.answers(), "the read token's POST /stop must not have stopped anything");

    // The admin token writes; the write is logged with the token's name.
    let put = https(&ca_file, api, Some(ADMIN), "PUT", "/v1/config/management/health-hold", Some("\"1s\""));
    expect(&put, 200, &d);
    assert!(d.log().contains("PUT /v1/config/management/health-hold by token 'ops'"), "{}", d.log());
    // The history records the token's name as the client of the change (the read scope may list it).
    let history = https(&ca_file, api, Some(READER), "GET", "/v1/history", None);
    expect(&history, 200, &d);
    let generations: serde_json::Value = serde_json::from_str(&history.body).unwrap();
    let newest = &generations["generations"][0];
    assert_eq!(newest["client"], serde_json::json!({"kind": "token", "name": "ops"}), "{history:#?}");

    // Rotation at runtime: the admin token gets a new secret; the old one stops working at once. The read
    // token's secret is hashed again (another salt): it keeps working.
    let rotated = "admin-rotated-0123456789abcdef";
    let tokens = format!(
        "[{{\"name\": \"ops\", \"scope\": \"admin\", \"hash\": \"{}\"}}, \
         {{\"name\": \"grafana\", \"scope\": \"read\", \"hash\": \"{}\"}}]",
        cheap_hash(rotated),
        cheap_hash_salted(READER, b"another-salt-1234")
    );
    expect(&https(&ca_file, api, Some(ADMIN), "PUT", "/v1/config/management/tokens", Some(&tokens)), 200, &d);
    expect(&https(&ca_file, api, Some(ADMIN), "GET", "/v1/config", None), 401, &d);
    expect(&https(&ca_file, api, Some(rotated), "GET", "/v1/config", None), 200, &d);
    expect(&https(&ca_file, api, Some(READER), "GET", "/v1/config", None), 200, &d);
    // A read token cannot give itself more.
    expect(&https(&ca_file, api, Some(READER), "PUT", "/v1/config/management/tokens", Some("[]")), 403, &d);

    // The listener itself stays fixed.
    let moved = https(&ca_file, api, Some(rotated), "PUT", "/v1/config/management/tls", Some("null"));
    assert!(moved.status == 409 || moved.status == 400, "{moved:#?}");

    // Plain HTTP on the TLS port gets no answer; a client that does not trust the CA gets no connection.
    let plain = curl(&[&format!("http://127.0.0.1:{api}/")]);
    assert_eq!(plain.status, 0, "{plain:#?}");
    let untrusted = curl(&["-H", &format!("Authorization: Bearer {rotated}"), &format!("https://127.0.0.1:{api}/")]);
    assert_eq!((untrusted.status, untrusted.code), (0, 60), "{untrusted:#?}");

    let log = d.log();
    for secret in [ADMIN, READER, rotated, "wrong-secret-0123456789"] {
        assert!(!log.contains(secret), "the secret {secret} is in the log:\n{log}");
    }
    assert!(log.contains("a wrong token from 127.0.0.1"), "{log}");
}

/// With `metrics-unauthenticated`, a scraper without a token reads the metrics routes and nothing else.
#[test]
fn metrics_without_a_token() {
    let dir = TempDir::new("auth-metrics");
    let ca = Ca::new("test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert, key) = ca.issue(dir.path(), "server", &["127.0.0.1"], false);
    let api = free_port();
    let management = format!(
        "  tls: {{cert-file: {}, key-file: {}}}\n  metrics-unauthenticated: true\n  tokens:\n    \
         - {{name: ops, scope: admin, hash: '{}'}}\n",
        cert.display(),
        key.display(),
        cheap_hash(ADMIN)
    );
    let d = tcp_daemon("metrics", dir, api, &management);
    assert!(wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
        https(&ca_file, api, None, "GET", "/metrics/prometheus", None).status == 200
    }));
    let scrape = https(&ca_file, api, None, "GET", "/metrics/prometheus", None);
    assert!(scrape.body.contains("# TYPE"), "{scrape:#?}");
    expect(&https(&ca_file, api, None, "GET", "/metrics/json", None), 200, &d);
    expect(&https(&ca_file, api, None, "GET", "/v1/config", None), 401, &d);
    expect(&https(&ca_file, api, None, "POST", "/stop", None), 401, &d);
    expect(&https(&ca_file, api, None, "GET", "/processes", None), 401, &d);
}

/// Mutual TLS: a client certificate from the configured CA is accepted; none, or one from another CA, is refused
/// in the handshake.
#[test]
fn mutual_tls() {
    let dir = TempDir::new("auth-mtls");
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let stranger = Ca::new("another CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let clients_file = clients.write(dir.path(), "clients.pem");
    let (cert, key) = ca.issue(dir.path(), "server", &["127.0.0.1"], false);
    let (good_cert, good_key) = clients.issue(dir.path(), "client", &["ops.example"], true);
    let (bad_cert, bad_key) = stranger.issue(dir.path(), "stranger", &["ops.example"], true);
    let api = free_port();
    let management = format!(
        "  tls: {{cert-file: {}, key-file: {}, client-ca-file: {}}}\n",
        cert.display(),
        key.display(),
        clients_file.display()
    );
    let d = tcp_daemon("mtls", dir, api, &management);
    let url = format!("https://127.0.0.1:{api}/v1/config");
    let with = |cert: &Path, key: &Path| {
        curl(&[
            "--cacert",
            ca_file.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            &url,
        ])
    };
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(50), || with(&good_cert, &good_key).status == 200),
        "{:#?}\n{}",
        with(&good_cert, &good_key),
        d.log()
    );
    let without = curl(&["--cacert", ca_file.to_str().unwrap(), &url]);
    assert_eq!(without.status, 0, "no client certificate: {without:#?}");
    assert_ne!(without.code, 0);
    let foreign = with(&bad_cert, &bad_key);
    assert_eq!(foreign.status, 0, "a certificate of another CA: {foreign:#?}");
    assert_ne!(foreign.code, 0);
    // The refusals did not hurt the server.
    expect(&with(&good_cert, &good_key), 200, &d);
}

/// A certificate renewed on disk (replaced atomically) is served to new connections without a restart; a broken
/// renewal (a key that does not match) keeps the last good one in use.
#[test]
fn certificate_renewed_on_disk() {
    let dir = TempDir::new("auth-renew");
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let old_ca_file = old_ca.write(dir.path(), "old-ca.pem");
    let new_ca_file = new_ca.write(dir.path(), "new-ca.pem");
    let (cert, key) = old_ca.issue(dir.path(), "server", &["127.0.0.1"], false);
    let (new_cert, new_key) = new_ca.issue(dir.path(), "renewed", &["127.0.0.1"], false);
    let (other_cert, _) = new_ca.issue(dir.path(), "other", &["127.0.0.1"], false);
    let api = free_port();
    let management = format!("  tls: {{cert-file: {}, key-file: {}}}\n", cert.display(), key.display());
    let d = tcp_daemon("renew", dir, api, &management);
    let pids = d.kresd_pids();
    let manager = d.manager_pid();
    assert!(wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
        https(&old_ca_file, api, None, "GET", "/", None).status == 200
    }));
    expect(&https(&old_ca_file, api, None, "GET", "/v1/config", None), 200, &d);
    assert_ne!(https(&new_ca_file, api, None, "GET", "/", None).status, 200);

    // A certificate without its key: not loaded, the old pair keeps being served.
    replace(&other_cert, &cert);
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || d
            .log()
            .contains("the changed TLS files were not loaded")),
        "{}",
        d.log()
    );
    expect(&https(&old_ca_file, api, None, "GET", "/", None), 200, &d);

    // The whole renewal: key, then certificate.
    replace(&new_key, &key);
    replace(&new_cert, &cert);
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            https(&new_ca_file, api, None, "GET", "/", None).status == 200
        }),
        "the renewed certificate was not served:\n{}",
        d.log()
    );
    assert_ne!(https(&old_ca_file, api, None, "GET", "/", None).status, 200);
    assert_eq!(d.manager_pid(), manager, "no restart of the manager");
    assert_eq!(d.kresd_pids(), pids, "no restart of the workers");
}

/// The unix socket: mode 0660 and the configured group; root and members of the group get in, anyone else who
/// reaches the socket gets 403 with the reason; a write is logged with the peer's uid and pid.
#[test]
fn unix_socket_peer_credentials() {
    kres_test_support::require_sid_root();
    let dir = TempDir::new("auth-unix");
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    let port = free_port();
    // The group is added to the test configuration's /management block.
    let config = test_config(dir.path(), port, 1, "");
    assert!(config.contains("  health-hold: 300ms\n"));
    let config = config.replace("  health-hold: 300ms\n", "  health-hold: 300ms\n  unix-socket-group: '4242'\n");
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let mut d = Daemon::spawn_in(Path::new(BIN), dir, port);
    d.wait_ready(Duration::from_secs(60));

    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let socket = d.socket();
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 4242, "the socket gets the configured group");

    let as_user = |uid: u32, gid: u32, method: &str, path: &str| {
        let out = Command::new("setpriv")
            .args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into()])
            .args(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", "-X", method])
            .arg("--unix-socket")
            .arg(&socket)
            .arg(format!("http://localhost{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().parse::<u16>().unwrap_or(0), format!("{body}{}", String::from_utf8_lossy(&out.stderr)))
    };
    // A member of the group (primary gid) gets in.
    let (status, body) = as_user(12001, 4242, "GET", "/v1/config/workers");
    assert_eq!(status, 200, "{body}\n{}", d.log());
    // Someone else cannot even open the socket (mode 0660)...
    let (status, _) = as_user(12002, 12002, "GET", "/v1/config");
    assert_eq!(status, 0);
    // ...and when the file mode is loosened by hand, the peer check still refuses them, saying why.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (status, body) = as_user(12002, 12002, "POST", "/stop");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("uid 12002") && body.contains("'4242'"), "{body}");
    assert!(d.answers(), "the refused POST /stop must not have stopped anything");

    // Root writes; the log names the peer.
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", "Content-Type: application/json"])
        .args(["--data-binary", "\"1s\"", "--unix-socket"])
        .arg(&socket)
        .arg("http://localhost/v1/config/management/health-hold")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", d.log());
    assert!(d.log().contains("PUT /v1/config/management/health-hold by uid 0 (pid "), "{}", d.log());
    assert!(d.log().contains("refused POST /stop on the unix socket"), "{}", d.log());
}

/// A TCP listener on an address other than loopback needs TLS unless allow-insecure is set; the daemon refuses to
/// start otherwise.
#[test]
fn insecure_listener_refused() {
    kres_test_support::require_sid_root();
    let dir = TempDir::new("auth-insecure");
    let config = test_config(dir.path(), free_port(), 1, "")
        .replace(&format!("  unix-socket: {}/run/kres-api.sock\n", dir.path().display()), "  interface: 0.0.0.0@1\n");
    std::fs::write(dir.join("config.yaml"), &config).unwrap();
    let out = Command::new(BIN).arg("-c").arg(dir.join("config.yaml")).output().unwrap();
    assert!(!out.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("needs TLS") && text.contains("allow-insecure"), "{text}");
}
