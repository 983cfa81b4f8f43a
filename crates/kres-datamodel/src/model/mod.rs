//! The machinery that turns a [`Node`] tree into typed configuration values.
//!
//! Every configuration type implements [`FromNode`]: it validates a node, records *all* problems in the
//! [`Ctx`] (validation is never fail-fast) and describes itself as JSON Schema. Objects are declared once with
//! [`config_object!`](crate::config_object), which generates the struct, its parser (unknown keys rejected,
//! defaults filled) and its schema from the same field list.

use std::path::PathBuf;

use serde_json::Value as Json;

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

mod primitives;
pub use primitives::*;

/// Tests: parses a YAML snippet as `T` (lenient options); errors as `(path, message)` pairs.
#[cfg(test)]
pub(crate) fn test_parse<T: FromNode>(yaml: &str) -> Result<T, Vec<(String, String)>> {
    let node = crate::parse::parse_yaml(yaml, "test").expect("test YAML parses");
    parse_value::<T>(&node, &ValidationOptions::lenient())
        .map_err(|e| e.0.into_iter().map(|e| (e.path.as_str().to_owned(), e.message)).collect())
}
