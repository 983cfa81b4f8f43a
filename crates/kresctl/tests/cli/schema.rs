//! `kresctl schema`.

use kres_test_support::TempDir;

use crate::support::kresctl;

pub(crate) mod reference;

#[test]
fn schema_is_json_with_schema_keyword_indented_by_4() {
    let run = kresctl(["schema"]).success();
    assert_eq!(run.stderr, "");
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).expect("schema output is JSON");
    assert!(schema["$schema"].as_str().is_some_and(|s| s.contains("json-schema.org")), "{}", schema["$schema"]);
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["network"].is_object());
    let second = run.stdout.lines().nth(1).unwrap();
    assert!(second.starts_with("    \"") && !second.starts_with("     "), "indent 4: {second:?}");
}

#[test]
fn schema_to_file() {
    let stdout = kresctl(["schema"]).success().stdout;
    let dir = TempDir::new("schema");
    let positional = dir.join("positional.json");
    let flag = dir.join("flag.json");
    assert_eq!(kresctl(["schema".as_ref(), positional.as_os_str()]).success().stdout, "");
    assert_eq!(kresctl(["schema".as_ref(), "-o".as_ref(), flag.as_os_str()]).success().stdout, "");
    let positional = std::fs::read_to_string(positional).unwrap();
    assert_eq!(positional, std::fs::read_to_string(flag).unwrap());
    assert_eq!(positional.trim_end(), stdout.trim_end());
}
