//! The one place where text becomes Lua source. Every user-supplied string reaches the rendered Lua through
//! [`quote`] (a single-quoted literal) or [`long_string`] (a `[[ ]]` long string); nothing else is pasted raw
//! except the explicit `lua/script` escape hatch.

/// Escapes text for the inside of a single- or double-quoted Lua string literal.
///
/// Quotes, backslash and control characters are escaped (NUL as `\0`, other control bytes as `\xNN`);
/// everything else, including non-ASCII UTF-8, is kept as is. The result can never end the literal early.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A single-quoted Lua string literal.
pub fn quote(text: &str) -> String {
    format!("'{}'", escape(text))
}

/// Escapes text for the inside of a `[[ ]]` Lua long string: `[[` and `]]` become `\[\[` and `\]\]`.
pub fn escape_multiline(text: &str) -> String {
    text.replace("[[", "\\[\\[").replace("]]", "\\]\\]")
}

/// A Lua long string holding `text` verbatim (apart from [`escape_multiline`]). The content is placed between
/// newlines, so a trailing `]` in the text cannot join the closing bracket (Lua drops the first newline).
pub fn long_string(text: &str) -> String {
    format!("[[\n{}\n]]", escape_multiline(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_stay_inside_the_literal() {
        assert_eq!(quote("a'b"), "'a\\'b'");
        assert_eq!(quote("x\ny"), "'x\\ny'");
        assert_eq!(quote("\\"), "'\\\\'");
        assert_eq!(quote("\0"), "'\\0'");
        assert_eq!(quote("\u{1}"), "'\\x01'");
        assert_eq!(quote("příklad"), "'příklad'");
        assert_eq!(long_string("a]]b[[c]"), "[[\na\\]\\]b\\[\\[c]\n]]");
    }
}
