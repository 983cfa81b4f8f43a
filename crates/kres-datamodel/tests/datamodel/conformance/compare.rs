//! Comparing expected and actual values, and JSON pointers over `serde_json` values and document nodes.

use kres_datamodel::node::{Node, Value as NodeValue};
use serde_json::Value;

/// The reference tokens of an RFC 6901 pointer (`""` is the root).
pub fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(|| format!("pointer '{pointer}' does not start with '/'"))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

/// The value at `pointer`, if there is one.
pub fn lookup<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    value.pointer(pointer)
}

/// Puts `value` into `doc` at `pointer` (replacing what is there; a list index equal to the length, or `-`,
/// appends). The parent must exist.
pub fn splice(doc: &mut Node, pointer: &str, value: Node) -> Result<(), String> {
    let tokens = tokens(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let mut at = doc;
    for token in parents {
        at = match &mut at.value {
            NodeValue::Map(entries) => match entries.iter_mut().find(|(k, _)| k == token) {
                Some((_, v)) => v,
                None => return Err(format!("embed pointer {pointer}: no key '{token}' in the template")),
            },
            NodeValue::List(items) => {
                let i: usize = token.parse().map_err(|_| format!("embed pointer {pointer}: bad index '{token}'"))?;
                items.get_mut(i).ok_or_else(|| format!("embed pointer {pointer}: no index {i} in the template"))?
            }
            _ => return Err(format!("embed pointer {pointer}: '{token}' descends into a scalar")),
        };
    }
    match &mut at.value {
        NodeValue::Map(entries) => match entries.iter_mut().find(|(k, _)| k == last) {
            Some((_, v)) => *v = value,
            None => entries.push((last.clone(), value)),
        },
        NodeValue::List(items) => {
            let i = if last == "-" {
                items.len()
            } else {
                last.parse().map_err(|_| format!("embed pointer {pointer}: bad index '{last}'"))?
            };
            match i.cmp(&items.len()) {
                std::cmp::Ordering::Less => items[i] = value,
                std::cmp::Ordering::Equal => items.push(value),
                std::cmp::Ordering::Greater => return Err(format!("embed pointer {pointer}: index {i} out of range")),
            }
        }
        _ => return Err(format!("embed pointer {pointer}: the parent of '{last}' is a scalar")),
    }
    Ok(())
}

/// Does `got` match `expected`? Mappings in `expected` are compared as subsets (keys the rule does not mention
/// are ignored; an expected `null` also matches a missing key), lists item by item with equal length, numbers by
/// value (`2` equals `2.0`), everything else exactly. Returns where they differ.
pub fn matches(expected: &Value, got: Option<&Value>, at: &str) -> Result<(), String> {
    match (expected, got) {
        (Value::Null, None | Some(Value::Null)) => Ok(()),
        (_, None) => Err(format!("{}: missing, expected {expected}", show(at))),
        (Value::Object(want), Some(Value::Object(have))) => {
            for (k, v) in want {
                matches(v, have.get(k), &format!("{at}/{k}"))?;
            }
            Ok(())
        }
        (Value::Array(want), Some(Value::Array(have))) => {
            if want.len() != have.len() {
                return Err(format!(
                    "{}: {} items {}, expected {} items {expected}",
                    show(at),
                    have.len(),
                    json(have),
                    want.len()
                ));
            }
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                matches(w, Some(h), &format!("{at}/{i}"))?;
            }
            Ok(())
        }
        (Value::Number(w), Some(Value::Number(h))) if numbers_equal(w, h) => Ok(()),
        (w, Some(h)) if w == h => Ok(()),
        (_, Some(h)) => Err(format!("{}: got {h}, expected {expected}", show(at))),
    }
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

fn show(at: &str) -> &str {
    if at.is_empty() { "(root)" } else { at }
}

fn json(items: &[Value]) -> String {
    Value::Array(items.to_vec()).to_string()
}

/// Is `path` the expected error location or below it (`""` is the root, which contains every path)?
pub fn path_within(path: &str, expected: &str) -> bool {
    expected.is_empty() || path == expected || path.strip_prefix(expected).is_some_and(|rest| rest.starts_with('/'))
}

/// Calls `report` for every place where `a` and `b` differ (exact comparison, numbers by value).
pub fn differences(at: &str, a: &Value, b: &Value, report: &mut dyn FnMut(&str, &Value, &Value)) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => differences(&format!("{at}/{k}"), v, w, report),
                    None => report(&format!("{at}/{k}"), v, &Value::Null),
                }
            }
            for (k, w) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                report(&format!("{at}/{k}"), &Value::Null, w);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(&format!("{at}/{i}"), v, w, report);
            }
        }
        (Value::Number(x), Value::Number(y)) if numbers_equal(x, y) => {}
        _ if a == b => {}
        _ => report(at, a, b),
    }
}
