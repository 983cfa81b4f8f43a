//! `kresctl migrate`: old configurations become ones `validate` accepts (what the reference's CI checks).

use kres_test_support::TempDir;

use crate::support::{example, kresctl, parse, valid_examples};

#[test]
fn migrated_old_format_examples_validate() {
    let dir = TempDir::new("migrate");
    for name in ["config.old-format.yaml", "config.old-format-disabled.yaml"] {
        let input = example(name);
        // To stdout: the document only, the report on stderr.
        let run = kresctl(["migrate".as_ref(), input.as_os_str()]).success();
        assert!(run.stderr.lines().any(|l| l.starts_with("added /")), "{}", run.stderr);
        let printed = dir.write(format!("printed-{name}"), &run.stdout);
        kresctl(["validate".as_ref(), printed.as_os_str()]).success();

        // To a file: the same document, nothing on stdout.
        let output = dir.join(format!("out-{name}"));
        let run = kresctl(["migrate".as_ref(), input.as_os_str(), output.as_os_str()]).success();
        assert_eq!(run.stdout, "");
        assert_eq!(std::fs::read_to_string(&output).unwrap(), std::fs::read_to_string(&printed).unwrap());
        kresctl(["validate".as_ref(), output.as_os_str()]).success();
        kresctl(["convert".as_ref(), output.as_os_str()]).success();

        // JSON output: the same data.
        let json = kresctl(["migrate".as_ref(), "--json".as_ref(), input.as_os_str()]).success().stdout;
        let json: serde_json::Value = serde_json::from_str(&json).expect("--json output is JSON");
        assert_eq!(json, parse(&std::fs::read_to_string(&printed).unwrap()));
        let json_file = dir.write(format!("{name}.json"), json.to_string());
        kresctl(["validate".as_ref(), json_file.as_os_str()]).success();
    }
}

#[test]
fn report_lists_removed_and_added_keys_in_order() {
    let run = kresctl(["migrate".as_ref(), example("config.old-format.yaml").as_os_str()]).success();
    let report: Vec<&str> =
        run.stderr.lines().filter(|l| l.starts_with("removed ") || l.starts_with("added ")).collect();
    assert_eq!(report.first(), Some(&"removed /dnssec/refresh-time"));
    assert_eq!(report.last(), Some(&"added /rate-limiting/enable"));
    for line in ["removed /webmgmt", "removed /max-workers", "removed /defer/enabled", "added /defer/enable"] {
        assert!(report.contains(&line), "{line} missing:\n{}", run.stderr);
    }
    let migrated = parse(&run.stdout);
    assert_eq!(migrated["dns64"], serde_json::json!({"enable": true, "reverse-ttl": "1h"}));
    assert_eq!(migrated["monitoring"]["metrics"], "lazy");
    assert!(migrated.get("webmgmt").is_none() && migrated.get("max-workers").is_none());
}

#[test]
fn current_configurations_keep_their_data() {
    // Files already in the current format come out with the same data, anchors resolved.
    for file in valid_examples() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let run = kresctl(["migrate".as_ref(), file.as_os_str()]).success();
        let original = parse(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(parse(&run.stdout), original, "{name}:\n{}", run.stdout);
    }
}

#[test]
fn bad_inputs_fail() {
    let dir = TempDir::new("migrate-bad");
    let missing = dir.join("missing.yaml");
    kresctl(["migrate".as_ref(), missing.as_os_str()]).failure(1).stderr_has(&missing.display().to_string());

    let broken = dir.write("broken.yaml", "a: 1\nb: [1, 2\n");
    let run = kresctl(["migrate".as_ref(), broken.as_os_str()]).failure(1);
    run.stderr_has(&format!("{}:", broken.display()));
    assert_eq!(run.stdout, "");

    let list = dir.write("list.yaml", "- 1\n");
    kresctl(["migrate".as_ref(), list.as_os_str()]).failure(1).stderr_has("mapping");
}
