//! Free text that is rendered into Lua: one place for the rule that such text holds no control characters.
//!
//! The Lua escaping (`crate::lua::escape`) keeps any text inside its literal, so this is not about injection. A
//! control character in an NSID, a URL or a file path is a typo or a paste accident, and kresd would take it
//! verbatim; it is refused with the field's path instead. Control characters are those of Unicode category Cc:
//! C0 (U+0000..U+001F), DEL (U+007F) and C1 (U+0080..U+009F). Multi-line values (zone-file records, trust
//! anchors pasted from `dig`) may hold tabs and line breaks ([`Layout::Lines`]).

use serde_json::json;

use super::text_value;
use crate::model::{Ctx, FromNode, describe};
use crate::node::{Node, Value};
use crate::path::Path;

/// Which layout characters a text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One line: no control character at all, not even a tab.
    SingleLine,
    /// Lines of text: tab, line feed and carriage return are allowed, other control characters are not.
    Lines,
}

/// Names a character for a message: `U+000A (line feed)`.
pub(crate) fn describe_char(c: char) -> String {
    let name = match c {
        '\0' => " (NUL)",
        '\t' => " (tab)",
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\u{1b}' => " (escape)",
        '\u{7f}' => " (DEL)",
        ' ' => " (space)",
        '\u{a0}' => " (no-break space)",
        _ => "",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

/// The first control character that `layout` does not allow, described for a message.
pub fn control_char_problem(text: &str, layout: Layout) -> Option<String> {
    let allowed = |c: char| layout == Layout::Lines && matches!(c, '\t' | '\n' | '\r');
    let c = text.chars().find(|&c| c.is_control() && !allowed(c))?;
    let hint = match layout {
        Layout::SingleLine => "write it on one line without tabs or other control characters",
        Layout::Lines => "only tabs and line breaks are allowed",
    };
    Some(format!("control character {} is not allowed ({hint})", describe_char(c)))
}

/// The text with control characters shown as escapes, for quoting a refused value in a message.
pub(crate) fn shown(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Reads a string (or an integer, converted to text, as the reference does) and checks it against `layout`.
pub(crate) fn text_from_node(node: &Node, cx: &mut Ctx, path: &Path, layout: Layout) -> Option<String> {
    let text = match &node.value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => {
            cx.error(path, Some(node), format!("expected a string, got {}", describe(node)));
            return None;
        }
    };
    if let Some(problem) = control_char_problem(&text, layout) {
        cx.error(path, Some(node), format!("'{}': {problem}", shown(&text)));
        return None;
    }
    Some(text)
}

/// A single line of free text rendered into Lua (NSID, hostname, URL, metric prefix): no control characters.
/// Integers are accepted and converted to text; floats, booleans and compound values are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text(String);

impl Text {
    /// A value known to be good (defaults, the machine's hostname); not checked.
    pub fn new(text: impl Into<String>) -> Self {
        Text(text.into())
    }
    /// Checks a text given outside a document.
    pub fn parse(text: &str) -> Result<Self, String> {
        match control_char_problem(text, Layout::SingleLine) {
            None => Ok(Text(text.to_owned())),
            Some(problem) => Err(format!("'{}': {problem}", shown(text))),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The text escaped for a single-quoted Lua string.
    pub fn lua_escaped(&self) -> String {
        crate::lua::escape::escape(&self.0)
    }
}

impl FromNode for Text {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        text_from_node(node, cx, path, Layout::SingleLine).map(Text)
    }
    /// Integers too, since they are accepted (the reference schema says only `string`). The JSON Schema does not
    /// spell out the control-character rule (it stays as the reference's); the validator enforces it.
    fn schema() -> serde_json::Value {
        json!({"type": ["string", "integer"]})
    }
}

text_value!(Text);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_parse as parse;

    #[test]
    fn single_line_text_refuses_every_control_character() {
        for bad in ["a\nb", "a\tb", "\0", "x\u{7f}", "x\u{85}y", "\u{9f}", "\u{1b}[31m"] {
            let problem = control_char_problem(bad, Layout::SingleLine);
            assert!(problem.is_some(), "{bad:?} was accepted");
            assert!(Text::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = Text::parse("ab\0c").unwrap_err();
        assert_eq!(
            err,
            "'ab\\u{0}c': control character U+0000 (NUL) is not allowed (write it on one line without tabs or other control characters)"
        );
    }

    #[test]
    fn single_line_text_keeps_printable_unicode_and_quotes() {
        for good in ["", "a b-c.d_e", "it's \"q\" \\", "x]]y", "žluťoučký kůň", "emoji 🦀", "\u{a0}nbsp"] {
            assert_eq!(Text::parse(good).map(|t| t.as_str().to_owned()), Ok(good.to_owned()));
        }
    }

    #[test]
    fn lines_allow_tabs_and_line_breaks_only() {
        assert_eq!(control_char_problem("a\tb\r\nc\n", Layout::Lines), None);
        for bad in ["a\0b", "a\u{b}b", "\u{7f}", "\u{80}"] {
            assert!(control_char_problem(bad, Layout::Lines).is_some(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn text_from_a_document_converts_integers_and_names_the_problem() {
        assert_eq!(parse::<Text>("2000").map(|t| t.as_str().to_owned()), Ok("2000".to_owned()));
        let err = parse::<Text>("\"a\\x07b\"").unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].1.contains("control character U+0007"), "{err:?}");
        assert!(parse::<Text>("1.5").is_err());
        assert!(parse::<Text>("[a]").is_err());
    }
}
