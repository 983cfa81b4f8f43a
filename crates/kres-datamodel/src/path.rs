//! JSON-pointer paths naming a place in the configuration (`/network/listen/0/port`).

use std::fmt;

/// Escapes one reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer being built while walking a document. The root is the empty string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Path(String);

impl Path {
    pub fn root() -> Self {
        Path(String::new())
    }

    pub fn key(&self, key: &str) -> Path {
        Path(format!("{}/{}", self.0, escape_token(key)))
    }

    pub fn index(&self, index: usize) -> Path {
        Path(format!("{}/{index}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("/") } else { f.write_str(&self.0) }
    }
}
