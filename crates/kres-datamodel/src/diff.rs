//! What changes between two configuration documents, by JSON pointer (RFC 6901): [`changes`]. Objects are
//! compared key by key; lists of the same length element by element; anything else that differs is replaced
//! whole.

use serde_json::Value;

use crate::api::history::Change;
use crate::json_pointer::escape_token;

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
    fn values_are_kept() {
        let c = changes(&json!({"workers": 2}), &json!({"workers": 3}));
        assert_eq!((c[0].old.clone(), c[0].new.clone()), (Some(json!(2)), Some(json!(3))));
    }
}
