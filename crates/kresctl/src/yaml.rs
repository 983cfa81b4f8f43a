//! A small YAML emitter for JSON values (`kresctl migrate`, `config get --yaml`).
//!
//! Block style, two-space indentation, sequences under a key not indented (PyYAML's layout), keys in document
//! order. A string is written plain only when every YAML 1.1 reader (PyYAML, the reference) and YAML 1.2 reader
//! reads it back as the same string; otherwise it is double-quoted with escapes, or written as a literal block
//! (`|`) when it is multi-line text that survives one unchanged. Floats are written in the YAML 1.1 form
//! (`1.0e+20`, with a dot and a signed exponent) so that YAML 1.1 readers do not take them for strings.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Implicit keys longer than this are written as explicit `? key` entries (YAML limits implicit keys to 1024).
const MAX_IMPLICIT_KEY: usize = 1000;

/// The YAML text of `value` (ends with a newline).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => emit_seq(&mut out, items, 0, false),
        scalar => {
            out.push_str(&scalar_text(scalar, 2));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A mapping whose keys start at column `col`. With `inline`, the first key goes on the current line (after `- `).
fn emit_map(out: &mut String, map: &Map<String, Value>, col: usize, inline: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, col);
        }
        if key.chars().count() > MAX_IMPLICIT_KEY || key.contains('\n') {
            // Explicit key: `? "key"` then `: value` on the next line.
            out.push_str("? ");
            out.push_str(&double_quoted(key));
            out.push('\n');
            indent(out, col);
            out.push(':');
        } else {
            out.push_str(&plain_or_quoted(key));
            out.push(':');
        }
        emit_after_key(out, value, col);
    }
}

/// The value of a mapping entry whose key is at column `col`; the cursor is right after the `:`.
fn emit_after_key(out: &mut String, value: &Value, col: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            emit_map(out, map, col + 2, false);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(out, items, col, false);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, col + 2));
            out.push('\n');
        }
    }
}

/// A sequence whose `- ` markers are at column `col`. With `inline`, the first marker goes on the current line.
fn emit_seq(out: &mut String, items: &[Value], col: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, col);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => emit_map(out, map, col + 2, true),
            Value::Array(inner) if !inner.is_empty() => emit_seq(out, inner, col + 2, true),
            scalar => {
                out.push_str(&scalar_text(scalar, col + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or empty collection) as it appears after `key: ` or `- `. `block_col` is the indentation of the
/// content of a literal block scalar, should one be used.
fn scalar_text(value: &Value, block_col: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => string_text(s, block_col),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn number_text(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // Shortest round-trip text: `0.5`, `1.0`, `1e20`, `1e-7`, `1.5e300`.
    let text = format!("{f:?}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let mantissa = if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
            let exp = if exp.starts_with('-') { exp.to_owned() } else { format!("+{exp}") };
            format!("{mantissa}e{exp}")
        }
        None if text.contains('.') => text,
        None => format!("{text}.0"),
    }
}

fn string_text(s: &str, block_col: usize) -> String {
    if s.contains('\n') && literal_block_ok(s) {
        return literal_block(s, block_col);
    }
    plain_or_quoted(s)
}

fn plain_or_quoted(s: &str) -> String {
    if plain_ok(s) { s.to_owned() } else { double_quoted(s) }
}

/// Characters YAML allows in a document unescaped, minus the YAML 1.1 line breaks other than `\n` (NEL, LS, PS)
/// and the byte-order mark.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether `s` can be written as a plain scalar (in block context) and read back as the same string.
pub fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let last = s.chars().next_back().unwrap_or(first);
    if first.is_whitespace() || last.is_whitespace() || last == ':' {
        return false;
    }
    // Indicators that may not (or, for `-`, `?`, `:`, need care to) start a plain scalar.
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.starts_with("...") {
        return false;
    }
    if s.contains(": ") || s.contains('#') || s.contains('\t') {
        return false;
    }
    if !s.chars().all(|c| printable(c) && c != '\n' && c != '\r') {
        return false;
    }
    !resolves_to_non_string(s)
}

/// Whether a plain scalar `s` would be read as something other than a string by a YAML 1.1 reader (PyYAML's
/// implicit resolvers, plus the spec's one-letter booleans) or a YAML 1.2 core-schema reader. Errs on the side
/// of quoting.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL", "<<", "=",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if matches!(body, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // 0x.., 0o.., 0b.. integers.
    if let Some(rest) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0o")).or_else(|| body.strip_prefix("0b"))
        && rest.chars().all(|c| c.is_ascii_hexdigit() || c == '_')
    {
        return true;
    }
    // Decimal, octal, base-60 integers and floats: digits, `_`, `:`, at most one `.`, an optional exponent.
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_numeric = mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa.chars().all(|c| c.is_ascii_digit() || matches!(c, '_' | ':' | '.'))
        && mantissa.matches('.').count() <= 1;
    let exponent_numeric = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    });
    if mantissa_numeric && exponent_numeric {
        return true;
    }
    // YAML 1.1 timestamps (2001-12-14, 2001-12-14t21:59:43.10-05:00, ...).
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// A double-quoted scalar, escaping what YAML requires and everything that is not plainly printable.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Whether multi-line text can be a literal block scalar and be read back unchanged: printable, no `\r`, no
/// leading whitespace (that would need an indentation indicator) and no line ending in whitespace.
fn literal_block_ok(s: &str) -> bool {
    !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| printable(c) && c != '\r')
        && s.split('\n').all(|line| !line.ends_with([' ', '\t']))
}

/// `|`, `|-` or `|+` (by the number of trailing newlines) and the lines indented to `col`.
fn literal_block(s: &str, col: usize) -> String {
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}");
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(&mut out, col);
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use kres_datamodel::parse::parse_document;
    use serde_json::json;

    use super::*;

    /// Emits `value` under a key, parses it back with the project's YAML 1.1 reader and compares.
    fn round_trip(value: &Value) {
        let doc = json!({ "k": value, "list": [value], "nested": {"deeper": [{"x": value}]} });
        let text = to_yaml(&doc);
        let parsed = parse_document(&text, "emitted")
            .unwrap_or_else(|e| panic!("cannot parse emitted YAML ({e}):\n{text}"))
            .to_json();
        assert_eq!(parsed, doc, "round trip changed the value; emitted:\n{text}");
    }

    #[test]
    fn strings_that_look_like_other_types_are_quoted() {
        for s in [
            "yes",
            "no",
            "on",
            "Off",
            "TRUE",
            "y",
            "N",
            "null",
            "~",
            "",
            "1e5",
            "1E+5",
            "010",
            "0o17",
            "0x1F",
            "0b101",
            "1_000",
            "1:30",
            "190:20:30.15",
            "5.5",
            ".5",
            "-1",
            "+1",
            "6.5",
            ".inf",
            "-.Inf",
            ".nan",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "<<",
            "=",
            "12e3",
        ] {
            assert!(!plain_ok(s), "{s:?} must be quoted");
            round_trip(&json!(s));
        }
    }

    #[test]
    fn strings_with_indicators_are_quoted() {
        for s in [
            "a: b",
            "a #b",
            "#x",
            "x#y",
            "- a",
            "-",
            "? x",
            "?",
            ":x",
            "x:",
            "[a]",
            "{a}",
            ",",
            "*alias",
            "&anchor",
            "!tag",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%x",
            "@x",
            "`x",
            "::1",
            " lead",
            "trail ",
            "...",
            "...x",
            "---",
            "tab\there",
        ] {
            assert!(!plain_ok(s), "{s:?} must be quoted");
            round_trip(&json!(s));
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for s in [
            "127.0.0.1@53",
            "2001:db8::1",
            "10.0.0.0/8",
            "10s",
            "100M",
            "/etc/knot-resolver/config.yaml",
            "dnstap.sock",
            "a,b",
            "a[0]",
            "x-y",
            "1.2.3",
            "notice",
            "example.com.",
            "čeština",
            "a:b",
            "x?",
            "x!",
        ] {
            assert!(plain_ok(s), "{s:?} should be plain");
            round_trip(&json!(s));
        }
        assert_eq!(to_yaml(&json!({"listen": "127.0.0.1@53"})), "listen: 127.0.0.1@53\n");
    }

    #[test]
    fn control_and_special_characters_are_escaped() {
        for s in [
            "a\u{0}b",
            "bell\u{7}",
            "del\u{7F}",
            "c1\u{85}\u{9F}",
            "ls\u{2028}ps\u{2029}",
            "bom\u{FEFF}",
            "back\\slash",
            "quote\"d",
            "cr\rlf",
            "emoji \u{1F600}",
            "nbsp\u{A0}",
        ] {
            round_trip(&json!(s));
        }
        assert_eq!(double_quoted("a\u{7}\u{2028}\"\\"), "\"a\\x07\\u2028\\\"\\\\\"");
    }

    #[test]
    fn multi_line_strings() {
        for s in [
            "line1\nline2\n",
            "line1\nline2",
            "line1\nline2\n\n\n",
            "a\n\n  indented\n\tb\n",
            "-- lua\nlocal x = 'y' # not a comment\n",
            " leading\nspace\n",
            "trailing \nspace\n",
            "\nstarts with newline",
            "cr\r\nlf\n",
        ] {
            round_trip(&json!(s));
        }
        assert_eq!(to_yaml(&json!({"lua": {"script": "a\nb\n"}})), "lua:\n  script: |\n    a\n    b\n");
        assert_eq!(to_yaml(&json!(["a\nb"])), "- |-\n  a\n  b\n");
    }

    #[test]
    fn numbers_bools_nulls() {
        for v in
            [json!(0), json!(-7), json!(i64::MAX), json!(1.0), json!(0.5), json!(-2.25), json!(1e20), json!(1.5e-7)]
        {
            round_trip(&v);
        }
        assert_eq!(number_text(&Number::from_f64(1e20).unwrap()), "1.0e+20");
        assert_eq!(number_text(&Number::from_f64(1.5e-7).unwrap()), "1.5e-7");
        assert_eq!(number_text(&Number::from_f64(3.0).unwrap()), "3.0");
        round_trip(&json!(true));
        round_trip(&json!(false));
        round_trip(&json!(null));
    }

    #[test]
    fn collections() {
        let doc = json!({
            "empty-map": {},
            "empty-list": [],
            "list": [1, "two", {"three": 3, "four": [4, [5, 6], {}]}, [], [[7]]],
            "map": {"a": {"b": {"c": [{"d": null}]}}},
            "yes": "key that is a boolean word",
            "1": "numeric key",
        });
        round_trip(&doc);
        let text = to_yaml(&json!({"network": {"listen": [{"interface": "lo", "port": 53}, {"interface": "eth0"}]}}));
        assert_eq!(text, "network:\n  listen:\n  - interface: lo\n    port: 53\n  - interface: eth0\n");
        assert_eq!(to_yaml(&json!([[1, 2], [3]])), "- - 1\n  - 2\n- - 3\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!("yes")), "\"yes\"\n");
    }

    #[test]
    fn long_and_odd_keys() {
        let long = "k".repeat(2000);
        round_trip(&json!({ long: 1, "multi\nline key": 2, "": 3, "a: b": 4 }));
    }

    /// Every string over a small alphabet of troublesome characters, up to length 3.
    #[test]
    fn exhaustive_short_strings() {
        let alphabet = [
            'a', '0', '1', '.', '-', '+', ':', '#', ' ', '\n', 'e', 'x', '_', '\'', '"', '\\', '?', '!', '&', '*', '[',
            '{', ',', '|', '>', '%', '@', '`', '~', 'y', '<', '=', '\t',
        ];
        let mut strings = vec![String::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for s in strings.iter().filter(|s| s.chars().count() == len - 1) {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            strings.extend(next);
        }
        // Not "<<" as a key: the project's reader takes even a quoted "<<" key for a YAML merge key.
        // Keys up to length 2 (a mapping of every string would take the reader quadratic time).
        let map: Map<String, Value> =
            strings.iter().filter(|s| *s != "<<" && s.chars().count() <= 2).map(|s| (s.clone(), json!(s))).collect();
        let doc = Value::Object(map);
        let text = to_yaml(&doc);
        let parsed = parse_document(&text, "emitted").unwrap_or_else(|e| panic!("{e}")).to_json();
        assert_eq!(parsed, doc);
        let list = Value::Array(strings.iter().map(|s| json!(s)).collect());
        let parsed = parse_document(&to_yaml(&json!({ "l": list })), "emitted").unwrap().to_json();
        assert_eq!(parsed["l"], list);
    }
}
