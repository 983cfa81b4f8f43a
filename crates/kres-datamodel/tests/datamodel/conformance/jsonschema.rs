//! Independent check of our JSON Schema with python3-jsonschema (Draft 2020-12), which the sid root provides:
//! the schema itself is valid (`check_schema`), it accepts every valid example and every valid conformance
//! document, and it rejects the old-format `config.old-format*` examples (`etc/config/examples/`).

use std::process::Command;

use kres_datamodel::parse::parse_document;
use kres_test_support::TempDir;
use serde_json::{Value, json};

use super::runner::valid_documents;
use crate::data::example_configs;

const CHECKER: &str = r#"
import json, sys
try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
except ImportError as e:
    print(f"the Python module jsonschema is missing ({e}); install python3-jsonschema "
          "(the sid root has it: run the tests with `cargo xtask test`)")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
try:
    Draft202012Validator.check_schema(schema)
except SchemaError as e:
    print(f"check_schema: our schema is not a valid Draft 2020-12 schema: {e.message} at {list(e.path)}")
    sys.exit(2)
validator = Draft202012Validator(schema)
failed = 0
cases = json.load(open(sys.argv[2]))
for case in cases:
    errors = sorted(validator.iter_errors(case["instance"]), key=lambda e: list(e.absolute_path))
    if case["valid"] and errors:
        failed += 1
        print(f"FAIL {case['name']}: rejected by our schema:")
        for e in errors:
            where = "/" + "/".join(str(p) for p in e.absolute_path)
            print(f"    {where}: {e.message[:300]}")
    elif not case["valid"] and not errors:
        failed += 1
        print(f"FAIL {case['name']}: accepted by our schema, expected a rejection")
print(f"{len(cases) - failed} of {len(cases)} instances as expected")
sys.exit(1 if failed else 0)
"#;

#[test]
fn json_schema_checked_by_python_jsonschema() {
    let dir = TempDir::new("schema-check");
    let schema_file = dir.path().join("schema.json");
    let cases_file = dir.path().join("instances.json");
    let schema = kres_datamodel::json_schema();
    std::fs::write(&schema_file, serde_json::to_string_pretty(&schema).expect("schema serializes")).expect("write");

    let mut cases: Vec<Value> = Vec::new();
    for (path, valid) in example_configs() {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc = parse_document(&text, &name).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        cases.push(json!({"name": format!("example {name}"), "valid": valid, "instance": doc.to_json()}));
    }
    let examples = cases.len();
    for (name, instance) in valid_documents() {
        cases.push(json!({"name": format!("case {name}"), "valid": true, "instance": instance}));
    }
    assert!(
        examples >= 10 && cases.len() > examples + 100,
        "too few instances ({examples} examples, {} total)",
        cases.len()
    );
    std::fs::write(&cases_file, serde_json::to_string(&cases).expect("instances serialize")).expect("write");

    let output = Command::new("python3")
        .arg("-c")
        .arg(CHECKER)
        .arg(&schema_file)
        .arg(&cases_file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); the schema check needs python3 with python3-jsonschema (the sid root has both)")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "python3-jsonschema check failed ({}):\n{stdout}\n{stderr}",
        match output.status.code() {
            Some(3) => "module missing".to_owned(),
            Some(2) => "check_schema".to_owned(),
            Some(1) => "instances".to_owned(),
            other => format!("exit {other:?}"),
        }
    );
}
