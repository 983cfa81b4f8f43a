//! Conformance of JSON Pointer (RFC 6901) and JSON Patch (RFC 6902) against the case files
//! `json-pointer.yaml` and `json-patch.yaml` (format: `tests/data/conformance/README.md`).

mod properties;

use kres_datamodel::json_patch::{apply_patch, json_equal, parse_json_strict};
use kres_datamodel::json_pointer::{JsonPointer, Resolved};
use serde_json::Value;

use crate::data::{Case, Category};

#[test]
fn json_pointer_conformance() {
    let category = Category::load("json-pointer");
    let cases = category.cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_pointer(&c.group["document"], c.case).err().map(|e| format!("{}: {e}", c.id())))
        .collect();
    report(&category, cases.len(), &failures);
}

fn check_pointer(doc: &Value, case: &Value) -> Result<(), String> {
    let text = case["pointer"].as_str().ok_or("the case has no string 'pointer'")?;
    let expected = case["result"].as_str().ok_or("the case has no string 'result'")?;
    let parsed = JsonPointer::parse(text);
    if let Some(tokens) = case.get("tokens") {
        let pointer = parsed.as_ref().map_err(|e| format!("expected tokens {tokens}, but parsing failed: {e}"))?;
        if Value::from(pointer.tokens().to_vec()) != *tokens {
            return Err(format!("tokens {:?}, expected {tokens}", pointer.tokens()));
        }
        if pointer.to_string() != text {
            return Err(format!("displays as '{pointer}', not as the text it was parsed from"));
        }
    }
    let resolved = parsed.as_ref().map_err(Clone::clone).and_then(|p| p.resolve(doc));
    let got = parsed.as_ref().map_err(Clone::clone).and_then(|p| p.get(doc));
    match (expected, resolved, got) {
        ("value", Ok(Resolved::Value(value)), Ok(also)) => {
            let want = case.get("value").ok_or("result 'value' without a 'value' member")?;
            if value != want || also != want {
                return Err(format!("resolved to {value}, expected {want}"));
            }
        }
        ("absent", Ok(Resolved::Absent), Err(_)) => {}
        ("error", Err(e), Err(_)) => {
            if e.to_string().is_empty() {
                return Err("empty error message".to_owned());
            }
        }
        ("value" | "absent" | "error", resolved, got) => {
            return Err(format!("expected {expected}, got resolve: {resolved:?}, get: {got:?}"));
        }
        (other, _, _) => return Err(format!("unknown result kind '{other}'")),
    }
    Ok(())
}

#[test]
fn json_patch_conformance() {
    let category = Category::load("json-patch");
    let cases = category.cases();
    let failures: Vec<String> =
        cases.iter().filter_map(|c| check_patch(c).err().map(|e| format!("{}: {e}", c.id()))).collect();
    report(&category, cases.len(), &failures);
}

fn check_patch(c: &Case) -> Result<(), String> {
    let (group, case) = (c.group, c.case);
    let doc = case.get("document").or_else(|| group.get("document")).ok_or("the case has no 'document'")?;
    let valid = case["valid"].as_bool().ok_or("the case has no boolean 'valid'")?;
    let before = doc.clone();
    let outcome = match (case.get("patch"), case.get("patch_text")) {
        (Some(patch), None) => apply_patch(doc, patch).map_err(|e| e.to_string()),
        (None, Some(Value::String(text))) => {
            parse_json_strict(text).and_then(|patch| apply_patch(doc, &patch).map_err(|e| e.to_string()))
        }
        _ => {
            return Err("the case needs exactly one of 'patch' and a string 'patch_text'".to_owned());
        }
    };
    if *doc != before {
        return Err("the input document was modified".to_owned());
    }
    match (valid, outcome) {
        (true, Ok(result)) => {
            let expected = case.get("expected").ok_or("a valid case without 'expected'")?;
            if !json_equal(&result, expected) {
                return Err(format!("result {result}, expected {expected}"));
            }
        }
        (true, Err(e)) => return Err(format!("expected the patch to apply, but: {e}")),
        (false, Ok(result)) => {
            return Err(format!("expected a rejection, but the patch applied, giving {result}"));
        }
        (false, Err(e)) => {
            if e.is_empty() {
                return Err("empty error message".to_owned());
            }
        }
    }
    Ok(())
}

/// Fails with every collected failure at once.
fn report(category: &Category, total: usize, failures: &[String]) {
    assert!(total > 0, "no cases in {}", category.file);
    assert!(
        failures.is_empty(),
        "{} of {total} cases in {} failed:\n{}",
        failures.len(),
        category.file,
        failures.join("\n")
    );
}
