//! Conformance of the configuration datamodel with the shared, language-neutral case files
//! (`shared/reference/conformance/*.yaml`, format in the README.md there), the example configurations
//! (`shared/reference/examples/`) and the reference JSON Schema.
//!
//! Every case of every file runs; a category test fails with all of its failing cases listed at once (id, what
//! was expected, what the datamodel did, every error with its path). There is no list of tolerated failures.
//!
//! The shared directory is `$KRES_SHARED_DIR`, else `shared/` next to the checkout.

mod compare;
mod data;
mod jsonschema;
mod runner;
mod schema;
mod typed;

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

/// Every example configuration: `config.example.*` and `config.test-*` validate, the old-format
/// `config.migrate-test*` files are rejected.
#[test]
fn example_files() {
    let mut failures = Vec::new();
    let examples = data::example_configs();
    for (path, expect_valid) in &examples {
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
    assert!(examples.len() >= 10, "only {} example files found", examples.len());
    assert!(failures.is_empty(), "{} example files failed:\n{}", failures.len(), failures.join("\n"));
}
