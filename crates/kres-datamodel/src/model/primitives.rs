//! The value types every configuration object is built from: booleans, strings, optional values, lists,
//! list-or-item, keyed maps, bounded integers and floats, and string enums ([`string_enum!`](crate::string_enum)).

use serde_json::{Value as Json, json};

use super::{Ctx, FromNode, expect_map};
use crate::node::{Node, Value};
use crate::path::Path;

impl FromNode for bool {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                cx.error(path, Some(node), format!("expected a boolean (true or false), got {}", describe(node)));
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"type": "boolean"})
    }
}

/// A short rendering of a scalar for error messages.
pub fn describe(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("string '{s}'"),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("number {f}"),
        Value::Bool(b) => format!("boolean {b}"),
        _ => node.kind().to_string(),
    }
}

/// A plain string. Numbers are accepted and converted to their decimal text (like the reference); booleans are
/// rejected, since YAML 1.1 reads `no` as false (the "Norway problem").
impl FromNode for String {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        scalar_text(node, cx, path)
    }
    /// Numbers too, since they are accepted (the reference schema says only `string`).
    fn schema() -> Json {
        json!({"type": ["string", "number"]})
    }
}

/// The text of a string-like scalar (strings, and numbers converted to text).
pub fn scalar_text(node: &Node, cx: &mut Ctx, path: &Path) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(format_float(*f)),
        Value::Bool(b) => {
            cx.error(
                path,
                Some(node),
                format!("expected a string, got boolean {b}; YAML reads yes/no/on/off/true/false as booleans, quote the value to make it a string"),
            );
            None
        }
        _ => {
            cx.error(path, Some(node), format!("expected a string, got {}", node.kind()));
            None
        }
    }
}

/// The text of a value that must be a string (paths, addresses): numbers are not converted.
pub fn strict_text<'n>(node: &'n Node, cx: &mut Ctx, path: &Path) -> Option<&'n str> {
    match &node.value {
        Value::Str(s) => Some(s),
        _ => {
            cx.error(path, Some(node), format!("expected a string, got {}", describe(node)));
            None
        }
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.is_finite() && f.abs() < 1e16 { format!("{f:.1}") } else { f.to_string() }
}

impl<T: FromNode> FromNode for Option<T> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match node.value {
            Value::Null => Some(None),
            _ => T::from_node(node, cx, path).map(Some),
        }
    }
    fn absent(_cx: &mut Ctx, _path: &Path, _parent: Option<&Node>) -> Option<Self> {
        Some(None)
    }
    fn schema() -> Json {
        nullable(T::schema())
    }
}

/// Makes a schema also accept `null`.
pub fn nullable(schema: Json) -> Json {
    match schema.get("type") {
        Some(Json::String(t)) if schema.get("enum").is_none() => {
            let mut s = schema.clone();
            s["type"] = json!([t, "null"]);
            s
        }
        Some(Json::Array(types)) if schema.get("enum").is_none() => {
            let mut s = schema.clone();
            let mut types = types.clone();
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            s["type"] = Json::Array(types);
            s
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// A list: must not be empty; every item is checked.
impl<T: FromNode> FromNode for Vec<T> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match &node.value {
            Value::List(items) => parse_items(items, node, cx, path),
            _ => {
                cx.error(path, Some(node), format!("expected a list, got {}", describe(node)));
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"type": "array", "items": T::schema(), "minItems": 1})
    }
}

fn parse_items<T: FromNode>(items: &[Node], node: &Node, cx: &mut Ctx, path: &Path) -> Option<Vec<T>> {
    if items.is_empty() {
        cx.error(path, Some(node), "empty list is not allowed");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match T::from_node(item, cx, &path.index(i)) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A single item or a non-empty list of items. Serializes back in the shape it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOrItem<T> {
    pub items: Vec<T>,
    pub was_list: bool,
}

impl<T> ListOrItem<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
    pub fn single(item: T) -> Self {
        ListOrItem { items: vec![item], was_list: false }
    }
}

impl<'a, T> IntoIterator for &'a ListOrItem<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<T: serde::Serialize> serde::Serialize for ListOrItem<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.was_list || self.items.len() != 1 { self.items.serialize(s) } else { self.items[0].serialize(s) }
    }
}

impl<T: FromNode> FromNode for ListOrItem<T> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match &node.value {
            Value::List(items) => parse_items(items, node, cx, path).map(|items| ListOrItem { items, was_list: true }),
            Value::Map(_) => {
                cx.error(path, Some(node), "expected a single value or a list of values, got a mapping");
                None
            }
            _ => T::from_node(node, cx, path).map(ListOrItem::single),
        }
    }
    fn schema() -> Json {
        let item = T::schema();
        json!({"anyOf": [{"type": "array", "items": item.clone(), "minItems": 1}, item]})
    }
}

/// A mapping with free-form keys (kept verbatim, in document order), e.g. `/local-data/addresses`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedMap<K, V>(pub Vec<(K, V)>);

/// A type usable as a [`KeyedMap`] key.
pub trait FromKey: Sized {
    fn from_key(key: &str, cx: &mut Ctx, path: &Path, node: &Node) -> Option<Self>;
    fn key_schema() -> Json;
}

impl<K: serde::Serialize + ToString, V: serde::Serialize> serde::Serialize for KeyedMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&k.to_string(), v)?;
        }
        m.end()
    }
}

impl<K: FromKey, V: FromNode> FromNode for KeyedMap<K, V> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        let entries = expect_map(node, cx, path)?;
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (k, v) in entries {
            let p = path.key(k);
            let key = K::from_key(k, cx, &p, v);
            let value = V::from_node(v, cx, &p);
            match (key, value) {
                (Some(k), Some(v)) => out.push((k, v)),
                _ => ok = false,
            }
        }
        ok.then_some(KeyedMap(out))
    }
    fn schema() -> Json {
        json!({"type": "object", "propertyNames": K::key_schema(), "additionalProperties": V::schema()})
    }
}

/// An integer within `MIN..=MAX` (YAML/JSON integers only: no booleans, strings or floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    /// A constant value (for defaults); panics at compile time when out of range in const context.
    pub const fn new(v: i64) -> Self {
        assert!(v >= MIN && v <= MAX);
        Int(v)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl<const MIN: i64, const MAX: i64> FromNode for Int<MIN, MAX> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match node.value {
            Value::Int(v) if v < MIN => {
                cx.error(path, Some(node), format!("value {v} is lower than the minimum {MIN}"));
                None
            }
            Value::Int(v) if v > MAX => {
                cx.error(path, Some(node), format!("value {v} is higher than the maximum {MAX}"));
                None
            }
            Value::Int(v) => Some(Int(v)),
            _ => {
                cx.error(path, Some(node), format!("expected an integer, got {}", describe(node)));
                None
            }
        }
    }
    fn schema() -> Json {
        let mut s = json!({"type": "integer"});
        if MIN != i64::MIN {
            s["minimum"] = json!(MIN);
        }
        if MAX != i64::MAX {
            s["maximum"] = json!(MAX);
        }
        s
    }
}

pub type IntNonNegative = Int<0, { i64::MAX }>;
pub type IntPositive = Int<1, { i64::MAX }>;
pub type Int0_32 = Int<0, 32>;
pub type Int0_512 = Int<0, 512>;
pub type Int1_4096 = Int<1, 4096>;
pub type Int0_65535 = Int<0, 65535>;
pub type Percent = Int<0, 100>;
pub type PortNumber = Int<1, 65535>;

/// A number (integer or float) within `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize)]
#[serde(transparent)]
pub struct Float<const MIN: i64, const MAX: i64>(pub f64);

impl<const MIN: i64, const MAX: i64> FromNode for Float<MIN, MAX> {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        let v = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) if f.is_finite() => f,
            _ => {
                cx.error(path, Some(node), format!("expected a number, got {}", describe(node)));
                return None;
            }
        };
        if v < MIN as f64 {
            cx.error(path, Some(node), format!("value {v} is lower than the minimum {MIN}"));
            None
        } else if v > MAX as f64 {
            cx.error(path, Some(node), format!("value {v} is higher than the maximum {MAX}"));
            None
        } else {
            Some(Float(v))
        }
    }
    fn schema() -> Json {
        let mut s = json!({"type": "number", "minimum": MIN});
        if MAX != i64::MAX {
            s["maximum"] = json!(MAX);
        }
        s
    }
}

pub type FloatNonNegative = Float<0, { i64::MAX }>;
pub type Float0_65535 = Float<0, 65535>;

/// Declares a string enumeration (a YAML/JSON string matching one of the listed words exactly).
#[macro_export]
macro_rules! string_enum {
    (
        $(#[doc = $doc:literal])*
        $vis:vis enum $name:ident { $($text:literal => $variant:ident),+ $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $crate::model::FromNode for $name {
            fn from_node(node: &$crate::node::Node, cx: &mut $crate::model::Ctx, path: &$crate::path::Path) -> Option<Self> {
                if let $crate::node::Value::Str(s) = &node.value {
                    match s.as_str() {
                        $($text => return Some($name::$variant),)+
                        _ => {}
                    }
                }
                let expected = [$(concat!("'", $text, "'")),+].join(", ");
                cx.error(path, Some(node), format!("{} does not match any of the expected values ({expected})", $crate::model::describe(node)));
                None
            }
            fn schema() -> serde_json::Value {
                serde_json::json!({"type": "string", "enum": [$($text),+]})
            }
        }
    };
}
