//! The configuration history: every configuration the manager is asked to apply becomes a numbered generation,
//! kept durably in the state directory so that it survives restarts and can be rolled back to.
//!
//! This module is the storage; the apply pipeline records into it (`manager/generations.rs`), the API serves it
//! (`server/history.rs`, `GET /v1/history...`) and `kresctl history|rollback|config diff` read it.
//!
//! * Where: `<state dir>/history/` (the state directory, `/var/lib/knot-resolver` by default, must exist; the
//!   `history` directory is created inside it, mode 0750). `history/.lock` is held with `flock` while a store
//!   is open, so two managers cannot write the same history.
//! * Format (version [`FORMAT`]): one file per generation, `<number>.json` with the number zero-padded to 10
//!   digits (`0000000042.json`) so that `ls` sorts them, mode 0640, holding one JSON object
//!   `{"format": 1, "generation": {metadata}, "config": {document}}`: the metadata is
//!   [`kres_datamodel::api::history::Generation`] (number, ETag, time, source, client, result, duration,
//!   restarted workers) and the configuration is the raw JSON document as it was applied.
//! * Writing: the file is written as `<name>.json.tmp`, `fdatasync`ed, renamed over its final name and the
//!   directory is `fsync`ed, so a crash leaves either the whole entry or none (plus, at worst, a temp file).
//! * Opening reads every entry into an in-memory index (the metadata and the file's size; configurations stay on
//!   disk until asked for). Temp files left by a crash are removed, a file that does not parse (truncated,
//!   garbage, a name that does not match its number) is removed with a warning; neither ever stops the start.
//!   An entry of a newer format is left alone (a downgrade keeps the newer manager's history) but not listed.
//!   Numbering continues after the highest number seen in a file name, whatever became of that file.
//! * Retention ([`Retention`]): after each write and at open, the oldest generations are removed until at most
//!   `max_count` remain and their files total at most `max_bytes`; the newest generation and the one in force
//!   (the newest whose result is `applied`) are never removed, even if the limits are then exceeded.
//! * Ownership: one [`HistoryStore`] belongs to the manager's actor, which applies one change at a time; its
//!   writing methods take `&mut self`, so appends are serialized by construction (no internal locking).

mod entry;
mod store;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use entry::{FORMAT, rfc3339_utc};
pub use kres_datamodel::api::history::{Client, Generation, HistoryPage, Outcome, Source};
pub use store::HistoryStore;

/// The name of the history directory inside the state directory.
pub const HISTORY_DIR: &str = "history";

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many generations (the newest and the one in force are kept anyway).
    pub max_count: usize,
    /// At most this many bytes of history files in total (the newest and the one in force are kept anyway).
    pub max_bytes: u64,
}

impl Default for Retention {
    /// 100 generations, 64 MiB.
    fn default() -> Retention {
        Retention { max_count: 100, max_bytes: 64 << 20 }
    }
}

/// What the apply pipeline knows about a change when it records it; the store adds the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The ETag of the configuration document.
    pub etag: String,
    /// When the change was asked for.
    pub time: SystemTime,
    pub source: Source,
    pub client: Option<Client>,
    pub result: Outcome,
    /// How long the apply took.
    pub duration: Duration,
    /// The instance numbers of the workers that were restarted.
    pub restarted_workers: Vec<u32>,
}

/// Why the history cannot be opened, written or read. Every variant names the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "the state directory '{path}' does not exist; create it (the package creates /var/lib/knot-resolver) \
         or choose another one"
    )]
    StateDirMissing { path: PathBuf },
    #[error("'{path}' is not a directory; the configuration history needs a directory there")]
    NotADirectory { path: PathBuf },
    #[error("cannot create the history directory '{path}': {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("the history directory '{path}' is not writable: {source}")]
    Unwritable { path: PathBuf, source: std::io::Error },
    #[error("the history directory '{path}' is in use by another process (is another manager running on it?)")]
    Locked { path: PathBuf },
    #[error("cannot read the history directory '{path}': {source}")]
    ReadDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write the history entry '{path}': {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read the history entry '{path}': {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the history entry '{path}' is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("generation {number} is not in the history")]
    NotFound { number: u64 },
}
