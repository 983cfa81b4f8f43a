//! Conformance of the configuration datamodel with the language-neutral case files
//! (`tests/data/conformance/*.yaml`, format in the README.md there) and the example configurations
//! (`etc/config/examples/`), and of our JSON Schema with python3-jsonschema.
//!
//! Every case of every file runs; a category test fails with all of its failing cases listed at once (id, what
//! was expected, what the datamodel did, every error with its path). There is no list of tolerated failures.

mod compare;
mod jsonschema;
mod runner;
mod shared;
mod typed;

use crate::data;
use runner::run_category;

#[test]
fn value_types() {
    run_category("value-types");
}

#[test]
fn generic() {
    run_category("generic");
}

#[test]
fn network() {
    run_category("network");
}

#[test]
fn forward() {
    run_category("forward");
}

#[test]
fn local_data() {
    run_category("local-data");
}

#[test]
fn management() {
    run_category("management");
}

#[test]
fn lua() {
    run_category("lua");
}

#[test]
fn whole_config() {
    run_category("whole-config");
}

/// Every example configuration in `etc/config/examples/` validates, except the old-format `config.old-format*`
/// files, which are rejected.
#[test]
fn example_files() {
    let failures = check_examples(&data::example_configs());
    assert!(failures.is_empty(), "{} example files failed:\n{}", failures.len(), failures.join("\n"));
}

/// Validates each file; a file fails when its outcome is not the expected one.
pub fn check_examples(examples: &[(std::path::PathBuf, bool)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (path, expect_valid) in examples {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let result = kres_datamodel::read_files(std::slice::from_ref(path)).and_then(|doc| {
            kres_datamodel::validate(&doc, &kres_datamodel::ValidationOptions::lenient())
                .map_err(kres_datamodel::ConfigError::Invalid)
        });
        match (result, expect_valid) {
            (Ok(_), true) | (Err(kres_datamodel::ConfigError::Invalid(_)), false) => {}
            (Ok(_), false) => failures.push(format!("{name}: expected to be rejected, but it validated")),
            (Err(e), _) => failures.push(format!("{name}: {e}")),
        }
    }
    failures
}

/// The case files are read with serde-saphyr. Our YAML 1.1 reader (the one the manager uses) must read them the
/// same way; a difference means that a scalar in the data is typed ambiguously (and a case may test something
/// else than its author meant) or that one of the two readers is wrong.
#[test]
fn case_files_read_alike_by_both_yaml_readers() {
    let mut differences = Vec::new();
    for category in runner::CATEGORIES {
        let path = data::conformance_dir().join(format!("{category}.yaml"));
        let saphyr = data::load_yaml(&path);
        let text = std::fs::read_to_string(&path).expect("readable");
        let ours = kres_datamodel::parse::parse_yaml(&text, &path.display().to_string())
            .unwrap_or_else(|e| panic!("our YAML reader rejects {}: {e}", path.display()))
            .to_json();
        compare::differences("", &saphyr, &ours, &mut |at, a, b| {
            differences.push(format!("{category}.yaml {at}: serde-saphyr reads {a}, our reader {b}"))
        });
    }
    assert!(differences.is_empty(), "the YAML readers disagree:\n{}", differences.join("\n"));
}
