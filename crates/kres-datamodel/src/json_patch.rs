//! RFC 6902 JSON Patch, and the single-step edits behind `PUT` and `DELETE` on `/v1/config{pointer}`.
//!
//! Everything works on a copy: on error the caller's document is untouched, so a patch is all-or-nothing.
//! Unlike the Python reference, list indices, `-`, `move`/`copy` with `from`, non-string values and `null`
//! members all follow the RFCs.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::json_pointer::{JsonPointer, ListSlot, PointerError, kind_of};
use crate::parse::{Budget, Limits};

/// One parsed RFC 6902 operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Add { path: JsonPointer, value: Value },
    Remove { path: JsonPointer },
    Replace { path: JsonPointer, value: Value },
    Move { from: JsonPointer, path: JsonPointer },
    Copy { from: JsonPointer, path: JsonPointer },
    Test { path: JsonPointer, value: Value },
}

/// Why one operation of a patch failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("the operation must be an object, not {0}")]
    NotAnObject(&'static str),
    #[error("the operation has no '{0}' member")]
    MissingMember(&'static str),
    #[error("the '{member}' member must be a string, not {kind}")]
    NotAString { member: &'static str, kind: &'static str },
    #[error("unknown op '{0}': expected add, remove, replace, move, copy or test")]
    UnknownOp(String),
    /// The `path` pointer is malformed, or its target is unusable for this op.
    #[error("{0}")]
    Path(PointerError),
    /// The `from` pointer is malformed, or its target does not exist.
    #[error("in 'from': {0}")]
    From(PointerError),
    #[error("cannot move {} into {path}, which is inside it", shown(from))]
    MoveIntoChild { from: String, path: String },
    #[error("cannot remove the whole document")]
    RemoveRoot,
    #[error("test failed: the value at {} is {actual}, not {expected}", shown(path))]
    TestFailed { path: String, actual: String, expected: String },
}

/// Why a patch could not be applied. The document is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error("the patch is not valid JSON: {0}")]
    Syntax(String),
    #[error("a JSON patch must be a list of operations, not {0}")]
    NotAList(&'static str),
    /// Operation number `step` (0-based) failed; `op` and `path` are the raw members when they are strings.
    #[error("step {step}{}: {error}", label(op.as_deref(), path.as_deref()))]
    Step { step: usize, op: Option<String>, path: Option<String>, error: Box<StepError> },
}

impl PatchError {
    /// The 0-based index of the failed operation, if an operation failed.
    pub fn step(&self) -> Option<usize> {
        match self {
            Self::Step { step, .. } => Some(*step),
            Self::Syntax(_) | Self::NotAList(_) => None,
        }
    }
}

/// A pointer for messages: `""` for the whole document, else as is.
fn shown(pointer: &str) -> &str {
    if pointer.is_empty() { "\"\"" } else { pointer }
}

fn label(op: Option<&str>, path: Option<&str>) -> String {
    match (op, path) {
        (Some(op), Some(path)) => format!(" ({op} {})", shown(path)),
        (Some(op), None) => format!(" ({op})"),
        (None, Some(path)) => format!(" ({})", shown(path)),
        (None, None) => String::new(),
    }
}

/// Compact JSON of a value for messages, cut to a readable length.
fn summarize(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

impl Operation {
    /// The `op` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Add { .. } => "add",
            Self::Remove { .. } => "remove",
            Self::Replace { .. } => "replace",
            Self::Move { .. } => "move",
            Self::Copy { .. } => "copy",
            Self::Test { .. } => "test",
        }
    }

    /// The `path` member.
    pub fn path(&self) -> &JsonPointer {
        match self {
            Self::Add { path, .. }
            | Self::Remove { path }
            | Self::Replace { path, .. }
            | Self::Move { path, .. }
            | Self::Copy { path, .. }
            | Self::Test { path, .. } => path,
        }
    }

    /// Parses one operation object. Members other than `op`, `path`, `from` and `value` are ignored (RFC 6902
    /// section 4).
    pub fn from_value(operation: &Value) -> Result<Self, StepError> {
        let Value::Object(members) = operation else {
            return Err(StepError::NotAnObject(kind_of(operation)));
        };
        let op = string_member(members, "op")?;
        let path = || pointer_member(members, "path", StepError::Path);
        let from = || pointer_member(members, "from", StepError::From);
        let value = || members.get("value").cloned().ok_or(StepError::MissingMember("value"));
        Ok(match op {
            "add" => Self::Add { path: path()?, value: value()? },
            "remove" => Self::Remove { path: path()? },
            "replace" => Self::Replace { path: path()?, value: value()? },
            "move" => Self::Move { from: from()?, path: path()? },
            "copy" => Self::Copy { from: from()?, path: path()? },
            "test" => Self::Test { path: path()?, value: value()? },
            other => return Err(StepError::UnknownOp(other.to_owned())),
        })
    }

    /// Applies the operation to `doc` in place. On error `doc` is unchanged.
    pub fn apply(&self, doc: &mut Value) -> Result<(), StepError> {
        match self {
            Self::Add { path, value } => add(doc, path, value.clone()).map_err(StepError::Path),
            Self::Remove { path } => remove(doc, path).map(drop).map_err(|e| e.into_step(StepError::Path)),
            Self::Replace { path, value } => {
                *path.get_mut(doc).map_err(StepError::Path)? = value.clone();
                Ok(())
            }
            Self::Move { from, path } => {
                let value = from.get(doc).map_err(StepError::From)?;
                if from == path {
                    return Ok(());
                }
                if path.starts_with(from) {
                    return Err(StepError::MoveIntoChild { from: from.to_string(), path: path.to_string() });
                }
                // `path` is resolved after the removal (RFC 6902 section 4.4), and the removal may shift list
                // indices; work on a scratch copy so that a bad `path` leaves `doc` unchanged.
                let value = value.clone();
                let mut scratch = doc.clone();
                remove(&mut scratch, from).map_err(|e| e.into_step(StepError::From))?;
                add(&mut scratch, path, value).map_err(StepError::Path)?;
                *doc = scratch;
                Ok(())
            }
            Self::Copy { from, path } => {
                let value = from.get(doc).map_err(StepError::From)?.clone();
                add(doc, path, value).map_err(StepError::Path)
            }
            Self::Test { path, value } => {
                let actual = path.get(doc).map_err(StepError::Path)?;
                if json_equal(actual, value) {
                    Ok(())
                } else {
                    Err(StepError::TestFailed {
                        path: path.to_string(),
                        actual: summarize(actual),
                        expected: summarize(value),
                    })
                }
            }
        }
    }
}

fn string_member<'a>(members: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, StepError> {
    match members.get(name) {
        None => Err(StepError::MissingMember(name)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(StepError::NotAString { member: name, kind: kind_of(other) }),
    }
}

fn pointer_member(
    members: &Map<String, Value>,
    name: &'static str,
    wrap: fn(PointerError) -> StepError,
) -> Result<JsonPointer, StepError> {
    JsonPointer::parse(string_member(members, name)?).map_err(wrap)
}

/// RFC 6902 `add`: replaces the whole document, sets an object member (replacing it if present), or inserts into
/// a list before an index (`-` or the length append).
fn add(doc: &mut Value, path: &JsonPointer, value: Value) -> Result<(), PointerError> {
    let Some(last) = path.tokens().len().checked_sub(1) else {
        *doc = value;
        return Ok(());
    };
    match path.walk_mut(doc, last)? {
        Value::Object(members) => {
            members.insert(path.tokens()[last].clone(), value);
        }
        Value::Array(list) => {
            let at = path.list_slot(list, last)?.insert_position(list.len());
            list.insert(at, value);
        }
        scalar => return Err(path.not_a_container(scalar, last)),
    }
    Ok(())
}

/// Why [`remove`] failed.
enum RemoveError {
    Root,
    Pointer(PointerError),
}

impl RemoveError {
    fn into_step(self, wrap: fn(PointerError) -> StepError) -> StepError {
        match self {
            Self::Root => StepError::RemoveRoot,
            Self::Pointer(error) => wrap(error),
        }
    }
}

/// RFC 6902 `remove`: the target must exist; returns the removed value.
fn remove(doc: &mut Value, path: &JsonPointer) -> Result<Value, RemoveError> {
    let Some(last) = path.tokens().len().checked_sub(1) else {
        return Err(RemoveError::Root);
    };
    let error = match path.walk_mut(doc, last).map_err(RemoveError::Pointer)? {
        // `shift_remove` keeps the order of the other members.
        Value::Object(members) => match members.shift_remove(&path.tokens()[last]) {
            Some(removed) => return Ok(removed),
            None => path.missing_member(last),
        },
        Value::Array(list) => match path.list_slot(list, last).map_err(RemoveError::Pointer)? {
            ListSlot::Index { index, present: true } if index < list.len() => return Ok(list.remove(index)),
            slot => path.absent_item(list.len(), slot, last),
        },
        scalar => path.not_a_container(scalar, last),
    };
    Err(RemoveError::Pointer(error))
}

/// Parses a patch document (a list of operation objects).
pub fn parse_patch(patch: &Value) -> Result<Vec<Operation>, PatchError> {
    let Value::Array(steps) = patch else {
        return Err(PatchError::NotAList(kind_of(patch)));
    };
    steps
        .iter()
        .enumerate()
        .map(|(step, operation)| Operation::from_value(operation).map_err(|error| step_error(step, operation, error)))
        .collect()
}

fn step_error(step: usize, operation: &Value, error: StepError) -> PatchError {
    let member = |name: &str| operation.get(name).and_then(Value::as_str).map(str::to_owned);
    PatchError::Step { step, op: member("op"), path: member("path"), error: Box::new(error) }
}

/// Applies an RFC 6902 patch to a copy of `doc` and returns the result; `doc` itself is never changed.
///
/// Every operation is checked for well-formedness before any is applied, then they run in order; the first
/// failure aborts the whole patch.
pub fn apply_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations = parse_patch(patch)?;
    let mut result = doc.clone();
    for (step, operation) in operations.iter().enumerate() {
        operation.apply(&mut result).map_err(|error| PatchError::Step {
            step,
            op: Some(operation.name().to_owned()),
            path: Some(operation.path().to_string()),
            error: Box::new(error),
        })?;
    }
    Ok(result)
}

/// Parses `text` with [`parse_json_strict`] and applies it with [`apply_patch`].
pub fn apply_patch_text(doc: &Value, text: &str) -> Result<Value, PatchError> {
    apply_patch(doc, &parse_json_strict(text).map_err(PatchError::Syntax)?)
}

/// JSON equality (RFC 6902 section 4.6): numbers by numeric value (`1 == 1.0`), objects regardless of member
/// order, lists item by item; values of different types are never equal (`true != 1`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, x)| y.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    fn integer(n: &Number) -> Option<i128> {
        n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
    }
    match (integer(x), integer(y)) {
        (Some(x), Some(y)) => x == y,
        (Some(i), None) => y.as_f64().is_some_and(|f| float_equals_integer(f, i)),
        (None, Some(i)) => x.as_f64().is_some_and(|f| float_equals_integer(f, i)),
        (None, None) => x.as_f64() == y.as_f64(),
    }
}

/// Exact comparison (an `f64` holds every integer up to 2^53 exactly, but not every `u64`).
fn float_equals_integer(f: f64, i: i128) -> bool {
    // Every f64 in this range converts to i128 exactly, and the range covers all i64 and u64 values.
    const BOUND: f64 = 1.8e19;
    f.fract() == 0.0 && f.abs() < BOUND && f as i128 == i
}

/// Parses JSON text into a [`Value`], rejecting objects with a repeated member name
/// (`duplicate key 'op' at line 1 column 24`) and documents over the input [`Limits`]. Otherwise the same as
/// [`serde_json::from_str`].
pub fn parse_json_strict(text: &str) -> Result<Value, String> {
    parse_json_strict_with(text, Limits::DEFAULT)
}

/// [`parse_json_strict`] with other limits.
pub fn parse_json_strict_with(text: &str, limits: Limits) -> Result<Value, String> {
    let mut budget = Budget::new(limits, text.len());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value =
        StrictSeed { budget: &mut budget, depth: 0 }.deserialize(&mut deserializer).map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Builds a [`Value`] rejecting duplicate object members, within the budget; `depth` is the number of arrays and
/// objects around it.
struct StrictSeed<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl StrictSeed<'_> {
    fn scalar<E: de::Error>(self, value: Value) -> Result<Value, E> {
        self.budget.value().map_err(E::custom)?;
        Ok(value)
    }

    fn open<E: de::Error>(&mut self) -> Result<(), E> {
        self.budget.depth(self.depth + 1).map_err(E::custom)?;
        self.budget.value().map_err(E::custom)
    }

    fn child(&mut self) -> StrictSeed<'_> {
        StrictSeed { budget: self.budget, depth: self.depth + 1 }
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.scalar(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.scalar(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.scalar(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.scalar(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.string(v.len()).map_err(E::custom)?;
        self.scalar(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.string(v.len()).map_err(E::custom)?;
        self.scalar(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.scalar(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.open()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self.child())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.open()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.budget.string(key.len()).map_err(de::Error::custom)?;
            if members.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key '{key}'")));
            }
            self.budget.key(members.len()).map_err(de::Error::custom)?;
            let value = map.next_value_seed(self.child())?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// Why a `PUT` or `DELETE` on a pointer failed. The document is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Nothing exists at (or above) the pointer (HTTP 404).
    #[error("{0}")]
    NotFound(PointerError),
    /// The pointer is malformed or cannot address anything in this document (HTTP 400).
    #[error("{0}")]
    Invalid(PointerError),
    /// `DELETE` with the empty pointer (HTTP 400).
    #[error("cannot delete the whole configuration; use PUT to replace it")]
    DeleteRoot,
}

impl EditError {
    /// True for [`EditError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    fn classify(error: PointerError) -> Self {
        if error.is_not_found() { Self::NotFound(error) } else { Self::Invalid(error) }
    }
}

/// Upsert (`PUT /v1/config{ptr}`): replaces the target if it exists, otherwise adds it (a new object member, or
/// an item appended to a list with the list's length or `-`). The empty pointer replaces the whole document.
/// The parent must exist. Returns the new document.
pub fn put(doc: &Value, ptr: &JsonPointer, value: Value) -> Result<Value, EditError> {
    let Some(last) = ptr.tokens().len().checked_sub(1) else {
        return Ok(value);
    };
    let mut result = doc.clone();
    match ptr.walk_mut(&mut result, last).map_err(EditError::classify)? {
        Value::Object(members) => {
            members.insert(ptr.tokens()[last].clone(), value);
        }
        Value::Array(list) => {
            let len = list.len();
            match ptr.list_slot(list, last).map_err(EditError::classify)? {
                ListSlot::Index { index, .. } if index < len => list[index] = value,
                _ => list.push(value),
            }
        }
        scalar => return Err(EditError::Invalid(ptr.not_a_container(scalar, last))),
    }
    Ok(result)
}

/// `DELETE /v1/config{ptr}` (RFC 6902 `remove`): the target must exist. Returns the new document.
pub fn delete(doc: &Value, ptr: &JsonPointer) -> Result<Value, EditError> {
    let mut result = doc.clone();
    match remove(&mut result, ptr) {
        Ok(_) => Ok(result),
        Err(RemoveError::Root) => Err(EditError::DeleteRoot),
        // Nothing to delete below a scalar either.
        Err(RemoveError::Pointer(error @ PointerError::NotAContainer { .. })) => Err(EditError::NotFound(error)),
        Err(RemoveError::Pointer(error)) => Err(EditError::classify(error)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ptr(text: &str) -> JsonPointer {
        JsonPointer::parse(text).unwrap()
    }

    fn patched(doc: Value, patch: Value) -> Value {
        apply_patch(&doc, &patch).unwrap()
    }

    fn failure(doc: Value, patch: Value) -> String {
        let before = doc.clone();
        let error = apply_patch(&doc, &patch).unwrap_err();
        assert_eq!(doc, before);
        error.to_string()
    }

    #[test]
    fn rfc6902_appendix_cases() {
        // A.3 removing an object member
        assert_eq!(
            patched(json!({"baz": "qux", "foo": "bar"}), json!([{"op": "remove", "path": "/baz"}])),
            json!({"foo": "bar"})
        );
        // A.6 moving a value
        assert_eq!(
            patched(
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}])
            ),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
        );
        // A.9 testing a value: error
        assert_eq!(
            failure(json!({"baz": "qux"}), json!([{"op": "test", "path": "/baz", "value": "bar"}])),
            "step 0 (test /baz): test failed: the value at /baz is \"qux\", not \"bar\""
        );
        // A.13 invalid JSON patch document (duplicate "op")
        let text = r#"[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]"#;
        let error = apply_patch_text(&json!({}), text).unwrap_err().to_string();
        assert!(error.starts_with("the patch is not valid JSON: duplicate key 'op'"), "{error}");
        // A.16 adding an array value
        assert_eq!(
            patched(json!({"foo": ["bar"]}), json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}])),
            json!({"foo": ["bar", ["abc", "def"]]})
        );
    }

    #[test]
    fn step_errors_name_step_op_and_path() {
        let doc = json!({"workers": 1, "network": {"listen": [{"interface": "lo"}, {"interface": "eth0"}]}});
        let patch = json!([
            {"op": "test", "path": "/workers", "value": 1.0},
            {"op": "add", "path": "/cache", "value": {}},
            {"op": "replace", "path": "/network/listen/5", "value": 4},
        ]);
        assert_eq!(
            failure(doc.clone(), patch),
            "step 2 (replace /network/listen/5): /network/listen/5: index 5 is out of range (the list has 2 items)"
        );
        let cases = [
            (
                json!([{"op": "frobnicate", "path": "/a"}]),
                "step 0 (frobnicate /a): unknown op 'frobnicate': expected add, remove, replace, move, copy or test",
            ),
            (json!([{"path": "/a"}]), "step 0 (/a): the operation has no 'op' member"),
            (json!([{"op": "add", "path": "/a"}]), "step 0 (add /a): the operation has no 'value' member"),
            (json!([{"op": "add", "value": 1}]), "step 0 (add): the operation has no 'path' member"),
            (json!([{"op": "copy", "path": "/a"}]), "step 0 (copy /a): the operation has no 'from' member"),
            (json!([{"op": "remove", "path": 3}]), "step 0 (remove): the 'path' member must be a string, not a number"),
            (json!([{"op": 3}]), "step 0: the 'op' member must be a string, not a number"),
            (json!([[]]), "step 0: the operation must be an object, not a list"),
            (
                json!([{"op": "remove", "path": "a"}]),
                "step 0 (remove a): 'a' is not a valid JSON pointer: it must be empty (the whole document) or start with '/'",
            ),
            (json!([{"op": "remove", "path": ""}]), "step 0 (remove \"\"): cannot remove the whole document"),
            (
                json!([{"op": "move", "from": "/x", "path": "/y"}]),
                "step 0 (move /y): in 'from': /x: the document root has no member 'x'",
            ),
            (
                json!([{"op": "move", "from": "/network", "path": "/network/listen/0"}]),
                "step 0 (move /network/listen/0): cannot move /network into /network/listen/0, which is inside it",
            ),
            (
                json!([{"op": "move", "from": "", "path": "/a"}]),
                "step 0 (move /a): cannot move \"\" into /a, which is inside it",
            ),
            (
                json!([{"op": "add", "path": "/workers/x", "value": 1}]),
                "step 0 (add /workers/x): /workers/x: cannot look up 'x' (token 2) inside /workers, which is a number, not an object or a list",
            ),
            (json!({"op": "add"}), "a JSON patch must be a list of operations, not an object"),
        ];
        for (patch, message) in cases {
            assert_eq!(failure(doc.clone(), patch), message);
        }
        // Malformed operations are found before anything runs: step 1 is reported although step 0 would fail too.
        let error =
            apply_patch(&doc, &json!([{"op": "remove", "path": "/nope"}, {"op": "oops", "path": ""}])).unwrap_err();
        assert_eq!(error.step(), Some(1));
    }

    #[test]
    fn list_operations() {
        let doc = json!({"l": ["a", "b", "c"]});
        let cases = [
            (json!({"op": "add", "path": "/l/3", "value": "d"}), json!(["a", "b", "c", "d"])),
            (json!({"op": "add", "path": "/l/-", "value": "d"}), json!(["a", "b", "c", "d"])),
            (json!({"op": "remove", "path": "/l/2"}), json!(["a", "b"])),
            (json!({"op": "replace", "path": "/l/0", "value": null}), json!([null, "b", "c"])),
            (json!({"op": "move", "from": "/l/0", "path": "/l/-"}), json!(["b", "c", "a"])),
            (json!({"op": "move", "from": "/l/2", "path": "/l/0"}), json!(["c", "a", "b"])),
            (json!({"op": "move", "from": "/l/0", "path": "/l/2"}), json!(["b", "c", "a"])),
            (json!({"op": "copy", "from": "/l/1", "path": "/l/0"}), json!(["b", "a", "b", "c"])),
            (json!({"op": "copy", "from": "/l", "path": "/l/1"}), json!(["a", ["a", "b", "c"], "b", "c"])),
        ];
        for (operation, list) in cases {
            assert_eq!(patched(doc.clone(), json!([operation.clone()])), json!({"l": list}), "{operation}");
        }
        for operation in [
            json!({"op": "remove", "path": "/l/3"}),
            json!({"op": "remove", "path": "/l/-"}),
            json!({"op": "replace", "path": "/l/3", "value": 1}),
            json!({"op": "add", "path": "/l/4", "value": 1}),
            json!({"op": "add", "path": "/l/01", "value": 1}),
            json!({"op": "test", "path": "/l/-", "value": 1}),
            // The last item moved to the end: after removing it, index 3 is past the end.
            json!({"op": "move", "from": "/l/2", "path": "/l/3"}),
        ] {
            failure(doc.clone(), json!([operation]));
        }
    }

    #[test]
    fn object_member_order_is_kept() {
        let doc = json!({"a": 1, "b": 2, "c": 3});
        let result = patched(doc, json!([{"op": "remove", "path": "/a"}, {"op": "replace", "path": "/b", "value": 0}]));
        assert_eq!(result.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "c"]);
        let result = patched(json!({"a": 1, "b": 2}), json!([{"op": "add", "path": "/a", "value": 9}]));
        assert_eq!(result.to_string(), r#"{"a":9,"b":2}"#);
    }

    #[test]
    fn whole_document_operations() {
        assert_eq!(patched(json!({"a": 1}), json!([{"op": "replace", "path": "", "value": [1]}])), json!([1]));
        assert_eq!(patched(json!({"a": 1}), json!([{"op": "test", "path": "", "value": {"a": 1.0}}])), json!({"a": 1}));
        assert_eq!(patched(json!({"a": 1}), json!([{"op": "move", "from": "", "path": ""}])), json!({"a": 1}));
        assert_eq!(
            patched(json!({"a": {"b": 1}}), json!([{"op": "copy", "from": "", "path": "/a/c"}])),
            json!({"a": {"b": 1, "c": {"a": {"b": 1}}}})
        );
        assert_eq!(patched(json!(3), json!([{"op": "add", "path": "", "value": {}}])), json!({}));
    }

    #[test]
    fn equality() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(&json!(-3), &json!(-3.0)));
        assert!(json_equal(&json!(0), &json!(-0.0)));
        assert!(json_equal(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!json_equal(&json!(u64::MAX), &json!(u64::MAX as f64)));
        assert!(json_equal(&json!(9007199254740992u64), &json!(9007199254740992.0)));
        assert!(!json_equal(&json!(9007199254740993u64), &json!(9007199254740992.0)));
        assert!(!json_equal(&json!(1), &json!(1.5)));
        assert!(!json_equal(&json!(true), &json!(1)));
        assert!(!json_equal(&json!(null), &json!(0)));
        assert!(!json_equal(&json!("1"), &json!(1)));
        assert!(json_equal(&json!({"a": [1, {"b": 2}]}), &json!({"a": [1.0, {"b": 2.0}]})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": null})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"b": 1})));
        assert!(!json_equal(&json!([1]), &json!([1, 1])));
    }

    #[test]
    fn strict_json_parsing() {
        assert_eq!(
            parse_json_strict(r#"{"a": [1, -2, 3.5, true, null, "x\u00e9", {}], "b": {"c": 18446744073709551615}}"#),
            Ok(json!({"a": [1, -2, 3.5, true, null, "xé", {}], "b": {"c": u64::MAX}}))
        );
        let error = parse_json_strict(r#"[{"op": "add", "op": "remove"}]"#).unwrap_err();
        assert!(error.starts_with("duplicate key 'op'"), "{error}");
        let error = parse_json_strict(r#"{"a": {"b": 1, "c": 2, "b": 3}}"#).unwrap_err();
        assert!(error.starts_with("duplicate key 'b'"), "{error}");
        // Same key in different objects is fine.
        assert!(parse_json_strict(r#"[{"a": 1}, {"a": 2}, {"b": {"a": 3}}]"#).is_ok());
        for bad in ["", "[1,]", "{} x", "{'a': 1}", "[1", "nul", "\"\\x\"", "1e999x"] {
            assert!(parse_json_strict(bad).is_err(), "{bad}");
        }
        // Deep nesting is an error, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(parse_json_strict(&deep).is_err());
        let error = apply_patch_text(&json!({}), "[{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}] ,").unwrap_err();
        assert!(matches!(error, PatchError::Syntax(_)));
        assert_eq!(apply_patch_text(&json!({}), r#"[{"op": "add", "path": "/a", "value": 1}]"#), Ok(json!({"a": 1})));
    }

    #[test]
    fn put_is_an_upsert() {
        let doc = json!({"workers": 1, "network": {"listen": [{"interface": "lo"}]}});
        let put_at = |text: &str, value: Value| put(&doc, &ptr(text), value);
        assert_eq!(put_at("/workers", json!(4)).unwrap()["workers"], json!(4));
        assert_eq!(put_at("/cache", json!({"size-max": "1G"})).unwrap()["cache"], json!({"size-max": "1G"}));
        assert_eq!(
            put_at("/network/listen/0", json!({"interface": "eth0"})).unwrap()["network"]["listen"],
            json!([{"interface": "eth0"}])
        );
        assert_eq!(
            put_at("/network/listen/1", json!(2)).unwrap()["network"]["listen"],
            json!([{"interface": "lo"}, 2])
        );
        assert_eq!(
            put_at("/network/listen/-", json!(2)).unwrap()["network"]["listen"],
            json!([{"interface": "lo"}, 2])
        );
        assert_eq!(put_at("", json!({"workers": 8})).unwrap(), json!({"workers": 8}));
        assert!(put_at("/a/b", json!(1)).unwrap_err().is_not_found());
        assert!(put_at("/network/listen/2", json!(1)).unwrap_err().is_not_found());
        assert!(matches!(put_at("/network/listen/x", json!(1)), Err(EditError::Invalid(_))));
        assert!(matches!(put_at("/workers/x", json!(1)), Err(EditError::Invalid(_))));
        assert_eq!(put_at("/a/b", json!(1)).unwrap_err().to_string(), "/a/b: the document root has no member 'a'");
    }

    #[test]
    fn delete_removes_existing_targets_only() {
        let doc = json!({"workers": 1, "network": {"listen": [{"interface": "lo"}, {"interface": "eth0"}]}});
        let delete_at = |text: &str| delete(&doc, &ptr(text));
        assert_eq!(
            delete_at("/workers").unwrap(),
            json!({"network": {"listen": [{"interface": "lo"}, {"interface": "eth0"}]}})
        );
        assert_eq!(delete_at("/network/listen/0").unwrap()["network"]["listen"], json!([{"interface": "eth0"}]));
        for missing in ["/cache", "/cache/size-max", "/network/listen/2", "/network/listen/-", "/workers/x"] {
            assert!(delete_at(missing).unwrap_err().is_not_found(), "{missing}");
        }
        assert!(matches!(delete_at("/network/listen/01"), Err(EditError::Invalid(_))));
        assert_eq!(delete_at(""), Err(EditError::DeleteRoot));
    }

    #[test]
    fn operations_parse_and_apply_one_by_one() {
        let operation = Operation::from_value(&json!({"op": "copy", "from": "/a", "path": "/b", "extra": 1})).unwrap();
        assert_eq!(operation, Operation::Copy { from: ptr("/a"), path: ptr("/b") });
        assert_eq!((operation.name(), operation.path().to_string().as_str()), ("copy", "/b"));
        let mut doc = json!({"a": 1});
        operation.apply(&mut doc).unwrap();
        assert_eq!(doc, json!({"a": 1, "b": 1}));
        // A failed move leaves the document unchanged even when applied in place.
        let mut doc = json!({"l": [1, 2]});
        let bad_move = Operation::Move { from: ptr("/l/0"), path: ptr("/l/2") };
        assert!(bad_move.apply(&mut doc).is_err());
        assert_eq!(doc, json!({"l": [1, 2]}));
        let parsed = parse_patch(&json!([{"op": "test", "path": "/a", "value": null}])).unwrap();
        assert_eq!(parsed, [Operation::Test { path: ptr("/a"), value: Value::Null }]);
    }
}
