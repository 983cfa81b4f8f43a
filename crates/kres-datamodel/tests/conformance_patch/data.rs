//! Locating and loading the conformance case files (`tests/data/conformance/`).

use std::path::PathBuf;

use serde_json::Value;

/// The conformance case files, in this repository (`tests/data/conformance/`).
pub fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/conformance"))
}

/// Loads one data file as JSON and checks its header.
pub fn load(file: &str, category: &str) -> Value {
    let path = conformance_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {} ({e})", path.display()));
    let data: Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    assert_eq!(data["format"], "kres-conformance/1", "{}: unexpected format", path.display());
    assert_eq!(data["category"], category, "{}: unexpected category", path.display());
    data
}

/// Every case of every group, with the group it belongs to.
pub fn cases(data: &Value) -> Vec<(&Value, &Value)> {
    let groups = data["groups"].as_array().expect("'groups' must be a list");
    let mut all = Vec::new();
    for group in groups {
        for case in group["cases"].as_array().expect("'cases' must be a list") {
            all.push((group, case));
        }
    }
    if let Some(count) = data["case_count"].as_u64() {
        assert_eq!(
            all.len() as u64,
            count,
            "the file declares case_count {count}, but {} cases were loaded",
            all.len()
        );
    }
    assert!(!all.is_empty(), "no cases loaded");
    all
}

/// The case id, for failure reports.
pub fn id(case: &Value) -> String {
    case["id"].as_str().unwrap_or("<case without id>").to_owned()
}

/// Fails with every collected failure at once.
pub fn report(file: &str, total: usize, failures: &[String]) {
    assert!(failures.is_empty(), "{} of {total} cases in {file} failed:\n{}", failures.len(), failures.join("\n"));
}
