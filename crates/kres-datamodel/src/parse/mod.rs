//! Reading configuration text: JSON first, then YAML 1.1 (like the reference manager, which uses PyYAML's
//! safe loader, so `yes`/`no`/`on`/`off` are booleans). Duplicate keys are rejected in both, and every document
//! is read within the input [`Limits`] (nesting, values, keys, string length, YAML alias expansion).

mod json;
mod keys;
mod limits;
mod scalar;
mod yaml;

use std::fmt;

pub(crate) use limits::Budget;
pub use limits::{LIMIT_ERROR_PREFIX, Limits};
pub use yaml::{parse_yaml, parse_yaml_with};

use crate::node::{Mark, Node, Value};
use json::{JsonError, parse_json};

/// The text could not be read as JSON or YAML, or it exceeds an input limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub mark: Option<Mark>,
}

impl ParseError {
    /// The document was refused for exceeding one of the [`Limits`] (not for its syntax).
    pub fn is_limit(&self) -> bool {
        self.message.starts_with(LIMIT_ERROR_PREFIX)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mark {
            Some(m) => write!(f, "{m}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a configuration document. `source` names it in error messages (a file name, `request body`, ...).
/// An empty document is an empty mapping.
pub fn parse_document(text: &str, source: &str) -> Result<Node, ParseError> {
    parse_document_with(text, source, Limits::DEFAULT)
}

/// [`parse_document`] with other limits.
pub fn parse_document_with(text: &str, source: &str, limits: Limits) -> Result<Node, ParseError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match parse_json(text, limits) {
            Ok(node) => return Ok(node),
            // Valid JSON syntax with duplicate keys, or over a limit, must not fall back to YAML.
            Err(JsonError::Refused(message, line, col)) => {
                return Err(ParseError { message, mark: Some(Mark { source: source.into(), line, col }) });
            }
            Err(JsonError::Syntax(_)) => {}
        }
    }
    let node = parse_yaml_with(text, source, limits)?;
    Ok(match node.value {
        Value::Null => Node::with_mark(Value::Map(Vec::new()), node.mark),
        _ => node,
    })
}

/// Parses strict JSON, rejecting duplicate keys (positions are not kept).
pub fn parse_json_value(text: &str) -> Result<Node, ParseError> {
    parse_json(text, Limits::DEFAULT).map_err(|e| ParseError {
        message: match e {
            JsonError::Refused(m, line, col) => format!("{m} at line {line} column {col}"),
            JsonError::Syntax(m) => m,
        },
        mark: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        parse_yaml(text, "t").unwrap().value
    }

    #[test]
    fn yaml11_scalars() {
        assert_eq!(yaml("yes"), Value::Bool(true));
        assert_eq!(yaml("Off"), Value::Bool(false));
        assert_eq!(yaml("'yes'"), Value::Str("yes".into()));
        assert_eq!(yaml("0x1f"), Value::Int(31));
        assert_eq!(yaml("010"), Value::Int(8));
        assert_eq!(yaml("1:30"), Value::Int(90));
        assert_eq!(yaml("1_000"), Value::Int(1000));
        assert_eq!(yaml("5.5"), Value::Float(5.5));
        assert_eq!(yaml("1e5"), Value::Str("1e5".into()));
        assert_eq!(yaml("1.0e+5"), Value::Float(100000.0));
        assert_eq!(yaml("~"), Value::Null);
        assert_eq!(yaml(""), Value::Null);
        assert_eq!(yaml("10MB"), Value::Str("10MB".into()));
        assert_eq!(yaml("y"), Value::Str("y".into()));
        assert_eq!(yaml("99999999999999999999999"), Value::Float(99999999999999999999999.0));
    }

    #[test]
    fn duplicate_keys_rejected_with_position() {
        let err = parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml").unwrap_err();
        assert!(err.message.contains("duplicate key 'a'"), "{err}");
        assert_eq!(err.mark.unwrap().line, 3);
        let err = parse_document("{\"a\": 1, \"a\": 2}", "body").unwrap_err();
        assert!(err.message.contains("duplicate key 'a'"), "{err}");
    }

    #[test]
    fn json_first_then_yaml() {
        let n = parse_document("{\"x\": 1e5}", "b").unwrap();
        assert_eq!(n.get("x").unwrap().value, Value::Float(100000.0));
        let n = parse_document("", "b").unwrap();
        assert_eq!(n.value, Value::Map(vec![]));
    }

    #[test]
    fn quoted_merge_key_is_an_ordinary_key() {
        let n = parse_yaml("a: {x: 1}\nb:\n  '<<': 5\n", "t").unwrap();
        assert_eq!(n.get("b").unwrap().get("<<").unwrap().value, Value::Int(5));
    }

    #[test]
    fn large_mappings_detect_duplicates() {
        let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k42: again\n");
        let err = parse_yaml(&text, "t").unwrap_err();
        assert!(err.message.contains("duplicate key 'k42' (first defined on line 43)"), "{err}");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", "t").unwrap();
        let other = n.get("other").unwrap();
        assert_eq!(other.get("x").unwrap().value, Value::Int(1));
        assert_eq!(other.get("y").unwrap().value, Value::Int(3));
    }

    #[test]
    fn marks_are_one_based() {
        let n = parse_yaml("a:\n  b: 5\n", "f").unwrap();
        let m = n.get("a").unwrap().get("b").unwrap().mark.clone().unwrap();
        assert_eq!((m.line, m.col), (2, 6));
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    /// The classic "billion laughs": `levels` anchors, each a list of ten aliases of the previous one.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [\"lol\"]\n");
        for i in 1..=levels {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        text
    }

    fn limit_error(result: Result<Node, ParseError>) -> ParseError {
        let err = result.expect_err("the document must be refused");
        assert!(err.is_limit(), "not a limit error: {err}");
        err
    }

    #[test]
    fn alias_bombs_are_refused_at_the_alias() {
        for levels in [7, 9, 30] {
            let text = alias_bomb(levels);
            let err = limit_error(parse_yaml(&text, "bomb.yaml"));
            assert!(err.message.contains("YAML anchors and aliases expand to more than"), "{err}");
            let mark = err.mark.clone().expect("the alias position");
            assert_eq!(&*mark.source, "bomb.yaml");
            // The budget (10,000 values) runs out on level 4 (10^4 copies).
            assert_eq!(mark.line, 5, "{err}");
            // Same through the JSON-or-YAML entry point.
            assert!(parse_document(&text, "bomb.yaml").unwrap_err().is_limit());
        }
    }

    #[test]
    fn string_alias_bombs_are_refused() {
        // Few values, but each alias repeats a long string.
        let long = "x".repeat(100_000);
        let text = format!("s: &s {long}\nl: [{}]\n", vec!["*s"; 100].join(", "));
        let err = limit_error(parse_yaml(&text, "t"));
        assert!(err.message.contains("bytes of text"), "{err}");
    }

    #[test]
    fn nested_anchors_without_aliases_are_charged() {
        // Each anchor copies everything inside it: 60 nested anchored lists around 2,000 values.
        let inner = vec!["1"; 2000].join(", ");
        let text = format!("{}{inner}{}", (0..60).map(|i| format!("&n{i} [")).collect::<String>(), "]".repeat(60));
        limit_error(parse_yaml(&text, "t"));
    }

    #[test]
    fn ordinary_anchors_pass() {
        let mut text = String::from("opts: &o {dnssec: false, authoritative: false}\nforward:\n");
        for i in 0..2000 {
            text.push_str(&format!("  - subtree: z{i}.example.\n    options:\n      <<: *o\n      x: {i}\n"));
        }
        let node = parse_yaml(&text, "t").unwrap();
        let Value::List(items) = &node.get("forward").unwrap().value else { panic!("a list") };
        assert_eq!(items.len(), 2000);
        assert_eq!(items[1999].get("options").unwrap().get("dnssec").unwrap().value, Value::Bool(false));
    }

    #[test]
    fn deep_nesting_is_refused_in_yaml_and_json() {
        // Block sequences hit saphyr-parser's own recursion limit (also reported as a limit) first.
        for text in ["[".repeat(200), "{a: ".repeat(200), "- ".repeat(200), "[".repeat(1_000_000)] {
            let err = limit_error(parse_yaml(&text, "deep"));
            assert!(err.message.contains("nested"), "{err}");
            assert_eq!(err.mark.unwrap().line, 1);
        }
        let json = format!("{}1{}", "[".repeat(129), "]".repeat(129));
        assert!(parse_document(&json, "body").is_err());
        assert!(crate::json_patch::parse_json_strict(&json).is_err());
        // 128 levels are fine.
        let json = format!("{}1{}", "[".repeat(128), "]".repeat(128));
        assert!(parse_yaml(&json, "t").is_ok());
        // An alias may not carry a value past the limit either.
        let text =
            format!("a: &a {}1{}\nb: {}*a{}\n", "[".repeat(100), "]".repeat(100), "[".repeat(60), "]".repeat(60));
        let err = limit_error(parse_yaml(&text, "t"));
        assert!(err.message.contains("nested more than 128 levels"), "{err}");
    }

    fn small() -> Limits {
        Limits { max_keys: 100, max_string_bytes: 1000, max_values: 5000, ..Limits::DEFAULT }
    }

    #[test]
    fn key_count_is_limited_in_every_parser() {
        let yaml: String = (0..101).map(|i| format!("k{i}: {i}\n")).collect();
        let err = limit_error(parse_yaml_with(&yaml, "f.yaml", small()));
        assert!(err.message.contains("a mapping has more than 100 keys"), "{err}");
        assert_eq!(err.mark.unwrap().line, 101);
        let hundred: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        assert!(parse_yaml_with(&hundred, "f.yaml", small()).is_ok());
        let json = format!("{{{}}}", (0..101).map(|i| format!("\"k{i}\": {i}")).collect::<Vec<_>>().join(", "));
        let err = limit_error(parse_document_with(&json, "body", small()));
        assert!(err.message.contains("a mapping has more than 100 keys"), "{err}");
        assert_eq!(err.mark.unwrap().line, 1);
        let err = crate::json_patch::parse_json_strict_with(&json, small()).unwrap_err();
        assert!(err.contains("a mapping has more than 100 keys"), "{err}");
        // Merge keys count too.
        let merged = format!(
            "a: &a {{{}}}\nb: {{<<: *a, extra: 1}}\n",
            (0..100).map(|i| format!("k{i}: 1")).collect::<Vec<_>>().join(", ")
        );
        limit_error(parse_yaml_with(&merged, "t", small()));
    }

    #[test]
    fn values_and_strings_are_limited() {
        let list = format!("[{}]", vec!["1"; 5001].join(","));
        let err = limit_error(parse_yaml_with(&list, "t", small()));
        assert!(err.message.contains("more than 5000 values"), "{err}");
        limit_error(parse_document_with(&list, "t", small()));
        assert!(crate::json_patch::parse_json_strict_with(&list, small()).unwrap_err().contains("5000 values"));
        let long = format!("a: {}\n", "x".repeat(1001));
        let err = limit_error(parse_yaml_with(&long, "t", small()));
        assert!(err.message.contains("a string is longer than 1000 bytes"), "{err}");
        let long_key = format!("{}: 1\n", "k".repeat(1001));
        limit_error(parse_yaml_with(&long_key, "t", small()));
        let json = format!("{{\"a\": \"{}\"}}", "x".repeat(1001));
        limit_error(parse_document_with(&json, "t", small()));
    }

    #[test]
    fn huge_json_mappings_stay_linear() {
        // 200,000 distinct keys: a quadratic duplicate check would take hours here.
        let json = format!("{{{}}}", (0..200_000).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        let Value::Map(entries) = parse_document(&json, "t").unwrap().value else { panic!("a mapping") };
        assert_eq!(entries.len(), 200_000);
        let dup = format!("{}, \"k7\": 0}}", &json[..json.len() - 1]);
        assert!(parse_document(&dup, "t").unwrap_err().message.contains("duplicate key 'k7'"));
    }
}
