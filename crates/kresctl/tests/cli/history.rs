//! `kresctl history`, `rollback`, `config diff`, `--if-match` and `--watch` against a real manager and kresd.

use serde_json::{Value, json};

use crate::daemon::{DaemonExt, start_daemon};
use crate::support::Run;

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

#[test]
fn history_rollback_diff_and_watch() {
    let d = start_daemon(1);

    // --watch on a worker change: the steps as plain lines on stderr (not a terminal), the outcome on stdout.
    let run = d.kresctl(["config", "set", "--watch", "-p", "/lua", r#"{"script": "-- two"}"#]).success();
    let steps: Vec<&str> = run.stderr.lines().collect();
    let at = |kind: &str| {
        steps
            .iter()
            .position(|l| l.starts_with(&format!("generation 2: {kind}")))
            .unwrap_or_else(|| panic!("no {kind} step:\n{}", run.stderr))
    };
    assert!(at("started") < at("validated") && at("validated") < at("canary-ready"), "{}", run.stderr);
    assert!(at("canary-ready") < at("worker-replaced") && at("worker-replaced") < at("done"), "{}", run.stderr);
    assert!(steps[at("done")].contains("done: applied in "), "{}", run.stderr);
    assert_eq!(json_of(&run)["generation"], 2, "{}", run.stdout);

    // --if-match: a stale ETag changes nothing (412), the current one applies.
    let stale =
        json_of(&d.kresctl(["history", "--json"]).success())["generations"][1]["etag"].as_str().unwrap().to_owned();
    let run = d.kresctl(["config", "set", "--if-match", &stale, "-p", "/workers", "2"]);
    run.failure(1).stderr_has("status: 412");
    let diff = json_of(&d.kresctl(["config", "diff", "1", "--json"]).success());
    let running = diff["from"]["etag"].as_str().unwrap().to_owned();
    assert_eq!(diff["to"]["generation"], 1, "{diff}");
    assert_eq!(diff["changes"], json!([{"op": "remove", "path": "/lua", "old": {"script": "-- two"}}]), "{diff}");

    // config diff FILE: the JSON-pointer changes, then the unified YAML diff; relative to the file like validate.
    let file = d.dir.join("next.yaml");
    let mut next = std::fs::read_to_string(d.config_file()).unwrap().replace("workers: 1\n", "workers: 2\n");
    next.push_str("lua:\n  script: '-- two'\n");
    std::fs::write(&file, next).unwrap();
    let run = d.kresctl(["config".as_ref(), "diff".as_ref(), file.as_os_str()]).success();
    assert!(run.stdout.starts_with("~ /workers: 1 -> 2\n\n--- running configuration\n+++ "), "{}", run.stdout);
    assert!(run.stdout.contains("\n-workers: 1\n+workers: 2\n"), "{}", run.stdout);
    let diff = json_of(&d.kresctl(["config".as_ref(), "diff".as_ref(), file.as_os_str(), "--json".as_ref()]).success());
    assert_eq!(diff["from"]["etag"], running.as_str());
    // Its from-ETag applies exactly what was diffed.
    let run = d.kresctl(["config".as_ref(), "set".as_ref(), "--if-match".as_ref(), running.as_ref(), file.as_os_str()]);
    assert_eq!(json_of(&run.success())["generation"], 3);
    let unchanged = d.kresctl(["config".as_ref(), "diff".as_ref(), file.as_os_str()]).success();
    assert!(unchanged.stdout.starts_with("no differences"), "{}", unchanged.stdout);

    // history: a table with the generation in force marked, and the JSON page.
    let table = d.kresctl(["history"]).success().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("GEN  TIME") && lines[0].contains("CLIENT"), "{table}");
    assert!(lines[1].starts_with("*3 ") && lines[1].contains("PUT /v1/config") && lines[1].contains("uid "), "{table}");
    assert!(lines[3].starts_with(" 1 ") && lines[3].contains("files at start"), "{table}");
    let page = json_of(&d.kresctl(["history", "--json", "--limit", "2"]).success());
    assert_eq!((page["total"].as_u64(), page["generations"].as_array().unwrap().len()), (Some(3), 2), "{page}");

    // rollback without GEN: the applied generation before the one in force (2), watched.
    let run = d.kresctl(["rollback", "--watch"]).success();
    assert_eq!(json_of(&run)["generation"], 4, "{}", run.stdout);
    assert!(run.stderr.contains("generation 4: started: rollback to 2"), "{}", run.stderr);
    assert!(run.stderr.contains("generation 4: done: applied"), "{}", run.stderr);
    assert_eq!(d.kresctl(["config", "get", "-p", "/workers"]).success().stdout, "1\n");
    assert_eq!(d.kresctl(["config", "get", "--json", "-p", "/lua/script"]).success().stdout, "\"-- two\"\n");
    // ... and an explicit one.
    let run = d.kresctl(["rollback", "1"]).success();
    assert_eq!(json_of(&run)["generation"], 5, "{}", run.stdout);
    assert!(d.kresctl(["config", "diff", "1"]).success().stdout.starts_with("no differences"));
    d.kresctl(["rollback", "99"]).failure(1).stderr_has("status: 404");
}
