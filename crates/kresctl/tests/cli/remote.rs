//! `kresctl` against a remote manager: `https://` sockets (certificates generated with rcgen for each test),
//! tokens from `--token`, `--token-file` and `KRES_API_TOKEN`, mutual TLS, `hash-token`, and the diagnostics of
//! each failure (certificate not trusted, name mismatch, client certificate missing or refused, 401, 403).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kres_test_support::{TempDir, free_port, wait_until};

use crate::daemon::{Daemon, knot_resolver_bin};
use crate::support::Run;

const ADMIN: &str = "kresctl-admin-secret-0123456789";
const READER: &str = "kresctl-reader-secret-0123456789";

/// A CA that signs server and client certificates.
type Ca = kres_test_support::TestCa;

/// `kresctl ARGS` with `env` set (and `KRES_API_TOKEN` unset unless given) and `stdin` as its input.
fn run(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kresctl"));
    cmd.args(args).env_remove("KRES_API_TOKEN").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("cannot run kresctl");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("kresctl was killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A daemon whose API listens on TLS at 127.0.0.1:`api` with `management` (YAML lines indented by two spaces)
/// added to its /management; waits until it answers DNS.
fn tls_daemon(dir: TempDir, api: u16, management: &str) -> Daemon {
    Daemon::start_with_tcp_api(&knot_resolver_bin(), dir, api, management)
}

/// `hash-token` makes the hash the manager checks; tokens from each source; every failure explained.
#[test]
fn https_with_tokens() {
    let dir = TempDir::new("kresctl-remote");
    let ca = Ca::new("test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let other_ca = Ca::new("other CA").write(dir.path(), "other-ca.pem");
    let (cert, key) = ca.issue(dir.path(), "server", &["127.0.0.1", "api.test"], false);

    let admin_hash = run(&["hash-token"], &[], &format!("{ADMIN}\n")).success().stdout.trim().to_owned();
    assert!(admin_hash.starts_with("$argon2id$"), "{admin_hash}");
    let reader_hash = run(&["hash-token"], &[], READER).success().stdout.trim().to_owned();
    run(&["hash-token"], &[], "too short\n").failure(1).stderr_has("one line of letters");

    let api = free_port();
    let management = format!(
        "  tls: {{cert-file: {}, key-file: {}}}\n  tokens:\n    - {{name: ops, scope: admin, hash: '{admin_hash}'}}\n    \
         - {{name: dashboards, scope: read, hash: '{reader_hash}'}}\n",
        cert.display(),
        key.display()
    );
    let d = tls_daemon(dir, api, &management);
    let socket = format!("https://127.0.0.1:{api}");
    let ca_arg = ca_file.to_str().unwrap();
    let get = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["-s", &socket, "--cacert", ca_arg];
        args.extend_from_slice(extra);
        args.extend(["config", "get", "-p", "/workers"]);
        run(&args, env, "")
    };
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || get(&["--token", ADMIN], &[]).code == 0),
        "{:?}\n{}",
        get(&["--token", ADMIN], &[]),
        d.log()
    );
    assert_eq!(get(&["--token", ADMIN], &[]).success().stdout.trim(), "1");
    get(&[], &[("KRES_API_TOKEN", READER)]).success();
    let token_file = d.dir.join("token");
    std::fs::write(&token_file, format!("{READER}\n")).unwrap();
    get(&["--token-file", token_file.to_str().unwrap()], &[]).success();

    // 401 and 403, with what to do.
    get(&[], &[]).failure(1).stderr_has("status: 401").stderr_has("a token is required");
    get(&["--token", "not-the-right-secret-000"], &[]).failure(1).stderr_has("status: 401").stderr_has("not valid");
    let set = |token: &str| {
        run(
            &[
                "-s",
                &socket,
                "--cacert",
                ca_arg,
                "--token",
                token,
                "config",
                "set",
                "-p",
                "/management/health-hold",
                "1s",
            ],
            &[],
            "",
        )
    };
    set(READER).failure(1).stderr_has("status: 403").stderr_has("'read' scope");
    set(ADMIN).success();
    assert!(d.log().contains("PUT /v1/config/management/health-hold by token 'ops'"), "{}", d.log());

    // TLS failures, each named.
    get(&["--token", ADMIN], &[]).success();
    let untrusted = run(&["-s", &socket, "--cacert", other_ca.to_str().unwrap(), "--token", ADMIN, "pids"], &[], "");
    untrusted.failure(1).stderr_has("TLS with the management API failed").stderr_has("not trusted");
    let system = run(&["-s", &socket, "--token", ADMIN, "pids"], &[], "");
    system.failure(1).stderr_has("not trusted").stderr_has("--cacert");
    let mismatch =
        run(&["-s", &format!("https://localhost:{api}"), "--cacert", ca_arg, "--token", ADMIN, "pids"], &[], "");
    mismatch.failure(1).stderr_has("name mismatch").stderr_has("'localhost'");

    // -c finds https:// from /management/tls.
    let by_config =
        run(&["-c", d.config_file().to_str().unwrap(), "--cacert", ca_arg, "--token", ADMIN, "pids"], &[], "");
    by_config.success();

    let log = d.log();
    for secret in [ADMIN, READER] {
        assert!(!log.contains(secret), "the secret is in the log:\n{log}");
    }
}

/// Mutual TLS: `--cert/--key` from the client CA work; none, or a certificate of another CA, are refused with a
/// message that says so.
#[test]
fn mutual_tls() {
    let dir = TempDir::new("kresctl-mtls");
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let clients_file = clients.write(dir.path(), "clients.pem");
    let (cert, key) = ca.issue(dir.path(), "server", &["127.0.0.1"], false);
    let (good_cert, good_key) = clients.issue(dir.path(), "client", &["ops.example"], true);
    let (bad_cert, bad_key) = Ca::new("another CA").issue(dir.path(), "stranger", &["ops.example"], true);
    let api = free_port();
    let management = format!(
        "  tls: {{cert-file: {}, key-file: {}, client-ca-file: {}}}\n",
        cert.display(),
        key.display(),
        clients_file.display()
    );
    let d = tls_daemon(dir, api, &management);
    let socket = format!("https://127.0.0.1:{api}");
    let pids = |cert: Option<(&Path, &Path)>| {
        let mut args = vec!["-s", &socket, "--cacert", ca_file.to_str().unwrap()];
        if let Some((cert, key)) = cert {
            args.extend(["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
        }
        args.extend(["pids", "kresd"]);
        run(&args, &[], "")
    };
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || pids(Some((&good_cert, &good_key))).code
            == 0),
        "{:?}\n{}",
        pids(Some((&good_cert, &good_key))),
        d.log()
    );
    assert_eq!(pids(Some((&good_cert, &good_key))).success().stdout.lines().count(), 1);
    pids(None).failure(1).stderr_has("requires a client certificate").stderr_has("--cert");
    pids(Some((&bad_cert, &bad_key))).failure(1).stderr_has("refused the client certificate");
    // --cert without --key is a usage error.
    run(&["-s", &socket, "--cert", good_cert.to_str().unwrap(), "pids"], &[], "").failure(2);
}
