//! Names and strings: Lua-escaped strings, domain names, interface names, tags, certificate pins.

use serde_json::json;

use super::text::{Layout, describe_char, shown, text_from_node};
use super::{parsed_text, text_value};
use crate::model::{Ctx, FromKey, FromNode};
use crate::node::Node;
use crate::path::Path;

/// Free text in zone-file syntax that is rendered into Lua (always through [`crate::lua::escape`]): local-data
/// records and trust anchors. It may span lines and hold tabs (records pasted from `dig`); other control
/// characters are refused. Integers are accepted and converted to text; floats, booleans and compound values are
/// not. Single-line text is [`super::Text`].
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

impl FromNode for EscapedStr {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        text_from_node(node, cx, path, Layout::Lines).map(EscapedStr)
    }
    /// Integers too, since they are accepted (the reference schema says only `string`).
    fn schema() -> serde_json::Value {
        json!({"type": ["string", "integer"]})
    }
}

/// A single line of text of at least 32 bytes (TLS session ticket secrets); no control characters.
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
        let text = text_from_node(node, cx, path, Layout::SingleLine)?;
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
    /// Parses a name where a wildcard label is not allowed (forwarding subtrees, hostnames, trust anchors, ...).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, false)
    }

    /// Parses a name; `wildcard` allows a `*` label as the leftmost label (local-data names).
    ///
    /// A label holds letters, digits, `-` (not at its start or end) and `_` (`_dmarc`, `_443._tcp`); `/` too, for
    /// RFC 2317 classless reverse names (`0/26.2.0.192.in-addr.arpa`). Non-ASCII letters are IDN and converted to
    /// punycode. Quotes, backslashes (no `\DDD` escapes), whitespace, control characters and other punctuation are
    /// refused: they are typos, not names.
    pub fn parse_with(text: &str, wildcard: bool) -> Result<Self, String> {
        if text == "." {
            return Ok(DomainName { text: text.into(), punycode: text.into() });
        }
        let bad = |why: &str| format!("'{}' is not a valid domain name: {why}", shown(text));
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if let Some(why) = bad_character(text) {
            return Err(bad(&why));
        }
        let body = text.strip_suffix('.').unwrap_or(text);
        for (i, label) in body.split('.').enumerate() {
            if label.contains('*') {
                let why = match (wildcard, i == 0 && label == "*") {
                    (true, true) => continue,
                    (true, false) => {
                        "'*' is allowed only as the whole leftmost label (a wildcard like '*.example.com')"
                    }
                    (false, _) => {
                        "a wildcard '*' is not allowed here (a subtree or name here covers every name below it)"
                    }
                };
                return Err(bad(why));
            }
        }
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

/// The first character that no label may hold, described. Non-ASCII letters pass (IDN); `*` passes here and is
/// checked per label.
fn bad_character(text: &str) -> Option<String> {
    let c = text.chars().find(|&c| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '*'))
        } else {
            c.is_control() || c.is_whitespace()
        }
    })?;
    Some(if c.is_control() {
        format!("control character {} is not allowed", describe_char(c))
    } else if c.is_whitespace() {
        format!("whitespace {} is not allowed", describe_char(c))
    } else {
        format!("character '{c}' is not allowed (a label holds letters, digits, '-' and '_')")
    })
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

/// Mapping keys that are names (`local-data/addresses`), parsed like the values.
macro_rules! name_key {
    ($t:ty) => {
        impl FromKey for $t {
            fn from_key(key: &str, cx: &mut Ctx, path: &Path, node: &Node) -> Option<Self> {
                <$t>::parse(key).map_err(|e| cx.error(path, Some(node), e)).ok()
            }
            fn key_schema() -> serde_json::Value {
                DomainName::schema()
            }
        }
    };
}

name_key!(DomainName);

/// A domain name whose leftmost label may be the wildcard `*` (local-data names: `addresses` keys and rule
/// `name`s). kresd 6 stores such a name as written; everything else about it is a [`DomainName`].
#[derive(Debug, Clone, PartialEq)]
pub struct WildcardName(DomainName);

impl WildcardName {
    pub fn parse(text: &str) -> Result<Self, String> {
        DomainName::parse_with(text, true).map(WildcardName)
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn name(&self) -> &DomainName {
        &self.0
    }
}

impl std::ops::Deref for WildcardName {
    type Target = DomainName;
    fn deref(&self) -> &DomainName {
        &self.0
    }
}

text_value!(WildcardName);
parsed_text!(WildcardName, DomainName::schema());

name_key!(WildcardName);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_parse as parse;

    fn refused(text: &str) -> String {
        match DomainName::parse(text) {
            Ok(d) => panic!("{text:?} was accepted as {:?}", d.punycode()),
            Err(e) => e,
        }
    }

    #[test]
    fn real_world_names_are_accepted() {
        for (text, punycode) in [
            (".", "."),
            ("example.com", "example.com"),
            ("example.com.", "example.com."),
            ("_dmarc.example.com", "_dmarc.example.com"),
            ("_443._tcp.mail.example.com.", "_443._tcp.mail.example.com."),
            ("0/26.2.0.192.in-addr.arpa", "0/26.2.0.192.in-addr.arpa"),
            ("xn--bcher-kva.com", "xn--bcher-kva.com"),
            ("bücher.com.", "xn--bcher-kva.com."),
            ("Mail-1.Example.COM", "Mail-1.Example.COM"),
            ("localhost", "localhost"),
        ] {
            let name = DomainName::parse(text).unwrap_or_else(|e| panic!("{text:?} refused: {e}"));
            assert_eq!(name.punycode(), punycode);
            assert_eq!(name.as_str(), text);
        }
    }

    #[test]
    fn characters_that_no_name_holds_are_refused_with_the_reason() {
        assert_eq!(
            refused("evil');os.exit(1)--x"),
            "'evil');os.exit(1)--x' is not a valid domain name: character ''' is not allowed (a label holds letters, \
             digits, '-' and '_')"
        );
        assert!(refused("exa\"mple.com").contains("character '\"' is not allowed"));
        assert!(refused("exa\\mple.com").contains("character '\\' is not allowed"));
        assert!(refused("example.com\\000").contains("character '\\' is not allowed"));
        assert!(refused("exa mple.com").contains("whitespace U+0020 (space) is not allowed"));
        assert!(refused("example.com\t").contains("control character U+0009 (tab) is not allowed"));
        assert!(refused("exa\0mple.com").contains("control character U+0000 (NUL) is not allowed"));
        assert!(refused("exa\0mple.com").starts_with("'exa\\u{0}mple.com' is not"), "the NUL is shown escaped");
        assert!(refused("a\u{85}b.com").contains("control character U+0085"), "C1 controls inside IDN text");
        assert!(refused("a\u{a0}b.com").contains("whitespace U+00A0 (no-break space)"));
        assert!(refused("ex\u{7f}.com").contains("U+007F (DEL)"));
        for text in ["a;b.com", "a,b", "a@b.com", "a:b", "(x)", "a$b", "{x}", "a[1]", "x=y", "<a>", "a+b", "a%b"] {
            assert!(refused(text).contains("is not allowed"), "{text:?}");
        }
    }

    #[test]
    fn structure_rules_still_hold() {
        assert!(refused("").contains("it is empty"));
        assert!(refused("a..b").contains("empty label"));
        assert!(refused("-a.com").contains("starts or ends with '-'"));
        assert!(refused(&format!("{}.com", "a".repeat(64))).contains("longer than 63"));
        assert!(refused(&["abcdefghi"; 26].join(".")).contains("longer than 253"));
    }

    #[test]
    fn wildcards_only_as_the_leftmost_label_and_only_where_allowed() {
        assert!(refused("*.example.com").contains("a wildcard '*' is not allowed here"));
        assert!(refused("a*.example.com").contains("a wildcard '*' is not allowed here"));
        assert_eq!(WildcardName::parse("*.example.com").map(|w| w.punycode().to_owned()), Ok("*.example.com".into()));
        assert!(WildcardName::parse("*.bücher.com").is_ok());
        assert!(WildcardName::parse("_dmarc.example.com").is_ok());
        for text in ["a.*.example.com", "*a.example.com", "**.example.com", "x.*"] {
            let e = WildcardName::parse(text).unwrap_err();
            assert!(e.contains("allowed only as the whole leftmost label"), "{text:?}: {e}");
        }
        assert!(WildcardName::parse("*.exa'mple.com").unwrap_err().contains("character '''"));
    }

    #[test]
    fn errors_from_a_document_name_the_path() {
        let err = parse::<DomainName>("\"exa\\\"mple.com\"").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].1.starts_with("'exa\"mple.com' is not a valid domain name"), "{err:?}");
        let err = parse::<crate::model::KeyedMap<WildcardName, String>>("{'a b': x, '*.ok': y}").unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].0, "/a b");
    }

    #[test]
    fn zone_file_text_may_span_lines_but_holds_no_other_control_characters() {
        let records = parse::<EscapedStr>("\"a. 300 A 192.0.2.1\\r\\nb.\\t300\\tA\\t192.0.2.2\\n\"").unwrap();
        assert_eq!(records.as_str(), "a. 300 A 192.0.2.1\r\nb.\t300\tA\t192.0.2.2\n");
        assert!(parse::<EscapedStr>("\"a\\0b\"").unwrap_err()[0].1.contains("U+0000 (NUL)"));
        assert!(parse::<EscapedStr>("\"a\\eb\"").unwrap_err()[0].1.contains("U+001B (escape)"));
        assert!(parse::<EscapedStr32B>(&format!("\"{}\\n\"", "x".repeat(40))).is_err());
        assert!(parse::<EscapedStr32B>(&format!("\"{}\"", "x".repeat(40))).is_ok());
    }
}
