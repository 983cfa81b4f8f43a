//! Sizes (`100M`) and durations (`5s`).

use serde_json::json;

use super::{parsed_text, text_value};

/// A size: `<digits><unit>` with unit `B`, `K`, `M` or `G` (powers of 1024).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeUnit {
    text: String,
    bytes: u64,
}

impl SizeUnit {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "'{text}' is not a size: expected a whole number followed by one of the units B, K, M, G (for example 100M)"
            )
        };
        let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let multiplier: u64 = match unit {
            "B" => 1,
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            _ => return Err(bad()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| format!("'{text}' is too large"))?;
        let bytes = n.checked_mul(multiplier).ok_or_else(|| format!("'{text}' is too large"))?;
        Ok(SizeUnit { text: text.to_owned(), bytes })
    }

    /// A size known to be valid (defaults).
    pub fn from_static(text: &'static str) -> Self {
        Self::parse(text).unwrap_or_else(|e| panic!("invalid built-in size: {e}"))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// Whole mebibytes (rounded down).
    pub fn mbytes(&self) -> u64 {
        self.bytes / (1 << 20)
    }
}

text_value!(SizeUnit);
parsed_text!(SizeUnit, json!({"type": "string", "pattern": "^(\\d+)(B|K|M|G)$"}));

/// A duration: `<digits><unit>` with unit `us`, `ms`, `s`, `m`, `h` or `d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeUnit {
    text: String,
    micros: u64,
}

impl TimeUnit {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "'{text}' is not a duration: expected a whole number followed by one of the units us, ms, s, m, h, d (for example 5s)"
            )
        };
        let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let multiplier: u64 = match unit {
            "us" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            _ => return Err(bad()),
        };
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| format!("'{text}' is too large"))?;
        let micros = n.checked_mul(multiplier).ok_or_else(|| format!("'{text}' is too large"))?;
        Ok(TimeUnit { text: text.to_owned(), micros })
    }

    pub fn from_static(text: &'static str) -> Self {
        Self::parse(text).unwrap_or_else(|e| panic!("invalid built-in duration: {e}"))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn micros(&self) -> u64 {
        self.micros
    }
    pub fn millis(&self) -> u64 {
        self.micros / 1_000
    }
    pub fn seconds(&self) -> u64 {
        self.micros / 1_000_000
    }
    pub fn minutes(&self) -> u64 {
        self.micros / 60_000_000
    }
}

impl PartialOrd for TimeUnit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.micros.partial_cmp(&other.micros)
    }
}

text_value!(TimeUnit);
parsed_text!(TimeUnit, json!({"type": "string", "pattern": "^(\\d+)(us|ms|s|m|h|d)$"}));
