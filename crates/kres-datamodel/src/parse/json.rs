//! Strict JSON into a [`Node`] tree (no positions): duplicate keys rejected, within the [`Limits`].

use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};

use super::keys::KeyIndex;
use super::limits::{Budget, LIMIT_ERROR_PREFIX, Limits};
use crate::node::{Node, Value};

pub(super) enum JsonError {
    /// Not JSON (the text may still be YAML).
    Syntax(String),
    /// JSON, but refused: a duplicate key or a limit (message, 1-based line and column).
    Refused(String, usize, usize),
}

pub(super) fn parse_json(text: &str, limits: Limits) -> Result<Node, JsonError> {
    let mut budget = Budget::new(limits, text.len());
    let mut de = serde_json::Deserializer::from_str(text);
    let node = NodeSeed { budget: &mut budget, depth: 0 }.deserialize(&mut de).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("duplicate key") || msg.starts_with(LIMIT_ERROR_PREFIX) {
            // serde_json appends the position; it is returned apart.
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = msg.strip_suffix(&suffix).map(str::to_owned).unwrap_or(msg);
            JsonError::Refused(msg, e.line(), e.column())
        } else {
            JsonError::Syntax(msg)
        }
    })?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(node)
}

/// Builds one value; `depth` is the number of lists and mappings around it.
struct NodeSeed<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl NodeSeed<'_> {
    fn scalar<E: serde::de::Error>(self, value: Value) -> Result<Node, E> {
        self.budget.value().map_err(E::custom)?;
        Ok(Node::new(value))
    }

    fn open<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.budget.depth(self.depth + 1).map_err(E::custom)?;
        self.budget.value().map_err(E::custom)
    }

    fn child(&mut self) -> NodeSeed<'_> {
        NodeSeed { budget: self.budget, depth: self.depth + 1 }
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Node, E> {
        self.scalar(Value::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node, E> {
        self.scalar(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node, E> {
        self.scalar(Value::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(format!("integer {v} is too large")))?;
        self.scalar(Value::Int(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
        self.scalar(Value::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Node, E> {
        self.budget.string(v.len()).map_err(E::custom)?;
        self.scalar(Value::Str(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Node, E> {
        self.budget.string(v.len()).map_err(E::custom)?;
        self.scalar(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Node, A::Error> {
        self.open()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child())? {
            items.push(item);
        }
        Ok(Node::new(Value::List(items)))
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Node, A::Error> {
        self.open()?;
        let mut entries: Vec<(String, Node)> = Vec::new();
        let mut index = KeyIndex::default();
        while let Some(key) = map.next_key::<String>()? {
            self.budget.string(key.len()).map_err(A::Error::custom)?;
            if index.find(&entries, &key).is_some() {
                return Err(A::Error::custom(format!("duplicate key '{key}'")));
            }
            self.budget.key(entries.len()).map_err(A::Error::custom)?;
            let value = map.next_value_seed(self.child())?;
            index.insert(&key, entries.len());
            entries.push((key, value));
        }
        Ok(Node::new(Value::Map(entries)))
    }
}
