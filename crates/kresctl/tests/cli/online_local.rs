//! The online commands without a resolver: connection failures name the socket and where it came from, arguments
//! are checked before connecting, `completion` prints the scripts.

use std::net::TcpListener;

use kres_test_support::TempDir;

use crate::support::kresctl;

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn connection_errors_name_the_socket_and_its_source() {
    let dir = TempDir::new("kresctl-noconn");
    let socket = dir.join("kres-api.sock");
    let run = kresctl(["-s".as_ref(), socket.as_os_str(), "config".as_ref(), "get".as_ref()]).failure(1);
    run.stderr_has(&socket.display().to_string())
        .stderr_has(&format!("Sourced from:  --socket argument '{}'", socket.display()))
        .stderr_has("No such file or directory")
        .stderr_has("/v1/config");
    assert_eq!(run.stdout, "");

    let port = closed_port();
    let config = dir.write("config.yaml", format!("management:\n  interface: 127.0.0.1@{port}\n"));
    let run = kresctl(["-c".as_ref(), config.as_os_str(), "pids".as_ref()]).failure(1);
    run.stderr_has(&format!("http://127.0.0.1:{port}/processes/all"))
        .stderr_has("Connection refused")
        .stderr_has(&format!("/management/interface from '{}' config file (--config argument)", config.display()));

    let run = kresctl(["-s", &format!("http://127.0.0.1:{port}"), "reload", "--force"]).failure(1);
    run.stderr_has(&format!("http://127.0.0.1:{port}/reload/force")).stderr_has("--socket argument");

    let missing = dir.join("missing.yaml");
    let run = kresctl(["-c".as_ref(), missing.as_os_str(), "stop".as_ref()]).failure(1);
    run.stderr_has("missing.yaml").stderr_has("doesn't exist");

    // Something that is not an HTTP server.
    let not_http = dir.write("not-a-socket", "");
    let run = kresctl(["-s".as_ref(), not_http.as_os_str(), "metrics".as_ref()]).failure(1);
    run.stderr_has("cannot connect").stderr_has("not-a-socket");
}

#[test]
fn arguments_are_checked_before_connecting() {
    let nowhere = "/nonexistent/kres-api.sock";
    for (args, needle) in [
        (&["config", "get", "-p", "workers"][..], "'/workers'"),
        (&["config", "set", "-p", "/workers", ""], "no configuration given"),
        (&["config", "set", "-p", "/workers", "a: [b"], "cannot parse"),
        (&["config", "patch", r#"{"op": "remove", "path": "/workers"}"#], "list of operations"),
        (&["cache", "clear", "--rr-type", "AAAA", "example.com"], "only supported with 'exact-name: true'"),
        (&["cache", "clear", "a..b"], "[/name]"),
    ] {
        let mut all = vec!["-s", nowhere];
        all.extend_from_slice(args);
        let run = kresctl(&all).failure(1);
        run.stderr_has(needle);
        assert!(!run.stderr.contains("cannot connect"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn usage_errors_of_online_commands_exit_2() {
    for args in [
        &["pids", "bogus"][..],
        &["debug", "policy-loader"],
        &["cache", "clear", "--chunk-size", "0"],
        &["cache", "clear", "--json", "--yaml"],
        &["config", "get", "--json", "--yaml"],
        &["config", "frobnicate"],
        &["completion", "--bash", "--zsh"],
        &["reload", "now"],
        &["stop", "now"],
    ] {
        let run = kresctl(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error:"), "{args:?}: {}", run.stderr);
    }
    // A command group without its operation prints its help.
    for group in ["config", "cache"] {
        let run = kresctl([group]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("Commands:"), "{}", run.stderr);
    }
}

#[test]
fn help_lists_the_online_commands() {
    let run = kresctl(["--help"]).success();
    for command in ["config", "reload", "stop", "metrics", "cache", "pids", "debug", "completion"] {
        assert!(run.stdout.contains(&format!("\n  {command} ")), "{command}:\n{}", run.stdout);
    }
}

#[test]
fn completion_scripts() {
    let bash = kresctl(["completion"]).success().stdout;
    assert_eq!(bash, kresctl(["completion", "--bash"]).success().stdout, "bash is the default");
    assert!(bash.contains("_kresctl()") && bash.contains("complete -F _kresctl"), "{bash}");
    let zsh = kresctl(["completion", "--zsh"]).success().stdout;
    assert!(zsh.starts_with("#compdef kresctl"), "{zsh}");
    let fish = kresctl(["completion", "--fish"]).success().stdout;
    assert!(fish.contains("complete -c kresctl"), "{fish}");
    for script in [&bash, &zsh, &fish] {
        for word in ["config", "cache", "clear", "exact-name", "print-only", "dry-run", "prometheus"] {
            assert!(script.contains(word), "{word} is not in\n{script}");
        }
    }
}

#[test]
fn without_socket_or_config_the_defaults_are_used() {
    // Skip where a manager really listens on the default socket (e.g. `cargo xtask run` in the sid root).
    if std::path::Path::new(kresctl::socket::DEFAULT_API_SOCKET).exists() {
        eprintln!("{} exists; skipping", kresctl::socket::DEFAULT_API_SOCKET);
        return;
    }
    let run = kresctl(["pids"]).failure(1);
    // The default configuration file names the socket, or (absent, or without /management) the default socket.
    assert!(
        run.stderr.contains("Sourced from:  default value '/run/knot-resolver/kres-api.sock'")
            || run.stderr.contains("config file (default config file)"),
        "{}",
        run.stderr
    );
}
