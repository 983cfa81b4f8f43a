//! The one place where text becomes Lua source. Every user-supplied string reaches the rendered Lua through
//! [`quote`] (a single-quoted literal) or [`long_string`] (a `[[ ]]` long string); nothing else is pasted raw
//! except the explicit `lua/script` escape hatch.

/// Escapes text for the inside of a single- or double-quoted Lua string literal.
///
/// Quotes, backslash and control characters are escaped (other control bytes, NUL included, as three-digit
/// decimal escapes `\ddd`, so a following digit can never extend the escape); everything else, including
/// non-ASCII UTF-8, is kept as is. The result can never end the literal early.
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
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\{:03}", c as u32)),
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

/// A Lua long string holding `text` verbatim (apart from [`escape_multiline`], which changes text containing
/// `[[` or `]]`; prefer [`long_bracket`], which keeps every text exact). The content is placed between
/// newlines, so a trailing `]` in the text cannot join the closing bracket (Lua drops the first newline).
pub fn long_string(text: &str) -> String {
    format!("[[\n{}\n]]", escape_multiline(text))
}

/// A Lua string literal holding exactly `text`, written as a long bracket (`[[`, `[=[`, ...) so multi-line text
/// stays readable. The level is the lowest at which neither the opening nor the closing bracket occurs in the
/// text, and the text does not run into the closing bracket. Text with control characters other than newline
/// and tab (which a long bracket would not keep exactly: Lua turns `\r` into a newline) becomes a [`quote`]d
/// literal instead.
pub fn long_bracket(text: &str) -> String {
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return quote(text);
    }
    let mut level = 0;
    loop {
        let eq = "=".repeat(level);
        let open = format!("[{eq}[");
        let close = format!("]{eq}");
        if !text.contains(&open) && !text.contains(&format!("{close}]")) && !text.ends_with(&close) {
            // Lua drops the newline right after the opening bracket, so a leading newline of the text is kept.
            return format!("{open}\n{text}{close}]");
        }
        level += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_stay_inside_the_literal() {
        assert_eq!(quote("a'b"), "'a\\'b'");
        assert_eq!(quote("x\ny"), "'x\\ny'");
        assert_eq!(quote("\\"), "'\\\\'");
        assert_eq!(quote("\0"), "'\\000'");
        assert_eq!(quote("\u{0}1"), "'\\0001'");
        assert_eq!(quote("\u{1}"), "'\\001'");
        assert_eq!(quote("\u{7f}"), "'\\127'");
        assert_eq!(quote("příklad"), "'příklad'");
        assert_eq!(long_string("a]]b[[c]"), "[[\na\\]\\]b\\[\\[c]\n]]");
    }

    #[test]
    fn long_bracket_keeps_text_exact() {
        assert_eq!(long_bracket("a\nb"), "[[\na\nb]]");
        assert_eq!(long_bracket("\na"), "[[\n\na]]");
        assert_eq!(long_bracket("x]]y"), "[=[\nx]]y]=]");
        assert_eq!(long_bracket("x]"), "[=[\nx]]=]");
        assert_eq!(long_bracket("[[ ]=] ]"), "[==[\n[[ ]=] ]]==]");
        assert_eq!(long_bracket("]==]]=]]]"), "[===[\n]==]]=]]]]===]");
        assert_eq!(long_bracket("a\rb"), "'a\\rb'");
        assert_eq!(long_bracket("a\0b"), "'a\\000b'");
    }
}
