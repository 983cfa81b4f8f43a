//! One history entry on disk: its file name, its JSON form (format [`FORMAT`]) and the RFC 3339 time stamp.

use std::ffi::OsStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::Generation;

/// The version of the on-disk format, the `format` field of every entry. Bump it when an entry written by this
/// version could not be read correctly by an older one; an older manager leaves newer entries alone.
pub const FORMAT: u64 = 1;

/// Digits of the zero-padded number in a file name (sorting; numbers above this just get longer names).
const NAME_DIGITS: usize = 10;
const ENTRY_SUFFIX: &str = ".json";
const TEMP_SUFFIX: &str = ".json.tmp";
/// The lock file held while a store is open.
pub(super) const LOCK_NAME: &str = ".lock";

/// The file name of generation `number`.
pub(super) fn file_name(number: u64) -> String {
    format!("{number:0NAME_DIGITS$}{ENTRY_SUFFIX}")
}

/// The temporary name generation `number` is written under before it is renamed.
pub(super) fn temp_name(number: u64) -> String {
    format!("{number:0NAME_DIGITS$}{TEMP_SUFFIX}")
}

/// What a file in the history directory is, by its name.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Name {
    /// `<number>.json`: an entry.
    Entry(u64),
    /// `*.json.tmp`: an entry whose writing did not finish.
    Temp,
    /// Anything else (the lock file, a file an operator put there): left alone.
    Other,
}

pub(super) fn classify(name: &OsStr) -> Name {
    let Some(name) = name.to_str() else { return Name::Other };
    if name.ends_with(TEMP_SUFFIX) {
        return Name::Temp;
    }
    match name.strip_suffix(ENTRY_SUFFIX) {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().map_or(Name::Other, Name::Entry)
        }
        _ => Name::Other,
    }
}

/// The JSON text of an entry.
#[derive(Serialize)]
struct EntryRef<'a> {
    format: u64,
    generation: &'a Generation,
    config: &'a Value,
}

/// The bytes of the file of `generation` (compact JSON and a final newline).
pub(super) fn encode(generation: &Generation, config: &Value) -> serde_json::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(&EntryRef { format: FORMAT, generation, config })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// An entry as read back.
#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "a short-lived return value, matched at once")]
pub(super) enum Decoded {
    Entry {
        generation: Generation,
        config: Value,
    },
    /// Written by a newer manager, in format `format`.
    NewerFormat(u64),
}

/// Reads the file of generation `number` (the number its name says); an error says what is wrong with it.
pub(super) fn decode(bytes: &[u8], number: u64) -> Result<Decoded, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut object) = value else { return Err("not a JSON object".into()) };
    let format = object.get("format").and_then(Value::as_u64).ok_or("no format number")?;
    if format > FORMAT {
        return Ok(Decoded::NewerFormat(format));
    }
    if format != FORMAT {
        return Err(format!("unknown format {format}"));
    }
    let generation = object.remove("generation").ok_or("no generation metadata")?;
    let generation: Generation =
        serde_json::from_value(generation).map_err(|e| format!("invalid generation metadata ({e})"))?;
    if generation.number != number {
        return Err(format!("it holds generation {} under the name of generation {number}", generation.number));
    }
    let config = object.remove("config").ok_or("no configuration")?;
    Ok(Decoded::Entry { generation, config })
}

/// `time` in RFC 3339, UTC, with milliseconds: `2026-12-03T14:11:55.123Z` (times before 1970 are clamped to it).
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil-from-days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let days = days + 719_468;
    let era = days / 146_097;
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
