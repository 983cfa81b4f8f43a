//! The machinery that turns a [`Node`] tree into typed configuration values.
//!
//! Every configuration type implements [`FromNode`]: it validates a node, records *all* problems in the
//! [`Ctx`] (validation is never fail-fast) and describes itself as JSON Schema. Objects are declared once with
//! [`config_object!`](crate::config_object), which generates the struct, its parser (unknown keys rejected,
//! defaults filled) and its schema from the same field list.

use std::path::PathBuf;

use serde_json::{Value as Json, json};

use crate::error::{ValidationError, ValidationErrors};
use crate::node::{Node, Value};
use crate::path::Path;

/// Facts about the machine that dynamic defaults depend on. Tests pin them; the binaries read them from the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemFacts {
    /// Default for `/hostname`.
    pub hostname: String,
    /// Usable CPUs, for `workers: auto` and the worker limit (`None` when unknown).
    pub cpus: Option<usize>,
    /// What `logging/target: from-arg` resolves to: the `--logtarget` of `knot-resolver` (`None`: `stdout`).
    pub logtarget: Option<String>,
}

/// The `--logtarget` of this process, recorded once at start-up by [`SystemFacts::set_logtarget_arg`].
static LOGTARGET_ARG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The environment variable through which the reference manager hands `--logtarget` to the processes it starts
/// (and which its `kresctl` therefore honours too).
pub const LOGTARGET_ENV: &str = "KRES_LOGTARGET";

impl SystemFacts {
    /// Reads the facts of the running system.
    pub fn from_system() -> Self {
        SystemFacts {
            hostname: read_hostname(),
            cpus: std::thread::available_parallelism().ok().map(|n| n.get()),
            logtarget: LOGTARGET_ARG.get().cloned().or_else(|| std::env::var(LOGTARGET_ENV).ok()),
        }
    }

    /// Records the `--logtarget` this process was started with, so that [`SystemFacts::from_system`] resolves
    /// `logging/target: from-arg` to it (`knot-resolver` calls this once, before reading any configuration).
    pub fn set_logtarget_arg(target: &str) {
        let _ = LOGTARGET_ARG.set(target.to_owned());
    }

    /// Fixed facts for tests and documentation (hostname `localhost`, 2 CPUs, no `--logtarget`).
    pub fn fixed() -> Self {
        SystemFacts { hostname: "localhost".into(), cpus: Some(2), logtarget: None }
    }
}

fn read_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// How a document is validated.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// Check that files and directories exist and are accessible (the manager does; `kresctl validate` only
    /// with `--strict`).
    pub strict: bool,
    /// Relative paths in the configuration are resolved against this directory (the first config file's).
    pub resolve_root: PathBuf,
    pub system: SystemFacts,
}

impl ValidationOptions {
    pub fn new(strict: bool, resolve_root: impl Into<PathBuf>, system: SystemFacts) -> Self {
        ValidationOptions { strict, resolve_root: resolve_root.into(), system }
    }

    /// Non-strict validation with fixed system facts (for tests and schema defaults).
    pub fn lenient() -> Self {
        ValidationOptions::new(false, "/", SystemFacts::fixed())
    }
}

/// The validation context: options plus the errors found so far.
pub struct Ctx<'a> {
    pub opts: &'a ValidationOptions,
    errors: Vec<ValidationError>,
}

impl<'a> Ctx<'a> {
    pub fn new(opts: &'a ValidationOptions) -> Self {
        Ctx { opts, errors: Vec::new() }
    }

    /// Records a problem at `path`; `node` supplies the source position when known.
    pub fn error(&mut self, path: &Path, node: Option<&Node>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.clone(),
            message: message.into(),
            mark: node.and_then(|n| n.mark.clone()),
        });
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub fn into_result<T>(self, value: Option<T>) -> Result<T, ValidationErrors> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(ValidationErrors(self.errors)),
        }
    }
}

/// A configuration value that can be read from a document node.
pub trait FromNode: Sized {
    /// Validates `node` (found at `path`), recording every problem in `cx`. Returns `None` when invalid.
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self>;

    /// The value used when an object's key is missing and the field declares no default. The default is an
    /// error (a required key); optional values give `None`, objects parse an empty mapping.
    fn absent(cx: &mut Ctx, path: &Path, parent: Option<&Node>) -> Option<Self> {
        cx.error(path, parent, "a required key is missing");
        None
    }

    /// The JSON Schema (draft 2020-12) of this type.
    fn schema() -> Json;
}

/// Cross-field checks and dynamic defaults of an object, run after all its fields were read successfully.
pub trait ObjectHook {
    fn finish(&mut self, _cx: &mut Ctx, _path: &Path, _node: &Node) {}
}

/// Parses a standalone value (used by tests and by `kresctl` for RPC bodies).
pub fn parse_value<T: FromNode>(node: &Node, opts: &ValidationOptions) -> Result<T, ValidationErrors> {
    let mut cx = Ctx::new(opts);
    let value = T::from_node(node, &mut cx, &Path::root());
    cx.into_result(value)
}

/// The entries of a mapping node, or an error.
pub fn expect_map<'n>(node: &'n Node, cx: &mut Ctx, path: &Path) -> Option<&'n [(String, Node)]> {
    match &node.value {
        Value::Map(entries) => Some(entries),
        _ => {
            cx.error(path, Some(node), format!("expected a mapping (object), got {}", node.kind()));
            None
        }
    }
}

/// Reports keys that the object does not define.
pub fn check_unknown_keys(entries: &[(String, Node)], known: &[&str], cx: &mut Ctx, path: &Path, node: &Node) {
    let unknown: Vec<&(String, Node)> = entries.iter().filter(|(k, _)| !known.contains(&k.as_str())).collect();
    if unknown.is_empty() {
        return;
    }
    let names: Vec<String> = unknown
        .iter()
        .map(|(k, _)| {
            let hint = if k.contains('_') && known.contains(&k.replace('_', "-").as_str()) {
                format!(" (did you mean '{}'?)", k.replace('_', "-"))
            } else {
                String::new()
            };
            format!("'{k}'{hint}")
        })
        .collect();
    let mark_node = unknown.first().map(|(_, v)| v).unwrap_or(node);
    cx.error(path, Some(mark_node), format!("unexpected extra key(s) {}", names.join(", ")));
}

/// Joins `///` doc lines into one description.
pub fn join_doc(lines: &[&str]) -> String {
    lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Adds a description and default to a property schema.
pub fn annotate(mut schema: Json, description: &str, default: Option<Json>) -> Json {
    if let Json::Object(map) = &mut schema {
        if !description.is_empty() {
            map.insert("description".into(), Json::String(description.into()));
        }
        if let Some(d) = default {
            map.insert("default".into(), d);
        }
    }
    schema
}

/// Declares a configuration object: the struct, its [`FromNode`] implementation and its JSON Schema.
///
/// ```ignore
/// config_object! {
///     /// DNS resolver cache configuration.
///     pub struct CacheSchema {
///         /// Maximum size of the cache.
///         "size-max" size_max: SizeUnit = SizeUnit::parse_const("100M"),
///         /// Prefill the cache periodically.
///         "prefill" prefill: Option<Vec<PrefillSchema>>,
///     }
/// }
/// ```
/// A field without `= default` is required unless its type has an implicit default (`Option`, objects).
/// The type must also implement [`ObjectHook`] (an empty `impl` when it has no cross-field rules).
#[macro_export]
macro_rules! config_object {
    (
        $(#[doc = $odoc:literal])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $key:literal $field:ident : $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $odoc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        $vis struct $name {
            $(
                $(#[doc = $fdoc])*
                #[serde(rename = $key)]
                pub $field: $ty,
            )*
        }

        impl $crate::model::FromNode for $name {
            fn from_node(
                node: &$crate::node::Node,
                cx: &mut $crate::model::Ctx,
                path: &$crate::path::Path,
            ) -> Option<Self> {
                let entries = $crate::model::expect_map(node, cx, path)?;
                $crate::model::check_unknown_keys(entries, &[$($key),*], cx, path, node);
                let before = cx.error_count();
                $(
                    let $field: Option<$ty> = {
                        let fpath = path.key($key);
                        match entries.iter().find(|(k, _)| k == $key) {
                            Some((_, value)) => <$ty as $crate::model::FromNode>::from_node(value, cx, &fpath),
                            None => $crate::config_object!(@default cx fpath node $ty $(, $default)?),
                        }
                    };
                )*
                if cx.error_count() != before {
                    return None;
                }
                let mut object = $name { $($field: $field?,)* };
                $crate::model::ObjectHook::finish(&mut object, cx, path, node);
                (cx.error_count() == before).then_some(object)
            }

            fn absent(
                cx: &mut $crate::model::Ctx,
                path: &$crate::path::Path,
                parent: Option<&$crate::node::Node>,
            ) -> Option<Self> {
                let mut empty = $crate::node::Node::empty_map();
                empty.mark = parent.and_then(|p| p.mark.clone());
                Self::from_node(&empty, cx, path)
            }

            fn schema() -> serde_json::Value {
                let mut properties = serde_json::Map::new();
                #[allow(unused_mut)]
                let mut required: Vec<&str> = Vec::new();
                $(
                    let description = $crate::model::join_doc(&[$($fdoc),*]);
                    let default = $crate::config_object!(@schema_default $ty $(, $default)?);
                    if default.is_none() {
                        required.push($key);
                    }
                    properties.insert(
                        $key.to_string(),
                        $crate::model::annotate(<$ty as $crate::model::FromNode>::schema(), &description, default),
                    );
                )*
                let mut schema = serde_json::json!({
                    "type": "object",
                    "properties": properties,
                    "additionalProperties": false,
                });
                let description = $crate::model::join_doc(&[$($odoc),*]);
                if !description.is_empty() {
                    schema["description"] = serde_json::Value::String(description);
                }
                if !required.is_empty() {
                    schema["required"] = serde_json::json!(required);
                }
                schema
            }
        }
    };
    (@default $cx:ident $fpath:ident $node:ident $ty:ty) => {
        <$ty as $crate::model::FromNode>::absent($cx, &$fpath, Some($node))
    };
    (@default $cx:ident $fpath:ident $node:ident $ty:ty, $default:expr) => {
        Some($default)
    };
    (@schema_default $ty:ty) => {{
        let opts = $crate::model::ValidationOptions::lenient();
        let mut cx = $crate::model::Ctx::new(&opts);
        <$ty as $crate::model::FromNode>::absent(&mut cx, &$crate::path::Path::root(), None)
            .filter(|_| cx.error_count() == 0)
            .and_then(|v| serde_json::to_value(&v).ok())
    }};
    (@schema_default $ty:ty, $default:expr) => {{
        let value: $ty = $default;
        serde_json::to_value(&value).ok()
    }};
}

// ----- primitive types ---------------------------------------------------------------------------------------

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

/// Tests: parses a YAML snippet as `T` (lenient options); errors as `(path, message)` pairs.
#[cfg(test)]
pub(crate) fn test_parse<T: FromNode>(yaml: &str) -> Result<T, Vec<(String, String)>> {
    let node = crate::parse::parse_yaml(yaml, "test").expect("test YAML parses");
    parse_value::<T>(&node, &ValidationOptions::lenient())
        .map_err(|e| e.0.into_iter().map(|e| (e.path.as_str().to_owned(), e.message)).collect())
}
