//! Loading configuration documents: read files, parse, deep-merge, validate.

use std::path::{Path as FsPath, PathBuf};

use crate::config::KresConfig;
use crate::error::{ConfigError, ValidationErrors};
use crate::model::{Ctx, FromNode, ValidationOptions};
use crate::node::{self, Node};
use crate::parse::parse_document;
use crate::path::Path;

/// Reads, parses and deep-merges configuration files (in order). Returns the merged raw document.
pub fn read_files<P: AsRef<FsPath>>(files: &[P]) -> Result<Node, ConfigError> {
    let mut merged = Node::empty_map();
    for file in files {
        let file = file.as_ref();
        let text =
            std::fs::read(file).map_err(|source| ConfigError::Io { path: file.display().to_string(), source })?;
        let text = String::from_utf8(text).map_err(|e| ConfigError::Parse {
            source_name: file.display().to_string(),
            error: crate::parse::ParseError {
                message: format!(
                    "the file is not valid UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
                mark: None,
            },
        })?;
        let doc = parse_document(&text, &file.display().to_string())
            .map_err(|error| ConfigError::Parse { source_name: file.display().to_string(), error })?;
        if !matches!(doc.value, node::Value::Map(_)) {
            return Err(ConfigError::Invalid(ValidationErrors(vec![crate::error::ValidationError {
                path: Path::root(),
                message: format!("the configuration must be a mapping (object), got {}", doc.kind()),
                mark: doc.mark.clone(),
            }])));
        }
        node::merge(&mut merged, doc).map_err(ConfigError::Merge)?;
    }
    Ok(merged)
}

/// The directory relative paths of a configuration are resolved against: that of the first file.
pub fn resolve_root<P: AsRef<FsPath>>(files: &[P]) -> PathBuf {
    let first = files.first().map(|f| f.as_ref().to_path_buf()).unwrap_or_default();
    let absolute =
        if first.is_absolute() { first } else { std::env::current_dir().map(|d| d.join(&first)).unwrap_or(first) };
    absolute.parent().map(FsPath::to_path_buf).unwrap_or_else(|| PathBuf::from("/"))
}

/// Validates a raw document into the typed configuration, collecting every error.
pub fn validate(document: &Node, opts: &ValidationOptions) -> Result<KresConfig, ValidationErrors> {
    let mut cx = Ctx::new(opts);
    let config = KresConfig::from_node(document, &mut cx, &Path::root());
    cx.into_result(config)
}

/// Reads and validates configuration files.
pub fn load_files<P: AsRef<FsPath>>(
    files: &[P],
    strict: bool,
    system: crate::model::SystemFacts,
) -> Result<(Node, KresConfig), ConfigError> {
    let raw = read_files(files)?;
    let opts = ValidationOptions::new(strict, resolve_root(files), system);
    let config = validate(&raw, &opts).map_err(ConfigError::Invalid)?;
    Ok((raw, config))
}

/// The JSON Schema (draft 2020-12) of the configuration, as served by `GET /schema` and `kresctl schema`; every
/// property carries its apply impact (`x-kres-apply`, [`crate::impact`]).
pub fn json_schema() -> serde_json::Value {
    let mut schema = KresConfig::schema();
    let body = schema.as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut out = serde_json::Map::new();
    out.insert("$schema".into(), "https://json-schema.org/draft/2020-12/schema".into());
    out.insert(
        "$id".into(),
        format!("https://www.knot-resolver.cz/documentation/v{}/_static/config.schema.json", env!("CARGO_PKG_VERSION"))
            .into(),
    );
    out.insert("title".into(), "Knot Resolver configuration JSON schema".into());
    out.extend(body);
    let mut schema = serde_json::Value::Object(out);
    crate::impact::annotate_schema(&mut schema);
    schema
}
