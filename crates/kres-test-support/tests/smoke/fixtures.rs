use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kres_test_support::{
    ChildGuard, KDIG, KNOTD, KRESD, Knotd, PROMTOOL, TempDir, Zone, free_port, kdig, require_sid_root, wait_until,
};

#[test]
fn sid_root_has_the_daemons() {
    require_sid_root();
    for bin in [KRESD, KNOTD, KDIG, PROMTOOL] {
        assert!(Path::new(bin).exists(), "{bin} is missing in the sid root");
    }
    let out = Command::new(KRESD).arg("--version").output().expect("run kresd --version");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.contains("Knot Resolver, version 6."), "unexpected kresd version: {version}");
}

#[test]
fn free_ports_are_distinct_and_bindable() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let unique: HashSet<_> = ports.iter().collect();
    assert_eq!(unique.len(), ports.len(), "duplicate ports: {ports:?}");
    for port in ports {
        std::net::UdpSocket::bind(("127.0.0.1", port)).expect("UDP bind");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("TCP bind");
    }
}

#[test]
fn temp_dir_is_removed_on_drop() {
    let dir = TempDir::new("smoke");
    let file = dir.write("a/b.txt", "x");
    assert!(file.exists());
    let path = dir.path().to_path_buf();
    drop(dir);
    assert!(!path.exists(), "{} still exists", path.display());
}

#[test]
fn child_guard_kills_on_drop() {
    let guard = ChildGuard::spawn(Command::new("sleep").arg("600")).expect("spawn sleep");
    let proc_dir = format!("/proc/{}", guard.id());
    assert!(Path::new(&proc_dir).exists());
    drop(guard);
    // Killed and reaped: the PID is gone (not even a zombie).
    assert!(wait_until(Duration::from_secs(5), Duration::from_millis(10), || !Path::new(&proc_dir).exists()));
}

#[test]
fn knotd_serves_its_zone() {
    require_sid_root();
    let knot =
        Knotd::start(&[Zone::new("example.test", "www A 192.0.2.1\nwww AAAA 2001:db8::1\ntxt TXT \"hi there\"")])
            .unwrap_or_else(|e| panic!("{e}"));
    let a = kdig("127.0.0.1", knot.port(), "www.example.test", "A", &[]);
    assert_eq!(a.rcode, "NOERROR", "{}", a.raw);
    assert!(a.has_flag("aa"));
    assert_eq!(a.addresses(), ["192.0.2.1"]);
    let txt = kdig("127.0.0.1", knot.port(), "txt.example.test", "TXT", &["+tcp"]);
    assert_eq!(txt.rdata("TXT"), ["\"hi there\""]);
    let nx = kdig("127.0.0.1", knot.port(), "nope.example.test", "A", &[]);
    assert_eq!(nx.rcode, "NXDOMAIN");
    assert_eq!(nx.authority[0].rtype, "SOA");
}
