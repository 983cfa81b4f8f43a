//! The untyped document tree that every configuration source is read into.
//!
//! A [`Node`] remembers where it came from (file, line, column) so that validation errors can point at the
//! offending text. Nodes convert to and from `serde_json::Value`, which is the form the HTTP API stores and
//! patches.

use std::fmt;
use std::sync::Arc;

/// A position in a source document (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The file name (or another label such as `request body`).
    pub source: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.col)
    }
}

/// A value of the document tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    /// A mapping in document order; keys are unique (parsers reject duplicates).
    Map(Vec<(String, Node)>),
}

/// A value with an optional source position.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub mark: Option<Mark>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Node {
    pub fn new(value: Value) -> Self {
        Node { value, mark: None }
    }

    pub fn with_mark(value: Value, mark: Option<Mark>) -> Self {
        Node { value, mark }
    }

    pub fn empty_map() -> Self {
        Node::new(Value::Map(Vec::new()))
    }

    /// A short description of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a floating-point number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Looks up a key of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts to JSON (positions are dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::List(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Converts from JSON (no positions).
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let v = match value {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::List(items.iter().map(Node::from_json).collect()),
            J::Object(map) => Value::Map(map.iter().map(|(k, v)| (k.clone(), Node::from_json(v))).collect()),
        };
        Node::new(v)
    }
}

/// A conflict found while merging several configuration files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflict {
    /// JSON pointer of the key defined twice.
    pub path: String,
    /// Where the second definition is.
    pub mark: Option<Mark>,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: the key is defined in more than one file", self.path)?;
        if let Some(m) = &self.mark {
            write!(f, " (again at {m})")?;
        }
        Ok(())
    }
}

/// Deep-merges `other` into `base` like the reference manager does for `-c a.yaml b.yaml`: mappings are merged
/// recursively, any other value defined in both documents is a conflict.
pub fn merge(base: &mut Node, other: Node) -> Result<(), MergeConflict> {
    merge_at(base, other, &mut String::new())
}

fn merge_at(base: &mut Node, other: Node, path: &mut String) -> Result<(), MergeConflict> {
    // An empty document (null) merges as an empty mapping.
    if matches!(other.value, Value::Null) {
        return Ok(());
    }
    if matches!(base.value, Value::Null) {
        *base = other;
        return Ok(());
    }
    match (&mut base.value, other.value) {
        (Value::Map(mine), Value::Map(theirs)) => {
            // Key → index of the base mapping, so merging large mappings stays linear.
            let mut index: std::collections::HashMap<String, usize> =
                mine.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
            for (key, value) in theirs {
                let len = path.len();
                path.push('/');
                path.push_str(&crate::path::escape_token(&key));
                match index.get(&key).map(|&i| &mut mine[i].1) {
                    Some(existing) => {
                        if matches!(existing.value, Value::Map(_)) && matches!(value.value, Value::Map(_)) {
                            merge_at(existing, value, path)?;
                        } else {
                            return Err(MergeConflict { path: path.clone(), mark: value.mark });
                        }
                    }
                    None => {
                        index.insert(key.clone(), mine.len());
                        mine.push((key, value));
                    }
                }
                path.truncate(len);
            }
            Ok(())
        }
        (_, value) => Err(MergeConflict { path: path.clone(), mark: Node::with_mark(value, other.mark).mark }),
    }
}
