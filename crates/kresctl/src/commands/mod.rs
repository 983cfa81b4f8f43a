//! One module per `kresctl` subcommand: its arguments (`Args`, clap derive) and its `run`.

pub mod convert;
pub mod migrate;
pub mod schema;
pub mod validate;

use std::path::PathBuf;

use kres_datamodel::{ConfigError, KresConfig, SystemFacts};

/// Reads, merges and validates configuration files like the reference's offline commands: relative paths are
/// resolved against the first file's directory; path existence and permissions are only checked with `strict`.
pub(crate) fn load(files: &[PathBuf], strict: bool) -> Result<KresConfig, ConfigError> {
    kres_datamodel::load_files(files, strict, SystemFacts::from_system()).map(|(_, config)| config)
}
