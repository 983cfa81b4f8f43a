//! The configuration ETag, byte-for-byte compatible with the Python manager
//! (`knot_resolver/utils/etag.py`, `structural_etag`):
//!
//! ```python
//! m = blake2b(digest_size=15)
//! m.update(json.dumps(obj, sort_keys=True).encode("utf8"))
//! return base64.urlsafe_b64encode(m.digest()).decode("utf8")
//! ```
//!
//! [`python_json_dumps`] reproduces that `json.dumps` text: keys sorted by code point, separators `", "` and
//! `": "`, only ASCII output (`\uXXXX` escapes, surrogate pairs above U+FFFF) and floats in Python `repr` form.
//! 15 bytes encode to exactly 20 base64 characters, so there is never padding.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use serde_json::{Number, Value};

/// The digest length in bytes (`digest_size=15`).
const DIGEST_SIZE: usize = 15;

/// The ETag of a configuration document (without the surrounding quotes of the HTTP header): 20 characters of
/// URL-safe base64.
pub fn etag(config: &Value) -> String {
    let text = python_json_dumps(config);
    let mut digest = [0u8; DIGEST_SIZE];
    // Blake2b supports any output size from 1 to 64 bytes, so neither call can fail.
    if let Ok(mut hasher) = Blake2bVar::new(DIGEST_SIZE) {
        hasher.update(text.as_bytes());
        let _ = hasher.finalize_variable(&mut digest);
    }
    URL_SAFE.encode(digest)
}

/// `json.dumps(value, sort_keys=True)` with Python's defaults.
pub fn python_json_dumps(value: &Value) -> String {
    let mut out = String::new();
    dump(value, &mut out);
    out
}

fn dump(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => dump_number(n, out),
        Value::String(s) => dump_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            // Rust orders strings by their UTF-8 bytes, which is the same as Python's code point order.
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, member)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_string(key, out);
                out.push_str(": ");
                dump(member, out);
            }
            out.push('}');
        }
    }
}

fn dump_number(n: &Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&python_float_repr(f));
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in positional notation when the decimal exponent
/// is in -4..16 (with at least one fractional digit, `1.0`), otherwise as `d.ddde+XX` / `de-XX`.
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e-7", "1e16", "0e0".
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // number of digits before the decimal point (may be <= 0)
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() > point {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.unsigned_abs());
    }
    out
}

/// A JSON string with `ensure_ascii=True`: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, and `\u00XX` for other
/// control characters and DEL; everything outside printable ASCII as `\uXXXX` (lowercase hex, UTF-16).
fn dump_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn dumps_like_python() {
        // Expected texts: python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True))' TEXT
        let cases = [
            (
                r#"{"b": 1, "a": [1, 2, {}], "c": {"z": null, "y": true, "x": false}}"#,
                r#"{"a": [1, 2, {}], "b": 1, "c": {"x": false, "y": true, "z": null}}"#,
            ),
            (r#"[]"#, r#"[]"#),
            (r#""""#, r#""""#),
            (
                r#"{"é": "ü", "日本": "😀", "a\"b\\c": "\u0001\u001f\u007f\b\f\n\r\t/"}"#,
                r#"{"a\"b\\c": "\u0001\u001f\u007f\b\f\n\r\t/", "\u00e9": "\u00fc", "\u65e5\u672c": "\ud83d\ude00"}"#,
            ),
            (
                r#"{"B": 1, "a": 2, "_": 3, "-": 4, "é": 5, "z": 6}"#,
                r#"{"-": 4, "B": 1, "_": 3, "a": 2, "z": 6, "\u00e9": 5}"#,
            ),
            // (serde_json reads the JSON text `-0` as the float -0.0, where Python reads the integer 0.)
            (
                r#"[-9223372036854775808, 18446744073709551615, 0, -1]"#,
                r#"[-9223372036854775808, 18446744073709551615, 0, -1]"#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(python_json_dumps(&doc(input)), expected, "{input}");
        }
    }

    #[test]
    fn floats_like_python_repr() {
        // python3 -c 'import json; print(json.dumps([1.0, -0.0, 0.5, 100.0, 1e15, 1e16, 1.5e16, 0.0001, 1e-05,
        //   1.5e-07, 123456.789, 1.2345678901234568e+17, 3.141592653589793, 1e300, -2.5e-300, 5e-324,
        //   1.7976931348623157e+308, 0.1, 2.0**53, 123456789012345.6]))'
        let input = "[1.0, -0.0, 0.5, 100.0, 1e15, 1e16, 1.5e16, 0.0001, 1e-05, 1.5e-07, 123456.789, \
                     1.2345678901234568e+17, 3.141592653589793, 1e300, -2.5e-300, 5e-324, 1.7976931348623157e+308, \
                     0.1, 9007199254740992.0, 123456789012345.6]";
        let expected = "[1.0, -0.0, 0.5, 100.0, 1000000000000000.0, 1e+16, 1.5e+16, 0.0001, 1e-05, 1.5e-07, \
                        123456.789, 1.2345678901234568e+17, 3.141592653589793, 1e+300, -2.5e-300, 5e-324, \
                        1.7976931348623157e+308, 0.1, 9007199254740992.0, 123456789012345.6]";
        assert_eq!(python_json_dumps(&doc(input)), expected);
    }

    #[test]
    fn etag_matches_python() {
        // python3 -c 'import json,hashlib,base64,sys; print(base64.urlsafe_b64encode(hashlib.blake2b(
        //   json.dumps(json.loads(sys.argv[1]), sort_keys=True).encode("utf8"), digest_size=15).digest()).decode())' TEXT
        let cases = [
            (r#"{}"#, "1K9qSuGcpusRy0fITOpt"),
            (r#"{"workers": 2}"#, "hgooDLFwebnPQSPeMics"),
            (
                r#"{"workers": 2, "network": {"listen": [{"interface": "127.0.0.1", "port": 5353}]}, "cache": {"size-max": "100M"}}"#,
                "mtZFVYge_GF_hZzLTplh",
            ),
            (r#"{"lua": {"script": "-- žluťoučký kůň 😀"}, "ratio": 0.5, "big": 1e16}"#, "V9vnQrWw0SkuUfLcVFao"),
        ];
        for (input, expected) in cases {
            let tag = etag(&doc(input));
            assert_eq!(tag, expected, "{input}");
            assert_eq!(tag.len(), 20);
        }
    }

    #[test]
    fn etag_ignores_member_order() {
        assert_eq!(etag(&json!({"a": 1, "b": [1, 2]})), etag(&doc(r#"{"b": [1, 2], "a": 1}"#)));
        assert_ne!(etag(&json!({"a": 1})), etag(&json!({"a": 1.0})));
        assert_ne!(etag(&json!([1, 2])), etag(&json!([2, 1])));
    }
}
