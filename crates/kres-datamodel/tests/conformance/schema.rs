//! Our JSON Schema against the reference's (`shared/reference/examples/config.schema.json`): a field-by-field
//! comparison, a guard that no reference property is missing, and the generated difference list in
//! `docs/schema.md` (kept current by a test; regenerate with `KRES_UPDATE_SCHEMA_DOC=1`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::data::{examples_dir, load_json};

/// Every property path of a schema (`/network/listen/[]/interface`; `[]` = list items, `{}` = values of a
/// free-form mapping) with the schema nodes describing it (the node itself and its `anyOf` variants).
fn collect(schema: &Value) -> BTreeMap<String, Vec<&Value>> {
    fn walk<'a>(s: &'a Value, path: &str, out: &mut BTreeMap<String, Vec<&'a Value>>) {
        out.entry(path.to_owned()).or_default().push(s);
        children(s, path, out);
    }
    fn children<'a>(s: &'a Value, path: &str, out: &mut BTreeMap<String, Vec<&'a Value>>) {
        for key in ["anyOf", "oneOf", "allOf"] {
            for variant in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                out.entry(path.to_owned()).or_default().push(variant);
                children(variant, path, out);
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                walk(v, &format!("{path}/{k}"), out);
            }
        }
        if let Some(items) = s.get("items").filter(|i| i.is_object()) {
            walk(items, &format!("{path}/[]"), out);
        }
        if let Some(values) = s.get("additionalProperties").filter(|v| v.is_object()) {
            walk(values, &format!("{path}/{{}}"), out);
        }
    }
    let mut out = BTreeMap::new();
    walk(schema, "", &mut out);
    out
}

/// The compared facets of one path.
#[derive(Default)]
struct Facets {
    types: BTreeSet<String>,
    enums: BTreeSet<String>,
    patterns: BTreeSet<String>,
    bounds: BTreeMap<&'static str, BTreeSet<String>>,
    required: BTreeSet<String>,
    key_names: BTreeSet<String>,
    closed: Option<bool>,
    default: Option<Value>,
    description: Option<Value>,
}

const BOUNDS: &[&str] =
    &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems"];

fn facets(nodes: &[&Value]) -> Facets {
    let top = |key: &str| nodes.first().and_then(|n| n.get(key)).cloned();
    let mut f = Facets { default: top("default"), description: top("description"), ..Facets::default() };
    for node in nodes {
        match node.get("type") {
            Some(Value::String(t)) => {
                f.types.insert(t.clone());
            }
            Some(Value::Array(ts)) => f.types.extend(ts.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
        for v in node.get("enum").and_then(Value::as_array).into_iter().flatten() {
            f.enums.insert(v.to_string());
        }
        if let Some(p) = node.get("pattern").and_then(Value::as_str) {
            f.patterns.insert(p.to_owned());
        }
        for bound in BOUNDS {
            if let Some(v) = node.get(*bound) {
                // Numerically: `0.0` and `0` are the same bound.
                let text = v.as_f64().map_or_else(|| v.to_string(), |f| f.to_string());
                f.bounds.entry(bound).or_default().insert(text);
            }
        }
        if let Some(names) = node.get("propertyNames") {
            f.key_names.insert(names.to_string());
        }
        for r in node.get("required").and_then(Value::as_array).into_iter().flatten() {
            f.required.extend(r.as_str().map(str::to_owned));
        }
        if let Some(Value::Bool(b)) = node.get("additionalProperties") {
            f.closed = Some(!b);
        }
    }
    f
}

/// One difference between the reference schema and ours.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Difference {
    pub path: String,
    pub facet: String,
    pub reference: String,
    pub ours: String,
}

fn set(s: &BTreeSet<String>) -> String {
    if s.is_empty() { "-".into() } else { s.iter().cloned().collect::<Vec<_>>().join(", ") }
}

/// Object keys with `_` replaced by `-` (the reference serializes nested object defaults with Python names).
fn dashed_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.replace('_', "-"), dashed_keys(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(dashed_keys).collect()),
        other => other.clone(),
    }
}

fn underscore_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k.contains('_') {
                    out.insert(k.clone());
                }
                underscore_keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| underscore_keys(v, out)),
        _ => {}
    }
}

fn show(v: &Option<Value>) -> String {
    v.as_ref().map_or_else(|| "-".into(), Value::to_string)
}

/// Lists every difference of the compared facets.
pub fn differences(reference: &Value, ours: &Value) -> Vec<Difference> {
    let theirs = collect(reference);
    let mine = collect(ours);
    let mut out = Vec::new();
    let mut diff = |path: &str, facet: &str, reference: String, ours: String| {
        out.push(Difference { path: path.to_owned(), facet: facet.to_owned(), reference, ours });
    };
    for path in theirs.keys().filter(|p| !mine.contains_key(*p)) {
        diff(path, "property", "present".into(), "MISSING".into());
    }
    for path in mine.keys().filter(|p| !theirs.contains_key(*p)) {
        diff(path, "property", "absent".into(), "present".into());
    }
    for (path, nodes) in &theirs {
        let Some(my_nodes) = mine.get(path) else { continue };
        let (r, o) = (facets(nodes), facets(my_nodes));
        if r.types != o.types {
            diff(path, "type", set(&r.types), set(&o.types));
        }
        if r.enums != o.enums {
            diff(path, "enum", set(&r.enums), set(&o.enums));
        }
        if r.patterns != o.patterns {
            diff(path, "pattern", set(&r.patterns), set(&o.patterns));
        }
        for bound in BOUNDS {
            let (rb, ob) =
                (r.bounds.get(bound).cloned().unwrap_or_default(), o.bounds.get(bound).cloned().unwrap_or_default());
            if rb != ob {
                diff(path, bound, set(&rb), set(&ob));
            }
        }
        if r.required != o.required {
            diff(path, "required", set(&r.required), set(&o.required));
        }
        if r.key_names != o.key_names {
            diff(path, "propertyNames", set(&r.key_names), set(&o.key_names));
        }
        if r.closed != o.closed {
            let show = |c: Option<bool>| match c {
                Some(true) => "false (closed)".to_owned(),
                Some(false) => "true".to_owned(),
                None => "-".to_owned(),
            };
            diff(path, "additionalProperties", show(r.closed), show(o.closed));
        }
        if r.description != o.description {
            diff(path, "description", show(&r.description), show(&o.description));
        }
        if r.default != o.default {
            if r.default.as_ref().map(dashed_keys) == o.default {
                // The same value with Python attribute names as keys: list the keys instead of the values.
                let mut keys = BTreeSet::new();
                underscore_keys(r.default.as_ref().unwrap_or(&Value::Null), &mut keys);
                let dashed: BTreeSet<String> = keys.iter().map(|k| k.replace('_', "-")).collect();
                diff(path, "default: keys spelled with `_`", set(&keys), set(&dashed));
            } else {
                diff(path, "default", show(&r.default), show(&o.default));
            }
        }
    }
    out.sort();
    out
}

pub fn reference_schema() -> Value {
    load_json(&examples_dir().join("config.schema.json"))
}

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.md")
}

const BEGIN: &str = "<!-- BEGIN GENERATED: schema differences (KRES_UPDATE_SCHEMA_DOC=1 cargo test -p kres-datamodel --test conformance schema_doc) -->";
const END: &str = "<!-- END GENERATED: schema differences -->";

fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text == "-" { text } else { format!("`{text}`") }
}

/// The generated table of differences.
pub fn difference_table(diffs: &[Difference]) -> String {
    let mut out = String::from("| path | facet | reference | ours |\n|---|---|---|---|\n");
    for d in diffs {
        let path = if d.path.is_empty() { "(root)".to_owned() } else { format!("`{}`", d.path) };
        out.push_str(&format!("| {path} | {} | {} | {} |\n", d.facet, cell(&d.reference), cell(&d.ours)));
    }
    out.push_str(&format!("\n{} differences.\n", diffs.len()));
    out
}

/// A property of the reference schema must exist in ours: the schema cannot silently lose a field.
#[test]
fn schema_has_every_reference_property() {
    let reference = reference_schema();
    let theirs = collect(&reference);
    let ours_schema = kres_datamodel::json_schema();
    let mine = collect(&ours_schema);
    let missing: Vec<&String> = theirs.keys().filter(|p| !mine.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} properties of the reference schema are missing from json_schema():\n  {}",
        missing.len(),
        missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("\n  ")
    );
    // The walk itself must see the whole tree (guards against a walker that finds nothing).
    assert!(theirs.len() > 150, "only {} paths found in the reference schema", theirs.len());
}

/// `docs/schema.md` lists exactly the current differences. Regenerate with `KRES_UPDATE_SCHEMA_DOC=1`.
#[test]
fn schema_doc_lists_current_differences() {
    let table = difference_table(&differences(&reference_schema(), &kres_datamodel::json_schema()));
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} has no generated section (markers {BEGIN} ... {END})", path.display());
    };
    let current = &doc[start + BEGIN.len()..end];
    let wanted = format!("\n{table}");
    if current == wanted {
        return;
    }
    if std::env::var_os("KRES_UPDATE_SCHEMA_DOC").is_some() {
        let updated = format!("{}{BEGIN}{wanted}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("updated {}", path.display());
        return;
    }
    let old: BTreeSet<&str> = current.lines().collect();
    let new: BTreeSet<&str> = wanted.lines().collect();
    let gone: Vec<&str> = old.difference(&new).copied().collect();
    let added: Vec<&str> = new.difference(&old).copied().collect();
    panic!(
        "the schema differences listed in {} are out of date.\nno longer true:\n  {}\nnew:\n  {}\n\
         Review them, explain new ones in the text of docs/schema.md, and regenerate the list with\n  \
         KRES_UPDATE_SCHEMA_DOC=1 cargo test -p kres-datamodel --test conformance schema_doc",
        path.display(),
        gone.join("\n  "),
        added.join("\n  ")
    );
}
