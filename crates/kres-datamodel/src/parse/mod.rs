//! Reading configuration text: JSON first, then YAML 1.1 (like the reference manager, which uses PyYAML's
//! safe loader, so `yes`/`no`/`on`/`off` are booleans). Duplicate keys are rejected in both.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::node::{Mark, Node, Value};

/// The text could not be read as JSON or YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub mark: Option<Mark>,
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
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match parse_json(text) {
            Ok(node) => return Ok(node),
            // Valid JSON syntax with duplicate keys must not fall back to YAML.
            Err(JsonError::Duplicate(e)) => return Err(ParseError { message: e, mark: None }),
            Err(JsonError::Syntax(_)) => {}
        }
    }
    let node = parse_yaml(text, source)?;
    Ok(match node.value {
        Value::Null => Node::with_mark(Value::Map(Vec::new()), node.mark),
        _ => node,
    })
}

/// Parses strict JSON, rejecting duplicate keys (positions are not kept).
pub fn parse_json_value(text: &str) -> Result<Node, ParseError> {
    parse_json(text).map_err(|e| ParseError {
        message: match e {
            JsonError::Duplicate(m) | JsonError::Syntax(m) => m,
        },
        mark: None,
    })
}

enum JsonError {
    Syntax(String),
    Duplicate(String),
}

fn parse_json(text: &str) -> Result<Node, JsonError> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let node = NodeSeed.deserialize(&mut de).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("duplicate key") { JsonError::Duplicate(msg) } else { JsonError::Syntax(msg) }
    })?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(node)
}

struct NodeSeed;

impl<'de> serde::de::DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::new(Value::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::new(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::new(Value::Int(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v).map(|i| Node::new(Value::Int(i))).map_err(|_| E::custom(format!("integer {v} is too large")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::new(Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::new(Value::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::new(Value::Str(v)))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed)? {
            items.push(item);
        }
        Ok(Node::new(Value::List(items)))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(serde::de::Error::custom(format!("duplicate key '{key}'")));
            }
            let value = map.next_value_seed(NodeSeed)?;
            entries.push((key, value));
        }
        Ok(Node::new(Value::Map(entries)))
    }
}

/// Parses one YAML document with YAML 1.1 scalar typing.
pub fn parse_yaml(text: &str, source: &str) -> Result<Node, ParseError> {
    let source: Arc<str> = Arc::from(source);
    let mut builder =
        YamlBuilder { source: source.clone(), anchors: HashMap::new(), stack: Vec::new(), docs: Vec::new() };
    let parser = Parser::new_from_str(text);
    for item in parser {
        let (event, span) = item.map_err(|e| ParseError {
            message: format!("invalid YAML: {}", e.info()),
            mark: Some(Mark { source: source.clone(), line: e.marker().line(), col: e.marker().col() + 1 }),
        })?;
        builder.event(event, span)?;
    }
    match builder.docs.len() {
        0 => Ok(Node::new(Value::Null)),
        1 => Ok(builder.docs.pop().unwrap_or_else(|| Node::new(Value::Null))),
        _ => Err(ParseError { message: "expected a single YAML document, found several".into(), mark: None }),
    }
}

enum Frame {
    List {
        items: Vec<Node>,
        anchor: usize,
        mark: Mark,
    },
    Map {
        entries: Vec<(String, Node)>,
        /// The pending key, its position, and whether it was a plain (unquoted) scalar.
        key: Option<(String, Mark, bool)>,
        anchor: usize,
        mark: Mark,
        merges: Vec<Node>,
        /// Key hash → entry index, built once a mapping is large (duplicate checks stay linear in the document
        /// size).
        index: Option<KeyIndex>,
    },
}

struct YamlBuilder {
    source: Arc<str>,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
}

impl YamlBuilder {
    fn mark(&self, span: &Span) -> Mark {
        Mark { source: self.source.clone(), line: span.start.line(), col: span.start.col() + 1 }
    }

    fn err(&self, message: String, mark: Mark) -> ParseError {
        ParseError { message, mark: Some(mark) }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), ParseError> {
        let mark = self.mark(&span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                // A key of a mapping stays text (with its position for duplicate-key errors).
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some((text.into_owned(), mark, style == ScalarStyle::Plain && tag.is_none()));
                    return Ok(());
                }
                let value = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|m| ParseError { message: m, mark: Some(mark.clone()) })?;
                let node = Node::with_mark(value, Some(mark));
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node)
            }
            Event::SequenceStart(anchor, _) => {
                self.check_not_key(&mark)?;
                self.stack.push(Frame::List { items: Vec::new(), anchor, mark });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.check_not_key(&mark)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    anchor,
                    mark,
                    merges: Vec::new(),
                    index: None,
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::List { items, anchor, mark }) => {
                    self.finish(Node::with_mark(Value::List(items), Some(mark)), anchor)
                }
                _ => Err(self.err("unbalanced YAML sequence".into(), mark)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { mut entries, anchor, mark, merges, mut index, .. }) => {
                    // YAML 1.1 merge keys (`<<: *anchor`): explicit keys win over merged ones.
                    for merged in merges {
                        let sources = match merged.value {
                            Value::Map(m) => vec![m],
                            Value::List(items) => items
                                .into_iter()
                                .map(|i| match i.value {
                                    Value::Map(m) => Ok(m),
                                    _ => Err(self.err(
                                        "a merge key ('<<') needs a mapping or a list of mappings".into(),
                                        mark.clone(),
                                    )),
                                })
                                .collect::<Result<_, _>>()?,
                            _ => {
                                return Err(
                                    self.err("a merge key ('<<') needs a mapping or a list of mappings".into(), mark)
                                );
                            }
                        };
                        for m in sources {
                            for (k, v) in m {
                                if find_key(&entries, &mut index, &k).is_none() {
                                    index_key(&mut index, &k, entries.len());
                                    entries.push((k, v));
                                }
                            }
                        }
                    }
                    self.finish(Node::with_mark(Value::Map(entries), Some(mark)), anchor)
                }
                _ => Err(self.err("unbalanced YAML mapping".into(), mark)),
            },
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => n.clone(),
                    None => return Err(self.err("unknown YAML alias".into(), mark)),
                };
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    match node.value {
                        Value::Str(s) => {
                            *key = Some((s, mark, false));
                            return Ok(());
                        }
                        _ => return Err(self.err("a mapping key must be a scalar".into(), mark)),
                    }
                }
                self.push_value(Node { value: node.value, mark: Some(mark) })
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd | Event::Nothing => {
                Ok(())
            }
        }
    }

    fn check_not_key(&self, mark: &Mark) -> Result<(), ParseError> {
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(
                self.err("a mapping key must be a scalar (complex keys are not supported)".into(), mark.clone())
            );
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), ParseError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push_value(node)
    }

    fn push_value(&mut self, node: Node) -> Result<(), ParseError> {
        match self.stack.last_mut() {
            None => {
                self.docs.push(node);
                Ok(())
            }
            Some(Frame::List { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map { entries, key, merges, index, .. }) => {
                let Some((k, kmark, plain)) = key.take() else {
                    return Err(ParseError { message: "a mapping value without a key".into(), mark: node.mark });
                };
                if plain && k == "<<" {
                    merges.push(node);
                    return Ok(());
                }
                if let Some(i) = find_key(entries, index, &k) {
                    let first_line = entries[i]
                        .1
                        .mark
                        .as_ref()
                        .map(|m| format!(" (first defined on line {})", m.line))
                        .unwrap_or_default();
                    return Err(ParseError { message: format!("duplicate key '{k}'{first_line}"), mark: Some(kmark) });
                }
                index_key(index, &k, entries.len());
                entries.push((k, node));
                Ok(())
            }
        }
    }
}

/// Mappings with more keys than this get a hash index for duplicate detection.
const INDEX_THRESHOLD: usize = 32;

/// Key hash (FNV-1a) → index of the first entry with that hash. Keys are not copied; a hash hit is confirmed by
/// comparing the key, and a true collision falls back to a linear scan.
type KeyIndex = HashMap<u64, usize, std::hash::BuildHasherDefault<IdentityHasher>>;

/// The hash of a key is already well mixed (FNV-1a), so the map uses it as is.
#[derive(Default)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The index of `key` in a mapping's entries; builds the hash index once the mapping is large.
fn find_key(entries: &[(String, Node)], index: &mut Option<KeyIndex>, key: &str) -> Option<usize> {
    if index.is_none() && entries.len() >= INDEX_THRESHOLD {
        let mut ix = KeyIndex::default();
        for (i, (k, _)) in entries.iter().enumerate() {
            ix.entry(fnv1a(k.as_bytes())).or_insert(i);
        }
        *index = Some(ix);
    }
    match index {
        Some(ix) => match ix.get(&fnv1a(key.as_bytes())) {
            None => None,
            Some(&i) if entries[i].0 == key => Some(i),
            Some(_) => entries.iter().position(|(k, _)| k == key),
        },
        None => entries.iter().position(|(k, _)| k == key),
    }
}

/// Records a new entry at `position` in the index (if the mapping has one).
fn index_key(index: &mut Option<KeyIndex>, key: &str, position: usize) {
    if let Some(ix) = index.as_mut() {
        ix.entry(fnv1a(key.as_bytes())).or_insert(position);
    }
}

/// Resolves a scalar with YAML 1.1 rules (PyYAML's SafeLoader resolvers).
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        let name = if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" { tag.suffix.as_str() } else { "" };
        return match name {
            "str" => Ok(Value::Str(text.to_owned())),
            "null" => Ok(Value::Null),
            "bool" => yaml11_bool(text).map(Value::Bool).ok_or_else(|| format!("'{text}' is not a boolean")),
            "int" => yaml11_int(text).map(Value::Int).ok_or_else(|| format!("'{text}' is not an integer")),
            "float" => yaml11_float(text)
                .or_else(|| yaml11_int(text).map(|i| i as f64))
                .map(Value::Float)
                .ok_or_else(|| format!("'{text}' is not a number")),
            _ => Err(format!("unsupported YAML tag '{}{}'", tag.handle, tag.suffix)),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::Str(text.to_owned()));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = yaml11_bool(text) {
        return Ok(Value::Bool(b));
    }
    if let Some(i) = yaml11_int(text) {
        return Ok(Value::Int(i));
    }
    if looks_like_yaml11_int(text) {
        // Too large for 64 bits: keep it a number so that validation reports it at its path (an integer field
        // rejects it as out of range) instead of failing the whole document.
        let digits: String = text.chars().filter(|c| *c != '_').collect();
        return digits.parse::<f64>().map(Value::Float).map_err(|_| format!("'{text}' is not a number"));
    }
    if let Some(f) = yaml11_float(text) {
        return Ok(Value::Float(f));
    }
    Ok(Value::Str(text.to_owned()))
}

fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

fn looks_like_yaml11_int(text: &str) -> bool {
    let (_, body) = split_sign(text);
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || b == b'_') && body.as_bytes()[0].is_ascii_digit()
}

/// YAML 1.1 integers: decimal, `0b` binary, `0` octal, `0x` hex, `_` separators, base 60 (`1:30`).
fn yaml11_int(text: &str) -> Option<i64> {
    let (neg, body) = split_sign(text);
    if body.is_empty() {
        return None;
    }
    let digits = |s: &str, radix: u32| -> Option<i64> {
        if !s.chars().all(|c| c == '_' || c.is_digit(radix)) {
            return None;
        }
        if !s.contains('_') {
            return if s.is_empty() { None } else { i64::from_str_radix(s, radix).ok() };
        }
        let cleaned: String = s.chars().filter(|c| *c != '_').collect();
        if cleaned.is_empty() { None } else { i64::from_str_radix(&cleaned, radix).ok() }
    };
    let magnitude = if let Some(rest) = body.strip_prefix("0b") {
        digits(rest, 2)?
    } else if let Some(rest) = body.strip_prefix("0x") {
        digits(rest, 16)?
    } else if body == "0" {
        0
    } else if let Some(rest) = body.strip_prefix('0') {
        digits(rest, 8)?
    } else if body.contains(':') {
        if !body.as_bytes()[0].is_ascii_digit() || body.starts_with('0') {
            return None;
        }
        let mut total: i64 = 0;
        for (i, part) in body.split(':').enumerate() {
            let v = digits(part, 10)?;
            if i > 0 && (v > 59 || part.len() > 2) {
                return None;
            }
            total = total.checked_mul(60)?.checked_add(v)?;
        }
        total
    } else {
        if !body.as_bytes()[0].is_ascii_digit() {
            return None;
        }
        digits(body, 10)?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// YAML 1.1 floats as PyYAML resolves them (a dot is required, `.inf`, `.nan`).
fn yaml11_float(text: &str) -> Option<f64> {
    let (neg, body) = split_sign(text);
    let sign = if neg { -1.0 } else { 1.0 };
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if text == body => return Some(f64::NAN),
        _ => {}
    }
    // [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?  or  \.[0-9_]+([eE][-+][0-9]+)?
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.')?;
    let int_ok = if int_part.is_empty() {
        !neg && text == body && !frac_part.is_empty()
    } else {
        int_part.as_bytes()[0].is_ascii_digit() && int_part.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    };
    if !int_ok || !frac_part.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    if let Some(exp) = exponent {
        let (_, digits) = exp.split_at(1.min(exp.len()));
        if !(exp.starts_with('+') || exp.starts_with('-'))
            || digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
    }
    let cleaned: String = body.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok().map(|f| sign * f)
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
