//! Errors of reading and validating a configuration.

use std::fmt;

use crate::node::{Mark, MergeConflict};
use crate::parse::ParseError;
use crate::path::Path;

/// One problem found in a configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON pointer of the offending value (`""` is the document root).
    pub path: Path,
    /// Plain-English description of the problem.
    pub message: String,
    /// Where the value is written, when the document came from text.
    pub mark: Option<Mark>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.path, self.message)?;
        if let Some(m) = &self.mark {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

/// Every problem found in one document (validation never stops at the first one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 {
            writeln!(f, "Configuration validation error detected:")?;
        } else {
            writeln!(f, "Configuration validation errors detected:")?;
        }
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "\t{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file '{path}': {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot parse configuration '{source_name}': {error}")]
    Parse { source_name: String, error: ParseError },
    #[error("cannot merge configuration files: {0}")]
    Merge(MergeConflict),
    #[error("{0}")]
    Invalid(ValidationErrors),
}
