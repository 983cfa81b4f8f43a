//! YAML 1.1 scalar typing, as PyYAML's SafeLoader (which the reference manager uses) resolves plain scalars.

use saphyr_parser::{ScalarStyle, Tag};

use crate::node::Value;

/// Resolves a scalar with YAML 1.1 rules (PyYAML's SafeLoader resolvers).
pub(super) fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
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
