//! The online commands against a real resolver (`knot-resolver` with real kresd workers, see [`crate::daemon`]).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kres_test_support::wait_until;
use serde_json::{Value, json};

use crate::daemon::{Daemon, DaemonExt, alive, start_daemon};
use crate::support::{Run, kresctl, parse};

/// `kresctl -s SOCKET ARGS` with `input` on stdin.
fn kresctl_with_stdin(daemon: &Daemon, args: &[&str], input: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kresctl"))
        .arg("-s")
        .arg(daemon.socket())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run kresctl");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("kresctl was killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

#[test]
fn config_get_set_delete_patch_and_processes() {
    let d = start_daemon(1);

    // get: YAML by default, JSON indented by 4 with --json; the same document either way.
    let yaml = d.kresctl(["config", "get"]).success();
    let json = d.kresctl(["config", "get", "--json"]).success();
    assert_eq!(parse(&yaml.stdout), json_of(&json));
    assert_eq!(json_of(&json)["workers"], json!(1), "{}", json.stdout);
    assert!(yaml.stdout.contains("\nworkers: 1\n"), "{}", yaml.stdout);
    assert!(json.stdout.contains("\n    \"workers\": 1"), "indent 4:\n{}", json.stdout);
    assert_eq!(d.kresctl(["config", "get", "-p", "/workers"]).success().stdout, "1\n");
    let interface = d.kresctl(["config", "get", "--json", "--path", "/network/listen/0/interface"]).success();
    assert_eq!(interface.stdout, format!("\"127.0.0.1@{}\"\n", d.port));
    assert_eq!(d.kresctl(["config", "get", "--yaml", "-p", "/dnssec"]).success().stdout, "enable: false\n");

    // ... into a file, and through -c (the socket named in the resolver's configuration file).
    let saved = d.dir.join("saved.yaml");
    let run = d.kresctl(["config".as_ref(), "get".as_ref(), saved.as_os_str()]).success();
    assert_eq!(run.stdout, format!("saved to: {}\n", saved.display()));
    assert_eq!(parse(&std::fs::read_to_string(&saved).unwrap()), json_of(&json));
    let via_config = kresctl(["-c".as_ref(), d.config_file().as_os_str(), "config".as_ref(), "get".as_ref()]);
    assert_eq!(via_config.success().stdout, yaml.stdout);

    // A missing member: the manager's 404 and its message, exit 1.
    let run = d.kresctl(["config", "get", "-p", "/no-such-section"]).failure(1);
    run.stderr_has("status: 404").stderr_has("no-such-section");
    assert_eq!(run.stdout, "");

    // A dry run of a change that restarts the workers: the canary's verdict, nothing applied.
    let before = d.pids_kresd();
    assert_eq!(before.len(), 1);
    let dry = d.kresctl(["config", "set", "--dry-run", "-p", "/logging/level", "debug"]).success();
    let outcome = json_of(&dry);
    assert_eq!((outcome["dry_run"].clone(), outcome["canary"].clone()), (json!(true), json!(true)), "{outcome}");
    assert_eq!(outcome["restarted_workers"].as_array().map(Vec::len), Some(1), "{outcome}");
    assert_eq!(outcome["impact"], json!("restart"), "the dry run says what the change takes: {outcome}");
    assert_eq!(d.pids_kresd(), before, "a dry run applies nothing");
    assert_eq!(d.kresctl(["config", "get", "-p", "/logging/level"]).success().stdout, "info\n");

    // set -p /workers 3: three kresd, as `pids kresd` lists them.
    let set = d.kresctl(["config", "set", "-p", "/workers", "3"]).success();
    let outcome = json_of(&set);
    assert_eq!((outcome["changed"].clone(), outcome["dry_run"].clone()), (json!(true), json!(false)), "{outcome}");
    let pids = d.pids_kresd();
    assert_eq!(pids.len(), 3, "{pids:?}\n{}", d.log());
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");
    assert_eq!(d.kresctl(["config", "get", "-p", "/workers"]).success().stdout, "3\n");
    assert!(d.answers());

    // pids --json: the manager's list (indent 2); pids all = kresd + gc.
    let listed = json_of(&d.kresctl(["pids", "kresd", "--json"]).success());
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|p| p["type"] == "KRESD" && p["status"] == "RUNNING"), "{listed:?}");
    let mut json_pids: Vec<u32> = listed.iter().map(|p| p["pid"].as_u64().unwrap() as u32).collect();
    json_pids.sort_unstable();
    assert_eq!(json_pids, pids);
    let all = d.kresctl(["pids"]).success();
    let gc = d.kresctl(["pids", "gc"]).success();
    assert_eq!(all.stdout.lines().count(), 3 + gc.stdout.lines().count(), "{}", all.stdout);
    assert!(d.kresctl(["pids", "all", "--json"]).success().stdout.contains("\n  {\n    \"type\""), "indent 2");

    // An invalid value: refused by the manager with the path, nothing changes.
    let run = d.kresctl(["config", "set", "-p", "/workers", "many"]).failure(1);
    run.stderr_has("status: 400").stderr_has("/workers");
    assert_eq!(d.pids_kresd(), pids, "{}", run.stderr);

    // The value from a file, and from stdin.
    let level = d.dir.write("level.json", "\"notice\"");
    d.kresctl(["config".as_ref(), "set".as_ref(), "-p".as_ref(), "/logging/level".as_ref(), level.as_os_str()])
        .success();
    assert_eq!(d.kresctl(["config", "get", "-p", "/logging/level"]).success().stdout, "notice\n");
    kresctl_with_stdin(&d, &["config", "set", "-p", "/logging/groups"], "- manager\n- cache\n").success();
    let groups = d.kresctl(["config", "get", "--json", "-p", "/logging/groups"]).success();
    assert_eq!(json_of(&groups), json!(["manager", "cache"]));

    // delete (a dry run first), then the member is gone.
    let dry = d.kresctl(["config", "delete", "--dry-run", "-p", "/logging/groups"]).success();
    assert_eq!(json_of(&dry)["dry_run"], json!(true));
    d.kresctl(["config", "get", "-p", "/logging/groups"]).success();
    d.kresctl(["config", "delete", "-p", "/logging/groups"]).success();
    d.kresctl(["config", "get", "-p", "/logging/groups"]).failure(1).stderr_has("status: 404");
    d.kresctl(["config", "delete", "-p", "/logging/groups"]).failure(1).stderr_has("status: 404");

    // patch: a JSON Patch (here YAML) from the command line; a failing `test` refuses the whole patch.
    let pids = d.pids_kresd();
    assert_eq!(pids.len(), 3, "{pids:?}");
    let refused = d.kresctl([
        "config",
        "patch",
        r#"[{"op": "replace", "path": "/workers", "value": 2}, {"op": "test", "path": "/workers", "value": 7}]"#,
    ]);
    refused.failure(1).stderr_has("status: 400");
    assert_eq!(d.pids_kresd(), pids);
    d.kresctl(["config", "patch", "- {op: replace, path: /workers, value: 2}"]).success();
    let pids = d.pids_kresd();
    assert_eq!(pids.len(), 2, "{pids:?}");
    d.kresctl(["config", "patch", r#"{"op": "remove", "path": "/workers"}"#])
        .failure(1)
        .stderr_has("list of operations");

    // debug: the GDB command line, attaching every worker; without --print-only it is executed (echo here).
    let printed = d.kresctl(["debug", "--print-only", "--gdb", "/usr/bin/gdb-nonexistent", "--", "-batch"]).success();
    let line = printed.stdout.trim_end();
    assert!(line.starts_with("/usr/bin/gdb-nonexistent -init-eval-command 'set detach-on-fork off' "), "{line}");
    for pid in &pids {
        assert!(line.contains(&format!("'attach {pid}'")), "{line}");
    }
    assert!(line.contains("add-inferior -init-eval-command 'inferior 2'") && line.ends_with(" -batch"), "{line}");
    let sudo = d.kresctl(["debug", "--print-only", "--sudo", "all"]).success();
    assert!(sudo.stdout.contains("sudo -- "), "{}", sudo.stdout);
    let executed = d.kresctl(["debug", "--gdb", "echo", "--", "-batch"]).success();
    assert_eq!(
        executed.stdout,
        format!(
            "-init-eval-command set detach-on-fork off -init-eval-command set schedule-multiple on \
             -init-eval-command attach {} -init-eval-command add-inferior -init-eval-command inferior 2 \
             -init-eval-command attach {} -init-eval-command inferior 1 -init-eval-command {} -batch\n",
            pids[0],
            pids[1],
            // echo prints gdb's `echo` command as is (with its \n escapes).
            "echo \\n\\nYou are now debugging 2 inferiors. Use 'info inferiors' to list them and 'inferior <N>' to \
             switch between them.\\n\\n"
        )
    );
    let missing = d.kresctl(["debug", "--gdb", "/nonexistent/gdb"]).failure(1);
    missing.stderr_has("/nonexistent/gdb");
    assert!(d.answers());
}

#[test]
fn reload_metrics_cache_schema_and_stop() {
    let d = start_daemon(2);

    // reload: the configuration file as it is; --force restarts every worker.
    let before = d.pids_kresd();
    let run = d.kresctl(["reload"]).success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""), "a reload prints nothing, like the reference's");
    assert_eq!(d.pids_kresd(), before, "an unchanged configuration restarts nothing");
    d.kresctl(["reload", "--force"]).success();
    let after = d.pids_kresd();
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|p| !before.contains(p)), "a forced reload restarts every worker: {before:?} → {after:?}");
    // A broken configuration file: the reload fails with the manager's reason, nothing changes.
    let good = std::fs::read_to_string(d.config_file()).unwrap();
    std::fs::write(d.config_file(), good.replace("workers: 2", "workers: many")).unwrap();
    d.kresctl(["reload"]).failure(1).stderr_has("status: 400").stderr_has("/workers");
    assert_eq!(d.pids_kresd(), after);
    std::fs::write(d.config_file(), good).unwrap();

    // metrics: JSON per worker, indented by 4; Prometheus text; into a file.
    let run = d.kresctl(["metrics"]).success();
    let metrics = json_of(&run);
    // One key per worker, and the manager's own metrics under "manager".
    let keys: Vec<&String> = metrics.as_object().unwrap().keys().collect();
    let workers: Vec<&&String> = keys.iter().filter(|k| k.as_str() != "manager").collect();
    assert_eq!((keys.len(), workers.len()), (3, 2), "{keys:?}");
    assert!(workers.iter().all(|k| k.starts_with("kresd:kresd")), "{keys:?}");
    assert!(metrics["manager"]["generation"].is_u64(), "{metrics}");
    assert!(run.stdout.starts_with("{\n    \"kresd:"), "{}", run.stdout);
    let prometheus = d.kresctl(["metrics", "--prometheus"]).success().stdout;
    assert!(prometheus.contains("# TYPE resolver_request_total counter"), "{prometheus}");
    assert!(prometheus.contains("instance_id=\"kresd:kresd"), "{prometheus}");
    let file = d.dir.join("metrics.prom");
    let run = d.kresctl(["metrics".as_ref(), "--prometheus".as_ref(), file.as_os_str()]).success();
    assert_eq!(run.stdout, "");
    assert!(std::fs::read_to_string(&file).unwrap().contains("# TYPE resolver_request_total counter"));

    // cache clear: everything, a subtree, one name and type; YAML or JSON.
    assert!(d.answers());
    let all = d.kresctl(["cache", "clear"]).success();
    assert!(parse(&all.stdout).get("count").is_some(), "{}", all.stdout);
    assert!(!all.stdout.starts_with('{') && all.stdout.contains("count: "), "YAML by default: {}", all.stdout);
    let subtree = json_of(&d.kresctl(["cache", "clear", "--json", "example.com"]).success());
    assert!(subtree["count"].is_u64(), "{subtree}");
    let exact = d.kresctl(["cache", "clear", "--exact-name", "--rr-type", "AAAA", "--json", "test.example."]);
    assert!(json_of(&exact.success())["count"].is_u64());
    let chunked = d.kresctl(["cache", "clear", "--chunk-size", "7", "--yaml", "example.org"]).success();
    assert!(parse(&chunked.stdout)["count"].is_u64(), "{}", chunked.stdout);
    d.kresctl(["cache", "clear", "--exact-name", "--rr-type", "BOGUS", "x.test"])
        .failure(1)
        .stderr_has("status: 400")
        .stderr_has("[/rr-type]");

    // schema --live is the built-in schema.
    let live = d.kresctl(["schema", "--live"]).success().stdout;
    assert_eq!(live, kresctl(["schema"]).success().stdout);
    let file = d.dir.join("schema.json");
    d.kresctl(["schema".as_ref(), "-l".as_ref(), "-o".as_ref(), file.as_os_str()]).success();
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim_end(), live.trim_end());

    // stop: the resolver exits; afterwards kresctl cannot connect and says where it looked.
    let mut d = d;
    let run = d.kresctl(["stop"]).success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""), "a stop prints nothing, like the reference's");
    let exited = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        d.process.try_wait().is_ok_and(|s| s.is_some())
    });
    assert!(exited, "knot-resolver still runs after kresctl stop:\n{}", d.log());
    assert!(after.iter().all(|p| !alive(*p)), "the workers are gone");
    let run = d.kresctl(["pids"]).failure(1);
    run.stderr_has(&d.socket().display().to_string()).stderr_has("Sourced from:  --socket argument");
}
