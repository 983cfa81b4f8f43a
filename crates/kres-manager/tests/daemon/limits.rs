//! Hostile request bodies against a running manager: YAML alias bombs, deep nesting and huge mappings sent to
//! `PUT /v1/config` in JSON and YAML are refused with a 4xx naming the input limit, the manager's peak memory
//! (VmHWM) stays bounded, and the resolver keeps answering.

use std::fs;

use crate::api::{Api, JSON};

const YAML: (&str, &str) = ("Content-Type", "application/yaml");

/// The manager process's peak resident set size (VmHWM), in MiB.
fn manager_peak_mib(api: &Api) -> u64 {
    let pid = api.daemon.manager_pid().expect("the manager process");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("manager status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib >> 10
}

/// The classic "billion laughs" with 9 levels: about 350 bytes, 10^9 strings fully expanded.
fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..=levels {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    text
}

#[track_caller]
fn assert_refused(api: &Api, headers: &[(&str, &str)], body: &str, needle: &str) {
    let reply = api.call("PUT", "/v1/config", headers, body);
    assert!((400..500).contains(&reply.status), "status {} for {needle:?}: {}", reply.status, reply.body);
    assert!(reply.body.contains(needle), "the reply does not name {needle:?}: {}", reply.body);
    assert!(api.daemon.answers(), "the resolver stopped answering after a refused body ({needle}):\n{}", api.log());
}

#[test]
fn hostile_bodies_are_refused_and_memory_stays_bounded() {
    let api = Api::start(1);
    let etag = api.etag();
    let baseline = manager_peak_mib(&api);

    // Alias bombs, declared YAML and sniffed (no Content-Type), and deep nesting in both syntaxes.
    for levels in [7, 9] {
        let bomb = alias_bomb(levels);
        assert_refused(&api, &[YAML], &bomb, "YAML anchors and aliases expand to more than");
        assert_refused(&api, &[], &bomb, "YAML anchors and aliases expand to more than");
    }
    assert_refused(&api, &[YAML], &"[".repeat(1_000_000), "input limit exceeded");
    assert_refused(&api, &[JSON], &"[".repeat(1_000_000), "recursion limit");
    assert_refused(&api, &[], &format!("{}1{}", "[".repeat(5000), "]".repeat(5000)), "nested");
    let after_bombs = manager_peak_mib(&api);
    assert!(
        after_bombs <= baseline + 8,
        "the manager's peak RSS grew from {baseline} to {after_bombs} MiB on alias bombs and deep nesting"
    );

    // A mapping over the key limit (about 5 MiB, under the 10 MiB body limit), in JSON and YAML.
    let json = format!("{{{}}}", (0..510_000).map(|i| format!("\"k{i}\":0")).collect::<Vec<_>>().join(","));
    assert_refused(&api, &[JSON], &json, "a mapping has more than 500000 keys");
    let yaml: String = (0..510_000).map(|i| format!("k{i}: 0\n")).collect();
    assert_refused(&api, &[YAML], &yaml, "a mapping has more than 500000 keys");
    // Built up to the limit before it is refused: bounded, not small.
    let after_keys = manager_peak_mib(&api);
    assert!(after_keys <= baseline + 200, "the manager's peak RSS grew from {baseline} to {after_keys} MiB");

    // Nothing changed.
    assert_eq!(api.etag(), etag);
}
