//! Names and strings: Lua-escaped strings, domain names, interface names, tags, certificate pins.

use serde_json::json;

use super::{parsed_text, text_value};
use crate::model::{Ctx, FromKey, FromNode, describe};
use crate::node::{Node, Value};
use crate::path::Path;

/// A free string that is rendered into Lua (always through [`crate::lua::escape`]). Integers are accepted and
/// converted to text; floats, booleans and compound values are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EscapedStr(String);

impl EscapedStr {
    pub fn new(text: impl Into<String>) -> Self {
        EscapedStr(text.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The text escaped for a single-quoted Lua string.
    pub fn lua_escaped(&self) -> String {
        crate::lua::escape::escape(&self.0)
    }
    /// The text escaped for a `[[ ]]` Lua long string.
    pub fn lua_multiline(&self) -> String {
        crate::lua::escape::escape_multiline(&self.0)
    }
}

fn escaped_text(node: &Node, cx: &mut Ctx, path: &Path) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => {
            cx.error(path, Some(node), format!("expected a string, got {}", describe(node)));
            None
        }
    }
}

impl FromNode for EscapedStr {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        escaped_text(node, cx, path).map(EscapedStr)
    }
    /// Integers too, since they are accepted (the reference schema says only `string`).
    fn schema() -> serde_json::Value {
        json!({"type": ["string", "integer"]})
    }
}

/// An [`EscapedStr`] of at least 32 bytes (TLS session ticket secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapedStr32B(EscapedStr);

impl EscapedStr32B {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn lua_escaped(&self) -> String {
        self.0.lua_escaped()
    }
}

impl FromNode for EscapedStr32B {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        let text = escaped_text(node, cx, path)?;
        if text.len() < 32 {
            cx.error(
                path,
                Some(node),
                format!("the string is {} bytes long, at least 32 bytes are required", text.len()),
            );
            return None;
        }
        Some(EscapedStr32B(EscapedStr(text)))
    }
    fn schema() -> serde_json::Value {
        json!({"type": "string", "minLength": 32})
    }
}

text_value!(EscapedStr, EscapedStr32B);

/// A domain name, relative or absolute (`.` is the root). IDN labels are converted to punycode.
#[derive(Debug, Clone)]
pub struct DomainName {
    text: String,
    punycode: String,
}

impl PartialEq for DomainName {
    /// Names compare equal with or without the trailing dot, like the reference.
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

impl DomainName {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "." {
            return Ok(DomainName { text: text.into(), punycode: text.into() });
        }
        let bad = |why: &str| format!("'{text}' is not a valid domain name: {why}");
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let body = text.strip_suffix('.').unwrap_or(text);
        if text.is_ascii() {
            // Fast path (the common case): check the labels in place, no conversion needed.
            for label in body.split('.') {
                check_label(label, label).map_err(|why| bad(&why))?;
            }
            if body.len() > 253 {
                return Err(bad("it is longer than 253 characters"));
            }
            return Ok(DomainName { text: text.to_owned(), punycode: text.to_owned() });
        }
        let mut labels = Vec::new();
        for label in body.split('.') {
            if label.is_empty() {
                return Err(bad("it has an empty label"));
            }
            let ascii = if label.is_ascii() {
                label.to_owned()
            } else {
                match idna::punycode::encode_str(&label.to_lowercase()) {
                    Some(p) => format!("xn--{p}"),
                    None => return Err(bad(&format!("label '{label}' cannot be converted to punycode"))),
                }
            };
            check_label(&ascii, label).map_err(|why| bad(&why))?;
            labels.push(ascii);
        }
        let mut punycode = labels.join(".");
        if punycode.len() > 253 {
            return Err(bad("it is longer than 253 characters"));
        }
        if text.ends_with('.') {
            punycode.push('.');
        }
        Ok(DomainName { text: text.to_owned(), punycode })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The name with IDN labels in punycode (what kresd gets).
    pub fn punycode(&self) -> &str {
        &self.punycode
    }
    /// The punycode form without a trailing dot (the root stays `.`), for comparisons.
    pub fn canonical(&self) -> &str {
        if self.is_root() { "." } else { self.punycode.trim_end_matches('.') }
    }

    pub fn is_root(&self) -> bool {
        self.text == "."
    }
}

/// Checks one label in its ASCII (punycode) form; `written` is how the user wrote it (for the message).
fn check_label(ascii: &str, written: &str) -> Result<(), String> {
    if ascii.is_empty() {
        return Err("it has an empty label".into());
    }
    if ascii.len() > 63 {
        return Err(format!("label '{written}' is longer than 63 characters"));
    }
    if ascii.starts_with('-') || ascii.ends_with('-') {
        return Err(format!("label '{written}' starts or ends with '-'"));
    }
    Ok(())
}

text_value!(DomainName);
parsed_text!(
    DomainName,
    // The reference's Python regex with `{,n}` spelled `{0,n}`: JSON Schema patterns are ECMA-262 regexes, where
    // `{,n}` is not a quantifier (literal text, or a syntax error with the `u` flag).
    json!({"type": "string", "pattern": "(?=^.{0,253}\\.?$)(^(?!-)[^.]{0,62}[^.-](\\.(?!-)[^.]{0,62}[^.-])*\\.?$)|^\\.$"})
);

impl FromKey for DomainName {
    fn from_key(key: &str, cx: &mut Ctx, path: &Path, node: &Node) -> Option<Self> {
        match DomainName::parse(key) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error(path, Some(node), e);
                None
            }
        }
    }
    fn key_schema() -> serde_json::Value {
        DomainName::schema()
    }
}

fn is_alnum_groups(text: &str, seps: &[char]) -> bool {
    !text.is_empty()
        && text.split(seps).all(|group| !group.is_empty() && group.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A network interface name (`eth0`, `web_ifgrp`, `e8-2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InterfaceName(String);

impl InterfaceName {
    pub fn parse(text: &str) -> Result<Self, String> {
        if is_alnum_groups(text, &['-', '_']) {
            Ok(InterfaceName(text.into()))
        } else {
            Err(format!(
                "'{text}' is not a valid interface name: use letters and digits, groups joined by single '-' or '_'"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(InterfaceName);
parsed_text!(InterfaceName, json!({"type": "string", "pattern": "^[a-zA-Z0-9]+(?:[-_][a-zA-Z0-9]+)*$"}));

/// A tag identifier: lowercase letters, digits and `-`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdPattern(String);

impl IdPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && !text.starts_with('-')
            && !text.ends_with('-')
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(IdPattern(text.into()))
        } else {
            Err(format!("'{text}' is not a valid tag: use lowercase letters, digits and '-', not at the start or end"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(IdPattern);
parsed_text!(IdPattern, json!({"type": "string", "pattern": "^(?!-)[a-z0-9-]*[a-z0-9]+$"}));

/// A base64 SHA-256 public key pin (44 characters ending with `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinSha256(String);

impl PinSha256 {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = text.len() == 44
            && text.ends_with('=')
            && text[..43].chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
        if ok {
            Ok(PinSha256(text.into()))
        } else {
            Err(format!("'{text}' is not a valid pin-sha256: expected 43 base64 characters followed by '='"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(PinSha256);
parsed_text!(PinSha256, json!({"type": "string", "pattern": "^[A-Za-z\\d+/]{43}=$"}));
