use std::time::Duration;

use kres_test_support::{
    FixtureError, Knotd, Kresd, TempDir, Zone, free_port, kdig, kresd_accepts, offline_config, require_sid_root,
    try_kdig, wait_until,
};

/// Note: not `.test`: kresd has a built-in empty zone for `test.` (RFC 6761) that answers NXDOMAIN before any policy.
fn knot_with_example_zone() -> Knotd {
    Knotd::start(&[Zone::new("example.com", "www A 192.0.2.7\nmail A 192.0.2.25")]).unwrap_or_else(|e| panic!("{e}"))
}

/// Minimal worker config: loopback listener, 10 MB cache in the rundir, everything stubbed to `upstream`.
fn stub_config(port: u16, upstream: &str) -> String {
    offline_config(&format!(
        "net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})\n\
         cache.open(10 * MB, 'lmdb://./cache')\n\
         policy.add(policy.all(policy.STUB('{upstream}')))\n"
    ))
}

#[test]
fn kresd_becomes_ready_and_resolves_through_knotd() {
    require_sid_root();
    let knot = knot_with_example_zone();
    let port = free_port();
    let kresd = Kresd::start(&stub_config(port, &knot.addr())).unwrap_or_else(|e| panic!("{e}"));
    assert!(kresd.control_socket().exists(), "postconfig should create {}", kresd.control_socket().display());

    let a = kdig("127.0.0.1", port, "www.example.com", "A", &[]);
    assert_eq!(a.rcode, "NOERROR", "{}\nkresd log:\n{}", a.raw, kresd.stderr());
    assert_eq!(a.addresses(), ["192.0.2.7"]);
    assert!(a.has_flag("ra"), "answer comes from the resolver: {}", a.raw);
    let tcp = kdig("127.0.0.1", port, "mail.example.com", "A", &["+tcp"]);
    assert_eq!(tcp.addresses(), ["192.0.2.25"]);
    let nx = kdig("127.0.0.1", port, "nx.example.com", "A", &[]);
    assert_eq!(nx.rcode, "NXDOMAIN");
}

#[test]
fn kresd_config_error_returns_its_stderr() {
    require_sid_root();
    let port = free_port();
    let lua = offline_config(&format!("net.listen('127.0.0.1', {port})\nthis_is_not_defined()\n"));
    let err = Kresd::start(&lua).expect_err("a config calling an undefined function must fail");
    match &err {
        FixtureError::Exited { status, stderr, .. } => {
            assert_eq!(status.code(), Some(1), "{err}");
            assert!(stderr.contains("error while loading config"), "{stderr}");
            assert!(stderr.contains("attempt to call global 'this_is_not_defined'"), "{stderr}");
        }
        other => panic!("expected an exit before READY, got: {other}"),
    }
    let syntax = kresd_accepts("net.listen('127.0.0.1', 1 +)\n").expect_err("syntax error must fail");
    assert!(syntax.contains("unexpected symbol"), "{syntax}");
}

#[test]
fn two_kresd_share_one_port_and_one_cache() {
    require_sid_root();
    let knot = knot_with_example_zone();
    let port = free_port();
    let rundir = TempDir::new("shared");
    let lua = stub_config(port, &knot.addr());
    let mut first = Kresd::builder()
        .rundir(rundir.path())
        .config("kresd0.conf", &lua)
        .env("SYSTEMD_INSTANCE", "0")
        .start()
        .unwrap_or_else(|e| panic!("first: {e}"));
    let second = Kresd::builder()
        .rundir(rundir.path())
        .config("kresd1.conf", &lua)
        .env("SYSTEMD_INSTANCE", "1")
        .start()
        .unwrap_or_else(|e| panic!("second kresd on the same port (SO_REUSEPORT): {e}"));
    assert_ne!(first.pid(), second.pid());

    assert_eq!(kdig("127.0.0.1", port, "www.example.com", "A", &[]).addresses(), ["192.0.2.7"]);
    // One worker gone: the other one keeps answering on the same port.
    let status = first.stop().expect("stop the first kresd");
    assert!(status.success(), "SIGTERM should give exit 0, got {status}\n{}", first.stderr());
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            try_kdig("127.0.0.1", port, "mail.example.com", "A", &["+timeout=1", "+retry=0"])
                .is_ok_and(|a| a.addresses() == ["192.0.2.25"])
        }),
        "the second kresd does not answer after the first stopped:\n{}",
        second.stderr()
    );
}
