//! Running one conformance case: building its document (or standalone value), validating it and checking every
//! expectation the case states.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use base64::Engine;
use kres_datamodel::node::Node;
use kres_datamodel::parse::{parse_document, parse_yaml};
use kres_datamodel::{ConfigError, KresConfig, ValidationError, ValidationErrors, ValidationOptions};
use serde_json::Value;

use super::compare::{lookup, matches, path_within, splice};
use super::typed::{self, Ty};
use crate::data::{Case, Category};

/// The case fields the harness understands. Any other field fails the case, so that a new kind of expectation
/// cannot be skipped silently.
const KNOWN_FIELDS: &[&str] = &[
    "id",
    "input",
    "input_yaml",
    "input_base64",
    "file",
    "valid",
    "normalized",
    "error_path",
    "error_paths",
    "error_kind",
    "note",
    "reference_differs",
    "embed",
    "item_type",
    "endpoints",
    "lua_escaped",
    "lua_multiline",
];

/// Runs every case of `<category>.yaml` and fails with all failures at once.
pub fn run_category(category: &str) {
    let cat = Category::load(category);
    let cases = cat.cases();
    let failures = run_cases(&cases);
    eprintln!("{}: {} of {} cases passed", cat.file, cases.len() - failures.len(), cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases in {} failed:\n\n{}\n",
        failures.len(),
        cases.len(),
        cat.file,
        failures.join("\n\n")
    );
}

/// Runs the cases; returns one report per failing case.
pub fn run_cases(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|c| run_guarded(c).err().map(|e| format!("{} (group {}): {e}", c.id(), c.group_name())))
        .collect()
}

/// Runs a case; a panic in the datamodel is a failure of that case only.
pub fn run_guarded(c: &Case) -> Result<(), String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| run_case(c))) {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "<non-string panic payload>".into());
            Err(format!("PANICKED: {msg}\n  input: {}", Input::of(c).map(|i| i.describe()).unwrap_or_default()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Valid {
    True,
    False,
    Either,
}

/// What the input of a case is.
pub enum Input<'a> {
    Value(&'a Value),
    Yaml(&'a str),
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl<'a> Input<'a> {
    pub fn of(c: &Case<'a>) -> Result<Input<'a>, String> {
        let case = c.case;
        let given: Vec<&str> =
            ["input", "input_yaml", "input_base64", "file"].into_iter().filter(|k| case.get(*k).is_some()).collect();
        if given.len() != 1 {
            return Err(format!(
                "harness: expected exactly one of input/input_yaml/input_base64/file, found {given:?}"
            ));
        }
        Ok(match given[0] {
            "input" => Input::Value(&case["input"]),
            "input_yaml" => Input::Yaml(case["input_yaml"].as_str().ok_or("harness: input_yaml is not a string")?),
            "input_base64" => {
                let text = case["input_base64"].as_str().ok_or("harness: input_base64 is not a string")?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| format!("harness: input_base64 is not base64: {e}"))?;
                Input::Bytes(bytes)
            }
            _ => Input::File(c.file_base.join(case["file"].as_str().ok_or("harness: file is not a string")?)),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Input::Value(v) => format!("input {v}"),
            Input::Yaml(t) => format!("input_yaml {t:?}"),
            Input::Bytes(b) => format!("input_base64 bytes {:?}", String::from_utf8_lossy(b)),
            Input::File(p) => format!("file {}", p.display()),
        }
    }

    /// The input as a single value (an embedded or standalone case). `Err` is a parse failure.
    fn value_node(&self, source: &str) -> Result<Result<Node, String>, String> {
        Ok(match self {
            Input::Value(v) => Ok(Node::from_json(v)),
            Input::Yaml(text) => parse_yaml(text, source).map_err(|e| e.to_string()),
            Input::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => parse_yaml(text, source).map_err(|e| e.to_string()),
                Err(e) => Err(format!("not valid UTF-8: {e}")),
            },
            Input::File(p) => return Err(format!("harness: a file ({}) cannot be an embedded value", p.display())),
        })
    }

    /// The input as a whole document, read the way the manager reads configuration text.
    fn document(&self, source: &str) -> Result<Outcome<Node>, String> {
        let text_outcome = |text: &str| match parse_document(text, source) {
            Ok(node) => Outcome::Valid(node),
            Err(e) => Outcome::ParseError(e.to_string()),
        };
        Ok(match self {
            Input::Value(v) => Outcome::Valid(Node::from_json(v)),
            Input::Yaml(text) => text_outcome(text),
            Input::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => text_outcome(text),
                Err(e) => Outcome::ParseError(format!("not valid UTF-8: {e}")),
            },
            Input::File(path) => match kres_datamodel::read_files(std::slice::from_ref(path)) {
                Ok(node) => Outcome::Valid(node),
                Err(ConfigError::Parse { error, .. }) => Outcome::ParseError(error.to_string()),
                Err(ConfigError::Invalid(errors)) => Outcome::Invalid(errors),
                Err(e) => return Err(format!("harness: cannot read {}: {e}", path.display())),
            },
        })
    }
}

/// The result of reading and validating a case.
pub enum Outcome<T> {
    ParseError(String),
    Invalid(ValidationErrors),
    Valid(T),
}

/// What a case is checked as.
enum Subject {
    /// A whole configuration; `at` is the embed pointer (`""` for whole documents).
    Config { at: String, group_ty: Option<Ty> },
    /// A value parsed with one type alone.
    Standalone(Ty),
}

fn run_case(c: &Case) -> Result<(), String> {
    if let Some(unknown) = c.case.as_object().and_then(|m| m.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str()))) {
        return Err(format!("harness: unknown case field '{unknown}' (not checked by this harness)"));
    }
    let valid = match &c.case["valid"] {
        Value::Bool(true) => Valid::True,
        Value::Bool(false) => Valid::False,
        Value::String(s) if s == "either" => Valid::Either,
        other => return Err(format!("harness: 'valid' must be true, false or \"either\", got {other}")),
    };
    let input = Input::of(c)?;
    let group_ty = typed::group_type(c.group_name());
    let item_ty = match c.case.get("item_type") {
        None => None,
        Some(t) => Some(
            t.as_str().and_then(typed::list_or_item).ok_or_else(|| format!("harness: unsupported item_type {t}"))?,
        ),
    };
    let embed = c.embed();
    let subject = match (embed, item_ty.or(group_ty)) {
        (Some(embed), _) => {
            let at = embed["at"].as_str().ok_or("harness: embed has no string 'at'")?;
            Subject::Config { at: at.to_owned(), group_ty }
        }
        (None, Some(ty)) if !matches!(input, Input::File(_)) => Subject::Standalone(ty),
        (None, _) => Subject::Config { at: String::new(), group_ty },
    };

    let checked = match &subject {
        Subject::Standalone(ty) => {
            let outcome = match input.value_node(c.id())? {
                Err(e) => Outcome::ParseError(e),
                Ok(node) => match typed::parse_as(*ty, &node) {
                    Ok(v) => Outcome::Valid(v),
                    Err(e) => Outcome::Invalid(e),
                },
            };
            check_outcome(c, valid, outcome)?.map(Accepted::Standalone)
        }
        Subject::Config { at, .. } => {
            let outcome = match build_document(c, &input, embed, at)? {
                Outcome::Valid(doc) => match kres_datamodel::validate(&doc, &ValidationOptions::lenient()) {
                    Ok(config) => Outcome::Valid(Box::new(config)),
                    Err(e) => Outcome::Invalid(e),
                },
                Outcome::ParseError(e) => Outcome::ParseError(e),
                Outcome::Invalid(e) => Outcome::Invalid(e),
            };
            check_outcome(c, valid, outcome)?.map(Accepted::Config)
        }
    };
    let Some(accepted) = checked else { return Ok(()) };
    if valid == Valid::Either {
        return Ok(());
    }
    check_accepted(c, &input, &subject, &accepted).map_err(|e| format!("{e}\n  {}", input.describe()))
}

/// The whole document of a (non-standalone) case: the template with the value spliced in at `at`, or the input.
fn build_document(c: &Case, input: &Input, embed: Option<&Value>, at: &str) -> Result<Outcome<Node>, String> {
    Ok(match embed {
        Some(embed) => match input.value_node(c.id())? {
            Err(e) => Outcome::ParseError(e),
            Ok(value) => {
                let mut doc = Node::from_json(&embed["template"]);
                splice(&mut doc, at, value)?;
                Outcome::Valid(doc)
            }
        },
        None => input.document(c.id())?,
    })
}

/// The case files run by the category tests.
pub const CATEGORIES: &[&str] =
    &["value-types", "generic", "network", "forward", "local-data", "management", "lua", "whole-config"];

/// The documents of every `valid: true` case that is a whole configuration (embedded values spliced into their
/// templates), as JSON, named by case id.
pub fn valid_documents() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for category in CATEGORIES {
        let cat = Category::load(category);
        for c in cat.cases() {
            if c.case["valid"] != Value::Bool(true) {
                continue;
            }
            let Ok(input) = Input::of(&c) else { continue };
            let embed = c.embed();
            let standalone = c.case.get("item_type").is_some() || typed::group_type(c.group_name()).is_some();
            if embed.is_none() && standalone && !matches!(input, Input::File(_)) {
                continue;
            }
            let at = embed.and_then(|e| e["at"].as_str()).unwrap_or("");
            if let Ok(Outcome::Valid(doc)) = build_document(&c, &input, embed, at) {
                out.push((format!("{category}/{}", c.id()), doc.to_json()));
            }
        }
    }
    out
}

enum Accepted {
    Config(Box<KresConfig>),
    Standalone(Value),
}

/// Checks acceptance / rejection. Returns the accepted value for the checks of valid cases.
fn check_outcome<T>(c: &Case, valid: Valid, outcome: Outcome<T>) -> Result<Option<T>, String> {
    let case = c.case;
    let input = Input::of(c)?.describe();
    let parse_expected = match case.get("error_kind").and_then(Value::as_str) {
        None => false,
        Some("parse") => true,
        Some(other) => return Err(format!("harness: unknown error_kind '{other}'")),
    };
    let mut expected_paths: Vec<&str> = Vec::new();
    if let Some(p) = case.get("error_path") {
        expected_paths.push(p.as_str().ok_or("harness: error_path is not a string")?);
    }
    if let Some(list) = case.get("error_paths") {
        for p in list.as_array().ok_or("harness: error_paths is not a list")? {
            expected_paths.push(p.as_str().ok_or("harness: error_paths holds a non-string")?);
        }
    }
    let expectation = if parse_expected {
        "a parse error".to_owned()
    } else if expected_paths.is_empty() {
        "a rejection".to_owned()
    } else {
        format!(
            "a rejection naming {}",
            expected_paths.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
        )
    };
    match (valid, outcome) {
        (Valid::Either, Outcome::Valid(v)) => Ok(Some(v)),
        (Valid::Either, _) => Ok(None),
        (Valid::True, Outcome::Valid(v)) => Ok(Some(v)),
        (Valid::True, Outcome::ParseError(e)) => Err(format!("expected valid, got a parse error: {e}\n  {input}")),
        (Valid::True, Outcome::Invalid(errors)) => {
            Err(format!("expected valid, got errors:\n{}  {input}", format_errors(&errors.0)))
        }
        (Valid::False, Outcome::Valid(_)) => Err(format!("expected {expectation}, but it was accepted\n  {input}")),
        (Valid::False, Outcome::ParseError(_)) if parse_expected => Ok(None),
        (Valid::False, Outcome::ParseError(e)) => {
            Err(format!("expected {expectation}, got a parse error instead: {e}\n  {input}"))
        }
        (Valid::False, Outcome::Invalid(errors)) if parse_expected => Err(format!(
            "expected a parse error, but the document parsed and validation failed:\n{}  {input}",
            format_errors(&errors.0)
        )),
        (Valid::False, Outcome::Invalid(errors)) => {
            let missing: Vec<&str> = expected_paths
                .iter()
                .copied()
                .filter(|want| !errors.0.iter().any(|e| path_within(e.path.as_str(), want)))
                .collect();
            if missing.is_empty() {
                Ok(None)
            } else {
                Err(format!(
                    "expected {expectation}; no error at or below {}; got errors:\n{}  {input}",
                    missing.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", "),
                    format_errors(&errors.0)
                ))
            }
        }
    }
}

fn format_errors(errors: &[ValidationError]) -> String {
    if errors.is_empty() {
        return "    (no errors reported)\n".into();
    }
    errors.iter().map(|e| format!("    \"{}\": {}\n", e.path.as_str(), e.message)).collect()
}

/// The checks of an accepted case: `normalized`, `lua_escaped`, `lua_multiline`, `endpoints`.
fn check_accepted(c: &Case, input: &Input, subject: &Subject, accepted: &Accepted) -> Result<(), String> {
    let case = c.case;
    let value_node = || -> Result<Node, String> {
        input.value_node(c.id())?.map_err(|e| format!("harness: the input does not parse as a value: {e}"))
    };
    let mut problems = Vec::new();

    if let Some(normalized) = case.get("normalized") {
        let result = match (subject, accepted) {
            (Subject::Standalone(ty), Accepted::Standalone(value)) => {
                match typed::typed_normalization(Some(*ty), normalized) {
                    Some(other) if other != *ty => typed_check(other, &value_node()?, normalized),
                    _ => matches(normalized, Some(value), "").map_err(|e| format!("normalized differs: {e}")),
                }
            }
            (Subject::Config { at, group_ty }, Accepted::Config(config)) => {
                let json = serde_json::to_value(config.as_ref()).map_err(|e| format!("cannot serialize: {e}"))?;
                match typed::typed_normalization(*group_ty, normalized) {
                    Some(ty) => typed_check(ty, &value_node()?, normalized).and_then(|()| {
                        // The configuration keeps the text as written.
                        match normalized.get("string") {
                            Some(text) if !at.is_empty() => matches(text, lookup(&json, at), at)
                                .map_err(|e| format!("the configuration does not keep the text: {e}")),
                            _ => Ok(()),
                        }
                    }),
                    None => config_normalized(normalized, &json, at),
                }
            }
            _ => Err("harness: subject and result disagree".into()),
        };
        if let Err(e) = result {
            problems.push(e);
        }
    }

    for (field, multiline) in [("lua_escaped", false), ("lua_multiline", true)] {
        let Some(want) = case.get(field) else { continue };
        let want = want.as_str().ok_or_else(|| format!("harness: {field} is not a string"))?;
        match typed::escaped(&value_node()?) {
            Ok((escaped, long)) => {
                let got = if multiline { long } else { escaped };
                if got != want {
                    problems.push(format!("{field}: got {got:?}, expected {want:?}"));
                }
            }
            Err(e) => problems.push(format!("{field}: the value is not an EscapedStr:\n{}", format_errors(&e.0))),
        }
    }

    if let Some(want) = case.get("endpoints") {
        let Accepted::Config(config) = accepted else {
            return Err("harness: endpoints given for a standalone case".into());
        };
        let at = match subject {
            Subject::Config { at, .. } => at.as_str(),
            Subject::Standalone(_) => "",
        };
        let listen = &config.network.listen;
        let items: Vec<_> = match at.strip_prefix("/network/listen/").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => listen.get(i).into_iter().collect(),
            None => listen.iter().collect(),
        };
        let got: Vec<Value> = items
            .iter()
            .flat_map(|item| item.endpoints())
            .map(|e| serde_json::to_value(e).map_err(|err| format!("cannot serialize endpoint: {err}")))
            .collect::<Result<_, _>>()?;
        let got = Value::Array(got);
        if &got != want {
            problems.push(format!("endpoints: got {got}, expected {want}"));
        }
    }

    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n  ")) }
}

/// Parses the value with `ty` alone and compares its typed form.
fn typed_check(ty: Ty, node: &Node, normalized: &Value) -> Result<(), String> {
    match typed::parse_as(ty, node) {
        Ok(got) => matches(normalized, Some(&got), "").map_err(|e| format!("normalized ({ty:?}) differs: {e}")),
        Err(e) => Err(format!("normalized: the value does not parse as {ty:?} alone:\n{}", format_errors(&e.0))),
    }
}

/// Compares the value at `at` in the serialized configuration. A `ListOrItem` serializes in the shape it was
/// written (like the reference); its normalized form is the list, so a single item is compared as a one-item list.
fn config_normalized(normalized: &Value, json: &Value, at: &str) -> Result<(), String> {
    let got = lookup(json, at);
    let wrapped;
    let got = match (normalized, got) {
        (Value::Array(_), Some(v)) if !v.is_array() && !v.is_null() => {
            wrapped = Value::Array(vec![v.clone()]);
            Some(&wrapped)
        }
        _ => got,
    };
    matches(normalized, got, at).map_err(|e| format!("normalized differs: {e}"))
}
