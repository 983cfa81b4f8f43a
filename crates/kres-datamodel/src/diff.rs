//! What changes between two configuration documents: by JSON pointer (RFC 6901), [`changes`], and as a unified
//! diff of the two documents written as YAML, [`unified`]; both in one [`Diff`] by [`diff`] (the body of
//! `GET /v1/history/{gen}/diff` and of `kresctl config diff --json`).
//!
//! [`changes`] compares objects key by key, lists of the same length element by element; anything else that
//! differs is replaced whole. [`unified`] writes each document with [`crate::yaml::to_yaml`] (keys in document
//! order) and diffs the lines (`similar`'s Myers diff, 3 lines of context, `---`/`+++` headers).

use serde_json::Value;

use crate::api::history::{Change, Diff, DiffSide};
use crate::json_pointer::escape_token;

/// The [`Diff`] from `from` to `to`, each with its side (generation, ETag). The unified diff's headers name the
/// sides by `labels`.
pub fn diff(from: (&Value, DiffSide), to: (&Value, DiffSide), labels: (&str, &str)) -> Diff {
    Diff { changes: changes(from.0, to.0), unified: unified(from.0, to.0, labels.0, labels.1), from: from.1, to: to.1 }
}

/// A unified diff (`--- from_label`, `+++ to_label`, hunks with 3 lines of context) of the two documents written
/// as YAML; empty when they are written alike.
pub fn unified(from: &Value, to: &Value, from_label: &str, to_label: &str) -> String {
    let (old, new) = (crate::yaml::to_yaml(from), crate::yaml::to_yaml(to));
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(3).header(from_label, to_label).to_string()
}

/// The changes that turn `from` into `to`, in document order (`from`'s keys first, then keys only `to` has).
pub fn changes(from: &Value, to: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(from, to, &mut String::new(), &mut out);
    out
}

fn walk(from: &Value, to: &Value, path: &mut String, out: &mut Vec<Change>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                let len = path.len();
                path.push('/');
                path.push_str(&escape_token(key));
                match b.get(key) {
                    Some(new) => walk(old, new, path, out),
                    None => out.push(change("remove", path, Some(old), None)),
                }
                path.truncate(len);
            }
            for (key, new) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                let len = path.len();
                path.push('/');
                path.push_str(&escape_token(key));
                out.push(change("add", path, None, Some(new)));
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (old, new)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                walk(old, new, path, out);
                path.truncate(len);
            }
        }
        (a, b) if a != b => out.push(change("replace", path, Some(a), Some(b))),
        _ => {}
    }
}

fn change(op: &str, path: &str, old: Option<&Value>, new: Option<&Value>) -> Change {
    Change { op: op.into(), path: path.into(), old: old.cloned(), new: new.cloned() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ops(from: Value, to: Value) -> Vec<(String, String)> {
        changes(&from, &to).into_iter().map(|c| (c.op, c.path)).collect()
    }

    #[test]
    fn pointers_of_changes() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(ops(json!({"a": 1}), json!({"a": 1})), vec![]);
        assert_eq!(
            ops(json!({"a": 1, "b": 2}), json!({"a": 2, "c": 3})),
            vec![s("replace", "/a"), s("remove", "/b"), s("add", "/c")]
        );
        assert_eq!(ops(json!({"l": [1, 2]}), json!({"l": [1, 3]})), vec![s("replace", "/l/1")]);
        assert_eq!(ops(json!({"l": [1, 2]}), json!({"l": [1]})), vec![s("replace", "/l")]);
        assert_eq!(ops(json!({"a/b": {"~": 1}}), json!({"a/b": {"~": 2}})), vec![s("replace", "/a~1b/~0")]);
        assert_eq!(ops(json!(1), json!(2)), vec![s("replace", "")]);
    }

    #[test]
    fn unified_yaml_diff() {
        let from = json!({"workers": 2, "cache": {"size-max": "100M"}, "network": {"listen": [{"port": 53}]}});
        let to = json!({"workers": 3, "cache": {"size-max": "100M"}, "network": {"listen": [{"port": 53}]}});
        let text = unified(&from, &to, "generation 1", "generation 2");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..3], ["--- generation 1", "+++ generation 2", "@@ -1,4 +1,4 @@"], "{text}");
        assert!(lines.contains(&"-workers: 2") && lines.contains(&"+workers: 3"), "{text}");
        assert!(lines.contains(&" cache:") && lines.contains(&"   size-max: 100M"), "context lines: {text}");
        assert_eq!(unified(&from, &from, "a", "b"), "");
        let d = diff(
            (&from, DiffSide { generation: Some(1), etag: "a".into() }),
            (&to, DiffSide { generation: None, etag: "b".into() }),
            ("x", "y"),
        );
        assert_eq!((d.changes.len(), d.from.etag.as_str(), d.to.generation), (1, "a", None));
        assert!(d.unified.starts_with("--- x\n+++ y\n"), "{}", d.unified);
    }

    #[test]
    fn values_are_kept() {
        let c = changes(&json!({"workers": 2}), &json!({"workers": 3}));
        assert_eq!((c[0].old.clone(), c[0].new.clone()), (Some(json!(2)), Some(json!(3))));
    }
}
