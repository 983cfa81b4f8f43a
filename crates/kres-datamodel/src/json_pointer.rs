//! RFC 6901 JSON Pointer over [`serde_json::Value`].
//!
//! A pointer is either empty (the whole document) or a sequence of `/`-prefixed reference tokens, in which `~1`
//! stands for `/` and `~0` for `~`. Against a list, a token must be a decimal index without sign or leading zeros
//! (`0` itself is fine), or `-`, which names the position after the last item.
//!
//! Besides [`JsonPointer::get`] / [`JsonPointer::get_mut`], [`JsonPointer::resolve`] tells apart a target that
//! exists, one that is *absent* but could be created by an RFC 6902 `add` (the parent exists and is a container),
//! and a pointer that is an error for every operation.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// Why a pointer could not be parsed or followed through a document.
///
/// `pointer` is the pointer in its escaped text form. `position` is the 0-based index of the offending token in
/// [`JsonPointer::tokens`]; messages count tokens from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// The text is neither empty nor starts with `/`.
    #[error("'{pointer}' is not a valid JSON pointer: it must be empty (the whole document) or start with '/'")]
    MissingLeadingSlash { pointer: String },

    /// A `~` not followed by `0` or `1`.
    #[error(
        "'{pointer}' is not a valid JSON pointer: token {} contains the escape '{escape}', but only '~0' (for '~') \
         and '~1' (for '/') are allowed",
        position + 1
    )]
    BadEscape { pointer: String, position: usize, escape: String },

    /// A token used on a list that is not a well-formed index.
    #[error(
        "{pointer}: '{token}' (token {}) is not a valid index into the list at {}: use a decimal number without sign \
         or leading zeros, or '-' for the end of the list",
        position + 1,
        location(parent)
    )]
    BadIndex { pointer: String, position: usize, token: String, parent: String },

    /// A list index at or past the end of the list (at the end: only `add` can use it).
    #[error("{pointer}: index {index} is out of range (the list has {})", items(*len))]
    IndexOutOfRange { pointer: String, position: usize, index: String, len: usize },

    /// `-` where a value is needed.
    #[error(
        "{pointer}: '-' (token {}) means the position after the last item of the list at {}, which holds no value",
        position + 1,
        location(parent)
    )]
    PastEnd { pointer: String, position: usize, parent: String },

    /// An object without the named member.
    #[error("{pointer}: {} has no member '{token}'", capitalized_location(parent))]
    MissingMember { pointer: String, position: usize, token: String, parent: String },

    /// A token applied to a scalar (string, number, boolean or null).
    #[error(
        "{pointer}: cannot look up '{token}' (token {}) inside {}, which is {kind}, not an object or a list",
        position + 1,
        location(parent)
    )]
    NotAContainer { pointer: String, position: usize, token: String, parent: String, kind: &'static str },
}

impl PointerError {
    /// The pointer (escaped text form) the error is about.
    pub fn pointer(&self) -> &str {
        match self {
            Self::MissingLeadingSlash { pointer }
            | Self::BadEscape { pointer, .. }
            | Self::BadIndex { pointer, .. }
            | Self::IndexOutOfRange { pointer, .. }
            | Self::PastEnd { pointer, .. }
            | Self::MissingMember { pointer, .. }
            | Self::NotAContainer { pointer, .. } => pointer,
        }
    }

    /// True when the pointer is well-formed, but the document has nothing at it (or above it): a missing member,
    /// an index past the end, `-`. An HTTP layer maps these to "not found"; the other errors are bad requests.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::IndexOutOfRange { .. } | Self::PastEnd { .. } | Self::MissingMember { .. })
    }
}

fn items(len: usize) -> String {
    if len == 1 { "1 item".to_owned() } else { format!("{len} items") }
}

fn location(parent: &str) -> String {
    if parent.is_empty() { "the document root".to_owned() } else { parent.to_owned() }
}

fn capitalized_location(parent: &str) -> String {
    if parent.is_empty() { "the document root".to_owned() } else { format!("the object at {parent}") }
}

/// A plain-English name of a JSON value's type, with an article ("a string").
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A parsed RFC 6901 JSON pointer.
///
/// Parsing and [`Display`](fmt::Display) are inverse: the displayed form is the escaped text it was parsed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JsonPointer {
    tokens: Vec<String>,
}

/// What a pointer designates in a document (see [`JsonPointer::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    /// The target exists.
    Value(&'a Value),
    /// The parent exists and is an object or a list, but the last token names no member, is an index equal to the
    /// list's length, or is `-`. A valid target for `add`, an error for `get`.
    Absent,
}

/// A token interpreted against a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListSlot {
    /// An index that is in range or equal to the length (`present` = below the length).
    Index { index: usize, present: bool },
    /// `-`: the position after the last item.
    End,
}

impl ListSlot {
    /// The position at which an `add` inserts.
    pub(crate) fn insert_position(self, len: usize) -> usize {
        match self {
            Self::Index { index, .. } => index,
            Self::End => len,
        }
    }
}

impl JsonPointer {
    /// The empty pointer, which designates the whole document.
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses the escaped text form (RFC 6901 section 3).
    pub fn parse(text: &str) -> Result<Self, PointerError> {
        if text.is_empty() {
            return Ok(Self::root());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerError::MissingLeadingSlash { pointer: text.to_owned() });
        };
        let mut tokens = Vec::new();
        for (position, raw) in rest.split('/').enumerate() {
            tokens.push(unescape(raw).map_err(|escape| PointerError::BadEscape {
                pointer: text.to_owned(),
                position,
                escape,
            })?);
        }
        Ok(Self { tokens })
    }

    /// Builds a pointer from decoded tokens.
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { tokens: tokens.into_iter().map(Into::into).collect() }
    }

    /// The decoded reference tokens (empty for the whole document).
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// True for the empty pointer (the whole document).
    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The pointer with one more token appended.
    pub fn child(&self, token: impl Into<String>) -> Self {
        let mut tokens = self.tokens.clone();
        tokens.push(token.into());
        Self { tokens }
    }

    /// The pointer to the parent and the last token, or `None` for the whole document.
    pub fn split_last(&self) -> Option<(Self, &str)> {
        let (last, init) = self.tokens.split_last()?;
        Some((Self { tokens: init.to_vec() }, last.as_str()))
    }

    /// True if `self` designates `other` or a location below it.
    pub fn starts_with(&self, other: &JsonPointer) -> bool {
        self.tokens.starts_with(&other.tokens)
    }

    /// The value at this pointer. Absent targets are errors.
    pub fn get<'a>(&self, doc: &'a Value) -> Result<&'a Value, PointerError> {
        self.walk(doc, self.tokens.len())
    }

    /// The value at this pointer, mutably. Absent targets are errors.
    pub fn get_mut<'a>(&self, doc: &'a mut Value) -> Result<&'a mut Value, PointerError> {
        self.walk_mut(doc, self.tokens.len())
    }

    /// Resolves the pointer, telling an existing target from an absent one that `add` could create.
    pub fn resolve<'a>(&self, doc: &'a Value) -> Result<Resolved<'a>, PointerError> {
        let Some(last) = self.tokens.len().checked_sub(1) else {
            return Ok(Resolved::Value(doc));
        };
        let parent = self.walk(doc, last)?;
        match parent {
            Value::Object(map) => Ok(map.get(&self.tokens[last]).map_or(Resolved::Absent, Resolved::Value)),
            Value::Array(list) => match self.list_slot(list, last)? {
                ListSlot::Index { index, present: true } => {
                    Ok(list.get(index).map_or(Resolved::Absent, Resolved::Value))
                }
                ListSlot::Index { present: false, .. } | ListSlot::End => Ok(Resolved::Absent),
            },
            scalar => Err(self.not_a_container(scalar, last)),
        }
    }

    /// Follows the first `depth` tokens; every one of them must exist.
    pub(crate) fn walk<'a>(&self, doc: &'a Value, depth: usize) -> Result<&'a Value, PointerError> {
        let mut current = doc;
        for position in 0..depth.min(self.tokens.len()) {
            let token = &self.tokens[position];
            current = match current {
                Value::Object(map) => match map.get(token) {
                    Some(next) => next,
                    None => return Err(self.missing_member(position)),
                },
                Value::Array(list) => {
                    let slot = self.list_slot(list, position)?;
                    self.existing_item(list, slot, position)?
                }
                scalar => return Err(self.not_a_container(scalar, position)),
            };
        }
        Ok(current)
    }

    /// Mutable counterpart of [`Self::walk`].
    pub(crate) fn walk_mut<'a>(&self, doc: &'a mut Value, depth: usize) -> Result<&'a mut Value, PointerError> {
        let mut current = doc;
        for position in 0..depth.min(self.tokens.len()) {
            let token = &self.tokens[position];
            current = match current {
                Value::Object(map) => match map.get_mut(token) {
                    Some(next) => next,
                    None => return Err(self.missing_member(position)),
                },
                Value::Array(list) => {
                    let slot = self.list_slot(list, position)?;
                    let index = match slot {
                        ListSlot::Index { index, present: true } => index,
                        _ => return Err(self.absent_item(list.len(), slot, position)),
                    };
                    let len = list.len();
                    match list.get_mut(index) {
                        Some(next) => next,
                        None => return Err(self.out_of_range(index, len, position)),
                    }
                }
                scalar => return Err(self.not_a_container(scalar, position)),
            };
        }
        Ok(current)
    }

    /// Interprets token `position` as a list position; indices above the length are errors.
    pub(crate) fn list_slot(&self, list: &[Value], position: usize) -> Result<ListSlot, PointerError> {
        let token = self.tokens.get(position).map_or("", String::as_str);
        if token == "-" {
            return Ok(ListSlot::End);
        }
        let well_formed =
            !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
        if !well_formed {
            return Err(PointerError::BadIndex {
                pointer: self.to_string(),
                position,
                token: token.to_owned(),
                parent: self.prefix(position),
            });
        }
        // A well-formed index too large for `usize` is certainly past the end.
        match token.parse::<usize>() {
            Ok(index) if index <= list.len() => Ok(ListSlot::Index { index, present: index < list.len() }),
            _ => Err(PointerError::IndexOutOfRange {
                pointer: self.to_string(),
                position,
                index: token.to_owned(),
                len: list.len(),
            }),
        }
    }

    fn existing_item<'a>(&self, list: &'a [Value], slot: ListSlot, position: usize) -> Result<&'a Value, PointerError> {
        match slot {
            ListSlot::Index { index, present: true } => {
                list.get(index).ok_or_else(|| self.out_of_range(index, list.len(), position))
            }
            _ => Err(self.absent_item(list.len(), slot, position)),
        }
    }

    /// The error for a list slot that does not hold a value.
    pub(crate) fn absent_item(&self, len: usize, slot: ListSlot, position: usize) -> PointerError {
        match slot {
            ListSlot::Index { index, .. } => self.out_of_range(index, len, position),
            ListSlot::End => {
                PointerError::PastEnd { pointer: self.to_string(), position, parent: self.prefix(position) }
            }
        }
    }

    fn out_of_range(&self, index: usize, len: usize, position: usize) -> PointerError {
        PointerError::IndexOutOfRange { pointer: self.to_string(), position, index: index.to_string(), len }
    }

    pub(crate) fn missing_member(&self, position: usize) -> PointerError {
        PointerError::MissingMember {
            pointer: self.to_string(),
            position,
            token: self.tokens.get(position).cloned().unwrap_or_default(),
            parent: self.prefix(position),
        }
    }

    pub(crate) fn not_a_container(&self, scalar: &Value, position: usize) -> PointerError {
        PointerError::NotAContainer {
            pointer: self.to_string(),
            position,
            token: self.tokens.get(position).cloned().unwrap_or_default(),
            parent: self.prefix(position),
            kind: kind_of(scalar),
        }
    }

    /// The escaped text of the first `depth` tokens.
    fn prefix(&self, depth: usize) -> String {
        Self::from_tokens(self.tokens.iter().take(depth).cloned()).to_string()
    }
}

/// Decodes `~0` and `~1`; on a bad escape returns the offending escape text (`~x`, or `~` at the end).
fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('~') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            Some(other) => return Err(format!("~{other}")),
            None => return Err("~".to_owned()),
        }
    }
    Ok(out)
}

/// Encodes one reference token: `~` as `~0`, `/` as `~1`.
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.tokens {
            f.write_str("/")?;
            for c in token.chars() {
                match c {
                    '~' => f.write_str("~0")?,
                    '/' => f.write_str("~1")?,
                    other => fmt::Write::write_char(f, other)?,
                }
            }
        }
        Ok(())
    }
}

impl FromStr for JsonPointer {
    type Err = PointerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for JsonPointer {
    type Error = PointerError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ptr(text: &str) -> JsonPointer {
        JsonPointer::parse(text).unwrap()
    }

    #[test]
    fn parse_and_display_round_trip() {
        for text in ["", "/", "//", "/a~1b", "/m~0n", "/~01", "/a/b/0/-", "/ü/日本", "/~0~1~1~0"] {
            assert_eq!(ptr(text).to_string(), text);
        }
        assert_eq!(ptr("/~01").tokens(), ["~1"]);
        assert_eq!(ptr("/~0~1").tokens(), ["~/"]);
        assert_eq!(ptr("//").tokens(), ["", ""]);
        assert!(ptr("").is_root());
        assert_eq!("/a".parse::<JsonPointer>().unwrap(), JsonPointer::from_tokens(["a"]));
    }

    #[test]
    fn bad_escapes() {
        for (text, escape, position) in [("/~", "~", 0), ("/a/b~2", "~2", 1), ("/~x", "~x", 0), ("/a~", "~", 0)] {
            match JsonPointer::parse(text) {
                Err(PointerError::BadEscape { escape: e, position: p, .. }) => {
                    assert_eq!((e.as_str(), p), (escape, position), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let message = JsonPointer::parse("/a/b~2").unwrap_err().to_string();
        assert_eq!(
            message,
            "'/a/b~2' is not a valid JSON pointer: token 2 contains the escape '~2', but only '~0' (for '~') and \
             '~1' (for '/') are allowed"
        );
    }

    #[test]
    fn syntax_error_message() {
        assert_eq!(
            JsonPointer::parse("foo").unwrap_err().to_string(),
            "'foo' is not a valid JSON pointer: it must be empty (the whole document) or start with '/'"
        );
    }

    #[test]
    fn index_rules() {
        let doc = json!({"l": [10, 20]});
        assert_eq!(ptr("/l/0").get(&doc).unwrap(), &json!(10));
        assert_eq!(ptr("/l/1").get(&doc).unwrap(), &json!(20));
        for bad in ["/l/01", "/l/00", "/l/-1", "/l/+1", "/l/1a", "/l/", "/l/1.0", "/l/ 1", "/l/--", "/l/١"] {
            assert!(
                matches!(ptr(bad).resolve(&doc), Err(PointerError::BadIndex { .. })),
                "{bad}: {:?}",
                ptr(bad).resolve(&doc)
            );
        }
        assert_eq!(ptr("/l/2").resolve(&doc).unwrap(), Resolved::Absent);
        assert_eq!(ptr("/l/-").resolve(&doc).unwrap(), Resolved::Absent);
        assert!(matches!(ptr("/l/3").resolve(&doc), Err(PointerError::IndexOutOfRange { .. })));
        assert!(matches!(
            ptr("/l/99999999999999999999999999").resolve(&doc),
            Err(PointerError::IndexOutOfRange { .. })
        ));
        // Digits are only special for lists: in an object "01" is an ordinary member name.
        let doc = json!({"01": 1, "-": 2});
        assert_eq!(ptr("/01").get(&doc).unwrap(), &json!(1));
        assert_eq!(ptr("/-").get(&doc).unwrap(), &json!(2));
    }

    #[test]
    fn error_messages() {
        let doc = json!({"network": {"listen": [{"interface": "lo"}, {"interface": "eth0"}]}, "workers": 2});
        let cases = [
            ("/network/listen/5", "/network/listen/5: index 5 is out of range (the list has 2 items)"),
            ("/network/listen/2", "/network/listen/2: index 2 is out of range (the list has 2 items)"),
            (
                "/network/listen/-",
                "/network/listen/-: '-' (token 3) means the position after the last item of the list at \
                 /network/listen, which holds no value",
            ),
            (
                "/network/listen/01/interface",
                "/network/listen/01/interface: '01' (token 3) is not a valid index into the list at \
                 /network/listen: use a decimal number without sign or leading zeros, or '-' for the end of the list",
            ),
            ("/nope/deeper", "/nope/deeper: the document root has no member 'nope'"),
            ("/network/a~1b", "/network/a~1b: the object at /network has no member 'a/b'"),
            (
                "/workers/x",
                "/workers/x: cannot look up 'x' (token 2) inside /workers, which is a number, not an object or a list",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(ptr(text).get(&doc).unwrap_err().to_string(), message);
        }
        let one = json!([1]);
        assert_eq!(ptr("/3").get(&one).unwrap_err().to_string(), "/3: index 3 is out of range (the list has 1 item)");
    }

    #[test]
    fn resolve_distinguishes_absent_from_error() {
        let doc = json!({"a": {"b": null}, "s": "x", "l": []});
        assert_eq!(ptr("/a/b").resolve(&doc).unwrap(), Resolved::Value(&Value::Null));
        assert_eq!(ptr("/a/c").resolve(&doc).unwrap(), Resolved::Absent);
        assert_eq!(ptr("/l/0").resolve(&doc).unwrap(), Resolved::Absent);
        assert!(ptr("/a/c/d").resolve(&doc).unwrap_err().is_not_found());
        assert!(matches!(ptr("/s/0").resolve(&doc), Err(PointerError::NotAContainer { kind: "a string", .. })));
        assert!(matches!(ptr("/a/b/c").resolve(&doc), Err(PointerError::NotAContainer { kind: "null", .. })));
        assert_eq!(ptr("").resolve(&doc).unwrap(), Resolved::Value(&doc));
        // Scalar documents: the root exists, anything below is an error.
        assert!(ptr("/x").resolve(&json!(3)).is_err());
    }

    #[test]
    fn get_mut_edits_in_place() {
        let mut doc = json!({"a": [1, {"b": 2}]});
        *ptr("/a/1/b").get_mut(&mut doc).unwrap() = json!(3);
        assert_eq!(doc, json!({"a": [1, {"b": 3}]}));
        *ptr("").get_mut(&mut doc).unwrap() = json!(null);
        assert_eq!(doc, Value::Null);
        let mut doc = json!({"a": [1]});
        assert!(matches!(ptr("/a/1").get_mut(&mut doc), Err(PointerError::IndexOutOfRange { .. })));
        assert!(matches!(ptr("/a/-").get_mut(&mut doc), Err(PointerError::PastEnd { .. })));
        assert!(matches!(ptr("/b").get_mut(&mut doc), Err(PointerError::MissingMember { .. })));
    }

    #[test]
    fn helpers() {
        let p = ptr("/a/b");
        let (parent, last) = p.split_last().unwrap();
        assert_eq!((parent.to_string().as_str(), last), ("/a", "b"));
        assert!(JsonPointer::root().split_last().is_none());
        assert_eq!(parent.child("c~/").to_string(), "/a/c~0~1");
        assert!(p.starts_with(&parent));
        assert!(p.starts_with(&p));
        assert!(p.starts_with(&JsonPointer::root()));
        assert!(!parent.starts_with(&p));
        assert!(!ptr("/ab").starts_with(&ptr("/a")));
        assert_eq!(JsonPointer::parse("/~x").unwrap_err().pointer(), "/~x");
        assert_eq!(ptr("/q").get(&json!({})).unwrap_err().pointer(), "/q");
    }
}
