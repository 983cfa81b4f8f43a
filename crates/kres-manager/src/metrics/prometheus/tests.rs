use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kres_datamodel::node::Node;
use serde_json::json;

use super::*;
use crate::manager::handle::{SelfMetrics, WorkerInfo};
use crate::metrics::{leaf_count, to_json};

/// `stats.list()` of kresd 6.5 (kresd.md d), with a few non-zero values.
fn kresd_stats(scale: u64) -> Value {
    json!({
        "request": {"total4": 3 * scale, "total6": 0, "internal": 0, "udp4": 3 * scale, "tcp4": 0, "xdp4": 0, "dot4": 0,
            "doh4": 0, "doq4": 0, "udp6": 0, "tcp6": 0, "xdp6": 0, "dot6": 0, "doh6": 0, "total": 3 * scale, "tcp": 0,
            "xdp": 0, "doq": 0, "doh": 0, "dot": 0, "udp": 3 * scale, "doq6": 0},
        "query": {"dnssec": 0, "edns": scale},
        "answer": {"edns0": scale, "rd": 3 * scale, "tc": 0, "aa": scale, "nodata": 0, "ad": 0, "ra": 3 * scale, "do": 0,
            "cd": 0, "cached": scale, "total": 3 * scale, "noerror": 2 * scale, "nxdomain": scale, "servfail": 0,
            "1ms": 2 * scale, "10ms": 0, "50ms": scale, "100ms": 0, "250ms": 0, "500ms": 0, "1000ms": 0, "1500ms": 0,
            "slow": 1, "sum_ms": 45, "stale": 0}
    })
}

fn snapshot(workers: &[u32]) -> Snapshot {
    let config = kres_datamodel::validate(&Node::empty_map(), &kres_datamodel::ValidationOptions::lenient()).unwrap();
    Snapshot {
        raw: Arc::new(json!({})),
        etag: "x".into(),
        config: Arc::new(config),
        generation: 3,
        workers: workers.iter().map(|i| WorkerInfo { instance: *i, pid: 100 + i }).collect(),
        gc_pid: None,
        metrics: {
            let mut m = SelfMetrics {
                applied: 2,
                canary_failures: 1,
                rolled_back: 1,
                worker_restarts: 4,
                ..Default::default()
            };
            m.last_apply_seconds = 0.025;
            m.apply_duration.observe(0.3);
            m.apply_duration.observe(7.0);
            m
        },
    }
}

/// Sample lines by metric name (first token before `{` or space).
fn samples(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| (l.split(['{', ' ']).next().unwrap(), l.rsplit(' ').next().unwrap()))
        .collect()
}

#[test]
fn one_header_per_family_and_every_sample_typed() {
    let stats = vec![
        WorkerStats { instance: 0, stats: Some(kresd_stats(1)) },
        WorkerStats { instance: 3, stats: Some(kresd_stats(2)) },
    ];
    let text = to_prometheus(&stats, &snapshot(&[0, 3]));
    let mut types: HashMap<&str, &str> = HashMap::new();
    let mut helps = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(types.insert(name, kind).is_none(), "TYPE {name} repeated");
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(helps.insert(rest.split(' ').next().unwrap()), "HELP repeated: {line}");
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.get(f) == Some(&"histogram")))
                .unwrap_or(name);
            assert!(types.contains_key(family), "sample before its TYPE: {line}");
            assert!(line.split(' ').nth(1).unwrap().parse::<f64>().is_ok(), "bad value: {line}");
        }
    }
    assert_eq!(types["resolver_response_latency"], "histogram");
    assert_eq!(types["resolver_request_total"], "counter");
    assert_eq!(types["resolver_answer_flag_rd_total"], "counter");
    assert_eq!(types["resolver_metrics_loaded"], "gauge");
    assert_eq!(types["kres_manager_canary_failures_total"], "counter");
    assert!(text.contains("resolver_request_udp4_total{instance_id=\"kresd:kresd3\"} 6\n"), "{text}");
    assert!(text.contains("kres_manager_config_generation 3\n"));
    assert!(text.contains("kres_manager_last_apply_duration_seconds 0.025\n"));
    assert_eq!(types["kres_manager_apply_duration_seconds"], "histogram");
    for line in [
        "kres_manager_apply_duration_seconds_bucket{le=\"0.25\"} 0\n",
        "kres_manager_apply_duration_seconds_bucket{le=\"0.5\"} 1\n",
        "kres_manager_apply_duration_seconds_bucket{le=\"10\"} 2\n",
        "kres_manager_apply_duration_seconds_bucket{le=\"+Inf\"} 2\n",
        "kres_manager_apply_duration_seconds_sum 7.3\n",
        "kres_manager_apply_duration_seconds_count 2\n",
        "kres_manager_applies_total{result=\"applied\"} 2\n",
        "kres_manager_applies_total{result=\"refused\"} 1\n",
        "kres_manager_applies_total{result=\"rolled-back\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    assert!(text.contains("kres_manager_worker_restarts_total 4\n"));
    assert!(!text.contains("predict"), "no predict section, no predict families");
}

#[test]
fn latency_histogram_is_cumulative_in_seconds() {
    let stats = vec![WorkerStats { instance: 0, stats: Some(kresd_stats(1)) }];
    let text = to_prometheus(&stats, &snapshot(&[0]));
    let l = "instance_id=\"kresd:kresd0\"";
    for (le, n) in [("0.001", 2), ("0.01", 2), ("0.05", 3), ("1.5", 3), ("+Inf", 4)] {
        assert!(
            text.contains(&format!("resolver_response_latency_bucket{{{l},le=\"{le}\"}} {n}\n")),
            "le={le}:\n{text}"
        );
    }
    assert!(text.contains(&format!("resolver_response_latency_sum{{{l}}} 0.045\n")));
    assert!(text.contains(&format!("resolver_response_latency_count{{{l}}} 4\n")));
}

#[test]
fn sample_count_is_json_leaves_plus_two_per_worker() {
    let stats = vec![
        WorkerStats { instance: 0, stats: Some(kresd_stats(1)) },
        WorkerStats { instance: 1, stats: Some(kresd_stats(5)) },
    ];
    let json = to_json(&stats);
    assert_eq!(json.as_object().unwrap().keys().collect::<Vec<_>>(), ["kresd:kresd0", "kresd:kresd1"]);
    let leaves = leaf_count(&json);
    assert_eq!(leaves, 2 * 49);
    let text = to_prometheus(&stats, &snapshot(&[0, 1]));
    let resolver = samples(&text).iter().filter(|(n, _)| n.starts_with("resolver")).count();
    assert_eq!(resolver, leaves + 2 * stats.len());
}

#[test]
fn missing_workers_are_not_loaded() {
    let stats =
        vec![WorkerStats { instance: 0, stats: Some(kresd_stats(1)) }, WorkerStats { instance: 1, stats: None }];
    let text = to_prometheus(&stats, &snapshot(&[0, 1]));
    assert!(text.contains("resolver_metrics_loaded{instance_id=\"kresd:kresd0\"} 1\n"));
    assert!(text.contains("resolver_metrics_loaded{instance_id=\"kresd:kresd1\"} 0\n"));
    assert!(!text.contains("resolver_request_total{instance_id=\"kresd:kresd1\"}"));
    assert_eq!(to_json(&stats)["kresd:kresd1"], Value::Null);
    // A partial answer is not "loaded" either, but what is there is exported.
    let mut partial = kresd_stats(1);
    partial["answer"].as_object_mut().unwrap().remove("stale");
    let text = to_prometheus(&[WorkerStats { instance: 0, stats: Some(partial) }], &snapshot(&[0]));
    assert!(text.contains("resolver_metrics_loaded{instance_id=\"kresd:kresd0\"} 0\n"));
    assert!(text.contains("resolver_answer_total{instance_id=\"kresd:kresd0\"} 3\n"));
}

#[test]
fn predict_section_is_exported_when_present() {
    let mut s = kresd_stats(1);
    s["predict"] = json!({"epoch": 4, "queue": 2, "learned": 7});
    let text = to_prometheus(&[WorkerStats { instance: 0, stats: Some(s) }], &snapshot(&[0]));
    assert!(text.contains("resolver_predict_learned_total{instance_id=\"kresd:kresd0\"} 7\n"));
}

#[test]
fn values_are_formatted_for_prometheus() {
    let mut out = String::new();
    for v in [0.0, 12.0, 0.5, f64::INFINITY, f64::NAN, 1e20] {
        format_value(&mut out, v);
        out.push(' ');
    }
    assert_eq!(out, "0 12 0.5 +Inf NaN 100000000000000000000 ");
}
