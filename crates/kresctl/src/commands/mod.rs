//! One module per `kresctl` subcommand: its arguments (`Args`, clap derive) and its `run`.

pub mod cache;
pub mod completion;
pub mod config;
pub mod convert;
pub mod debug;
pub mod fleet;
pub mod hash_token;
pub mod history;
pub mod metrics;
pub mod migrate;
pub mod pids;
pub mod reload;
pub mod rollback;
pub mod schema;
pub mod stop;
pub mod validate;

use std::path::PathBuf;

use kres_datamodel::{ConfigError, KresConfig, SystemFacts};

/// Reads, merges and validates configuration files like the reference's offline commands: relative paths are
/// resolved against the first file's directory; path existence and permissions are only checked with `strict`.
///
/// The raw document is leaked, not dropped: `kresctl` exits right after, and freeing a large tree node by node
/// (100,000 names: ~10 ms) would only delay that. Callers leak the configuration for the same reason ([`leak`]).
pub(crate) fn load(files: &[PathBuf], strict: bool) -> Result<KresConfig, ConfigError> {
    let (raw, config) = kres_datamodel::load_files(files, strict, SystemFacts::from_system())?;
    std::mem::forget(raw);
    Ok(config)
}

/// Leaks a value that lives until the process exits anyway (see [`load`]).
pub(crate) fn leak<T>(value: T) {
    std::mem::forget(value);
}
