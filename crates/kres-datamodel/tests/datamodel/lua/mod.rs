//! Lua rendering tests: golden files for every example and feature config, hostile strings, and real kresd
//! running the rendered policy-loader and worker (inside the sid root, see `cargo xtask test`).

mod escape_props;
mod golden;
mod hostile;
mod kresd;

use std::path::Path;

use kres_datamodel::lua::{RenderTarget, render};
use kres_datamodel::parse::parse_document;
use kres_datamodel::{KresConfig, SystemFacts, ValidationOptions, validate};

/// Validates YAML/JSON text (non-strict, fixed system facts); relative paths resolve against `resolve_root`.
#[track_caller]
pub fn load_text(text: &str, source: &str, resolve_root: &Path) -> KresConfig {
    let node = parse_document(text, source).unwrap_or_else(|e| panic!("{source} does not parse: {e:?}"));
    let opts = ValidationOptions::new(false, resolve_root, SystemFacts::fixed());
    validate(&node, &opts).unwrap_or_else(|e| panic!("{source} is not valid: {e}"))
}

#[track_caller]
pub fn load_file(path: &Path, resolve_root: &Path) -> KresConfig {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    load_text(&text, &path.display().to_string(), resolve_root)
}

/// Both scripts of a configuration.
#[track_caller]
pub fn render_both(config: &KresConfig) -> (String, String) {
    let worker = render(config, RenderTarget::Worker).unwrap_or_else(|e| panic!("worker: {e}"));
    let loader = render(config, RenderTarget::PolicyLoader).unwrap_or_else(|e| panic!("policy-loader: {e}"));
    (worker, loader)
}

/// `config.isp.yaml` → `isp`; `network.yaml` → `network`.
pub fn config_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name");
    stem.strip_prefix("config.").unwrap_or(stem).to_owned()
}
