//! Input limits: what a configuration document may cost to read, whatever its source (a file given to
//! `knot-resolver` or `kresctl`, an HTTP API body in JSON or YAML).
//!
//! Without them a 300-byte YAML "billion laughs" (nested aliases) costs gigabytes, a deeply nested document
//! overflows the stack of every recursive walk, and a mapping with a million keys costs far more than its text.
//! Every value is far above what a real configuration needs (a 100,000-item `/forward` list reads fine); they are
//! documented in `docs/reliability.md` ("Input limits").

/// The limits a parser enforces. [`Limits::DEFAULT`] is what every input path uses; tests use smaller ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of lists and mappings (the same as serde_json's recursion limit).
    pub max_depth: usize,
    /// Values (scalars, lists, mappings) in one document, counting those copied by YAML aliases.
    pub max_values: usize,
    /// Keys of one mapping.
    pub max_keys: usize,
    /// Bytes of one string (a value or a key).
    pub max_string_bytes: usize,
    /// Values YAML anchors and aliases may copy: this many, plus [`Limits::alias_ratio`] per value written.
    pub alias_values_allowance: usize,
    /// Bytes of strings YAML aliases may copy: this many, plus [`Limits::alias_ratio`] per byte of the document.
    pub alias_bytes_allowance: usize,
    /// How much larger than what is written an alias expansion may be.
    pub alias_ratio: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_depth: 128,
        max_values: 2_000_000,
        max_keys: 500_000,
        max_string_bytes: 4 << 20,
        alias_values_allowance: 10_000,
        alias_bytes_allowance: 1 << 20,
        alias_ratio: 4,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Every limit error starts with this, so callers and tests can tell them from syntax errors.
pub const LIMIT_ERROR_PREFIX: &str = "input limit exceeded";

/// What one document has cost so far.
pub(crate) struct Budget {
    limits: Limits,
    /// Bytes of the document text.
    text_bytes: usize,
    /// Values read from the text.
    written: usize,
    /// Values and string bytes copied by YAML anchors and aliases.
    copied_values: usize,
    copied_bytes: usize,
}

impl Budget {
    pub(crate) fn new(limits: Limits, text_bytes: usize) -> Self {
        Budget { limits, text_bytes, written: 0, copied_values: 0, copied_bytes: 0 }
    }

    /// One more value read from the text.
    pub(crate) fn value(&mut self) -> Result<(), String> {
        self.written += 1;
        self.check_total()
    }

    fn check_total(&self) -> Result<(), String> {
        if self.written + self.copied_values > self.limits.max_values {
            return Err(format!("{LIMIT_ERROR_PREFIX}: the document has more than {} values", self.limits.max_values));
        }
        Ok(())
    }

    /// A list or mapping opened at `depth` (the document root is at depth 1).
    pub(crate) fn depth(&self, depth: usize) -> Result<(), String> {
        if depth > self.limits.max_depth {
            return Err(format!(
                "{LIMIT_ERROR_PREFIX}: lists and mappings are nested more than {} levels deep",
                self.limits.max_depth
            ));
        }
        Ok(())
    }

    /// A string (value or key) of `len` bytes.
    pub(crate) fn string(&self, len: usize) -> Result<(), String> {
        if len > self.limits.max_string_bytes {
            return Err(format!(
                "{LIMIT_ERROR_PREFIX}: a string is longer than {} bytes ({len} bytes)",
                self.limits.max_string_bytes
            ));
        }
        Ok(())
    }

    /// A mapping that already has `keys` keys gets one more.
    pub(crate) fn key(&self, keys: usize) -> Result<(), String> {
        if keys >= self.limits.max_keys {
            return Err(format!("{LIMIT_ERROR_PREFIX}: a mapping has more than {} keys", self.limits.max_keys));
        }
        Ok(())
    }

    /// A YAML anchor or alias copies a value of `size`.
    pub(crate) fn copy(&mut self, size: Size) -> Result<(), String> {
        let limits = &self.limits;
        let values = self.copied_values.saturating_add(size.values);
        let value_limit = limits.alias_values_allowance.saturating_add(limits.alias_ratio.saturating_mul(self.written));
        if values > value_limit {
            return Err(format!(
                "{LIMIT_ERROR_PREFIX}: YAML anchors and aliases expand to more than {value_limit} values \
                 ({} plus {} per value written; {} written so far); is this an alias bomb (\"billion laughs\")?",
                limits.alias_values_allowance, limits.alias_ratio, self.written
            ));
        }
        let bytes = self.copied_bytes.saturating_add(size.bytes);
        let byte_limit =
            limits.alias_bytes_allowance.saturating_add(limits.alias_ratio.saturating_mul(self.text_bytes));
        if bytes > byte_limit {
            return Err(format!(
                "{LIMIT_ERROR_PREFIX}: YAML anchors and aliases copy more than {byte_limit} bytes of text \
                 ({} plus {} per byte of the {}-byte document)",
                limits.alias_bytes_allowance, limits.alias_ratio, self.text_bytes
            ));
        }
        self.copied_values = values;
        self.copied_bytes = bytes;
        self.check_total()
    }
}

/// The cost of a value: how many values it holds (itself included), the bytes of its strings and keys, and how
/// deep it nests (a scalar is 0, `[1]` is 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    pub values: usize,
    pub bytes: usize,
    pub depth: usize,
}

impl Size {
    pub(crate) fn of(node: &crate::node::Node) -> Size {
        use crate::node::Value;
        match &node.value {
            Value::Str(s) => Size { values: 1, bytes: s.len(), depth: 0 },
            Value::List(items) => {
                items.iter().fold(Size { values: 1, bytes: 0, depth: 1 }, |acc, item| acc.add(Size::of(item), 0))
            }
            Value::Map(entries) => {
                entries.iter().fold(Size { values: 1, bytes: 0, depth: 1 }, |acc, (k, v)| acc.add(Size::of(v), k.len()))
            }
            _ => Size { values: 1, bytes: 0, depth: 0 },
        }
    }

    fn add(self, child: Size, key_bytes: usize) -> Size {
        Size {
            values: self.values + child.values,
            bytes: self.bytes + child.bytes + key_bytes,
            depth: self.depth.max(child.depth + 1),
        }
    }
}
