//! [`HistoryStore`]: the history directory, its in-memory index, appends, reads and retention.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use serde_json::Value;

use super::entry::{self, Decoded, LOCK_NAME, Name};
use super::{Generation, HISTORY_DIR, HistoryError, HistoryPage, Record, Retention};

/// Mode of the history directory and of its files: configurations can name key files and hold secrets.
const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;
/// Written and removed at open to find out early whether the directory is writable.
const PROBE_NAME: &str = ".probe.json.tmp";

/// A generation in the index: its metadata and the size of its file.
#[derive(Debug)]
struct Indexed {
    generation: Generation,
    bytes: u64,
}

/// The configuration history of one state directory. Owned by the manager's actor: writes take `&mut self`, so
/// they are serialized by whoever owns it; reads of the metadata come from memory.
#[derive(Debug)]
pub struct HistoryStore {
    /// `<state dir>/history`.
    dir: PathBuf,
    /// The directory itself, kept open to `fsync` it after renames and removals.
    dir_handle: File,
    /// `history/.lock`, `flock`ed for as long as the store lives.
    _lock: File,
    retention: Retention,
    index: BTreeMap<u64, Indexed>,
    /// The sum of `index[..].bytes`.
    total_bytes: u64,
    /// The number the next generation gets.
    next: u64,
    /// Whether to `fdatasync` entries and `fsync` the directory (always, except in a benchmark).
    sync: bool,
}

impl HistoryStore {
    /// Opens (creating it if needed) the history in `state_dir`: reads what is there, removes temp files and
    /// damaged entries with a warning, then applies `retention`. Fails only when the directory cannot be used:
    /// missing state directory, not a directory, not writable, locked by another process.
    pub fn open(state_dir: &Path, retention: Retention) -> Result<HistoryStore, HistoryError> {
        match fs::metadata(state_dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(HistoryError::NotADirectory { path: state_dir.to_path_buf() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HistoryError::StateDirMissing { path: state_dir.to_path_buf() });
            }
            Err(source) => return Err(HistoryError::ReadDir { path: state_dir.to_path_buf(), source }),
        }
        let dir = state_dir.join(HISTORY_DIR);
        match DirBuilder::new().mode(DIR_MODE).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !dir.is_dir() {
                    return Err(HistoryError::NotADirectory { path: dir });
                }
            }
            Err(source) => return Err(HistoryError::CreateDir { path: dir, source }),
        }
        let lock = lock(&dir)?;
        probe_writable(&dir)?;
        let dir_handle = File::open(&dir).map_err(|source| HistoryError::ReadDir { path: dir.clone(), source })?;
        let mut store = HistoryStore {
            dir,
            dir_handle,
            _lock: lock,
            retention,
            index: BTreeMap::new(),
            total_bytes: 0,
            next: 1,
            sync: true,
        };
        let removed = store.load()?;
        if store.prune() || removed {
            store.sync_dir()?;
        }
        Ok(store)
    }

    /// Reads every entry into the index; returns whether files were removed.
    fn load(&mut self) -> Result<bool, HistoryError> {
        let dir = self.dir.clone();
        let read_dir_error = |source| HistoryError::ReadDir { path: dir.clone(), source };
        let mut highest = 0;
        let mut removed = false;
        for dirent in fs::read_dir(&dir).map_err(read_dir_error)? {
            let dirent = dirent.map_err(read_dir_error)?;
            let path = dirent.path();
            let number = match entry::classify(&dirent.file_name()) {
                Name::Other => continue,
                Name::Temp => {
                    tracing::warn!("removing '{}', a history entry whose writing did not finish", path.display());
                    removed |= remove(&path);
                    continue;
                }
                Name::Entry(number) => number,
            };
            highest = highest.max(number);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!("skipping the history entry '{}': cannot read it: {e}", path.display());
                    continue;
                }
            };
            match entry::decode(&bytes, number) {
                Ok(Decoded::Entry { generation, .. }) => self.insert(generation, bytes.len() as u64),
                Ok(Decoded::NewerFormat(format)) => tracing::warn!(
                    "skipping the history entry '{}': a newer manager wrote it in format {format} (this one reads \
                     format {})",
                    path.display(),
                    entry::FORMAT
                ),
                Err(reason) => {
                    tracing::warn!("removing the damaged history entry '{}': {reason}", path.display());
                    removed |= remove(&path);
                }
            }
        }
        self.next = highest.saturating_add(1);
        Ok(removed)
    }

    /// Records a new generation: `record` and the configuration document `config`, durably (see the module doc).
    /// Returns its metadata. On an error nothing is recorded, except when only the final directory `fsync`
    /// failed: the entry is then in the history but might not survive a crash. Numbers are never reused, so a
    /// failed append leaves a gap.
    pub fn append(&mut self, record: Record, config: &Value) -> Result<&Generation, HistoryError> {
        let number = self.next;
        self.next = self.next.saturating_add(1);
        let generation = Generation {
            number,
            etag: record.etag,
            time: entry::rfc3339_utc(record.time),
            source: record.source,
            client: record.client,
            result: record.result,
            duration_ms: u64::try_from(record.duration.as_millis()).unwrap_or(u64::MAX),
            restarted_workers: record.restarted_workers,
        };
        let path = self.dir.join(entry::file_name(number));
        let bytes = entry::encode(&generation, config)
            .map_err(|e| HistoryError::Write { path: path.clone(), source: io::Error::other(e) })?;
        let temp = self.dir.join(entry::temp_name(number));
        if let Err(source) = write_file(&temp, &bytes, self.sync) {
            remove(&temp);
            return Err(HistoryError::Write { path: temp, source });
        }
        if let Err(source) = fs::rename(&temp, &path) {
            remove(&temp);
            return Err(HistoryError::Write { path, source });
        }
        self.insert(generation, bytes.len() as u64);
        self.prune();
        self.sync_dir()?;
        Ok(&self.index[&number].generation)
    }

    /// The number the next appended generation gets.
    pub fn next_number(&self) -> u64 {
        self.next
    }

    /// A page of the history, newest first: `limit` generations after skipping the `offset` newest.
    pub fn list(&self, offset: usize, limit: usize) -> HistoryPage {
        let generations = self.index.values().rev().skip(offset).take(limit).map(|i| i.generation.clone()).collect();
        HistoryPage { total: self.index.len(), offset, generations }
    }

    /// The metadata of generation `number`.
    pub fn get(&self, number: u64) -> Option<&Generation> {
        self.index.get(&number).map(|i| &i.generation)
    }

    /// The configuration document of generation `number`, read from its file.
    pub fn config(&self, number: u64) -> Result<Value, HistoryError> {
        if !self.index.contains_key(&number) {
            return Err(HistoryError::NotFound { number });
        }
        let path = self.dir.join(entry::file_name(number));
        let bytes = fs::read(&path).map_err(|source| HistoryError::Read { path: path.clone(), source })?;
        match entry::decode(&bytes, number) {
            Ok(Decoded::Entry { config, .. }) => Ok(config),
            Ok(Decoded::NewerFormat(format)) => {
                Err(HistoryError::Corrupt { path, reason: format!("rewritten in the newer format {format}") })
            }
            Err(reason) => Err(HistoryError::Corrupt { path, reason }),
        }
    }

    /// The newest generation that was applied: the configuration in force.
    pub fn last_applied(&self) -> Option<&Generation> {
        self.index.values().rev().map(|i| &i.generation).find(|g| g.result.is_applied())
    }

    /// The newest generation, whatever its result.
    pub fn newest(&self) -> Option<&Generation> {
        self.index.values().next_back().map(|i| &i.generation)
    }

    /// How many generations the history holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The total size of the history's entry files, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// `<state dir>/history`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Changes the retention limits and applies them at once.
    pub fn set_retention(&mut self, retention: Retention) -> Result<(), HistoryError> {
        self.retention = retention;
        if self.prune() { self.sync_dir() } else { Ok(()) }
    }

    /// Without `fdatasync`/`fsync` (to measure the cost of an append without the disk's latency).
    #[cfg(test)]
    pub(super) fn set_sync(&mut self, sync: bool) {
        self.sync = sync;
    }

    fn insert(&mut self, generation: Generation, bytes: u64) {
        self.total_bytes += bytes;
        if let Some(old) = self.index.insert(generation.number, Indexed { generation, bytes }) {
            self.total_bytes -= old.bytes;
        }
    }

    /// Removes the oldest generations beyond the retention limits, never the newest nor the one in force; returns
    /// whether files were removed. A file that cannot be removed is logged and stays in the history.
    fn prune(&mut self) -> bool {
        let newest = self.newest().map(|g| g.number);
        let in_force = self.last_applied().map(|g| g.number);
        let candidates: Vec<u64> =
            self.index.keys().copied().filter(|&n| Some(n) != newest && Some(n) != in_force).collect();
        let mut removed = false;
        for number in candidates {
            if self.index.len() <= self.retention.max_count && self.total_bytes <= self.retention.max_bytes {
                break;
            }
            let path = self.dir.join(entry::file_name(number));
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!("cannot remove the old history entry '{}': {e}", path.display());
                    continue;
                }
                _ => {}
            }
            if let Some(old) = self.index.remove(&number) {
                self.total_bytes -= old.bytes;
            }
            removed = true;
        }
        removed
    }

    /// Makes the renames and removals in the directory durable.
    fn sync_dir(&self) -> Result<(), HistoryError> {
        if !self.sync {
            return Ok(());
        }
        self.dir_handle.sync_all().map_err(|source| HistoryError::Write { path: self.dir.clone(), source })
    }
}

/// Opens and `flock`s `dir/.lock`.
fn lock(dir: &Path) -> Result<File, HistoryError> {
    let path = dir.join(LOCK_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(&path)
        .map_err(|source| HistoryError::Unwritable { path: dir.to_path_buf(), source })?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(HistoryError::Locked { path: dir.to_path_buf() }),
        Err(e) => Err(HistoryError::Unwritable { path: path.clone(), source: e.into() }),
    }
}

/// Creates and removes a file in `dir`, so that an unwritable history is reported at start, not at the first
/// change.
fn probe_writable(dir: &Path) -> Result<(), HistoryError> {
    let path = dir.join(PROBE_NAME);
    write_file(&path, b"", false).map_err(|source| HistoryError::Unwritable { path: dir.to_path_buf(), source })?;
    fs::remove_file(&path).map_err(|source| HistoryError::Unwritable { path: dir.to_path_buf(), source })
}

/// Writes `bytes` to a new file at `path` (replacing a leftover one), `fdatasync`ed when `sync`.
fn write_file(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    file.write_all(bytes)?;
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

/// Removes `path`, logging a failure; returns whether it is gone.
fn remove(path: &Path) -> bool {
    match fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => {
            tracing::warn!("cannot remove '{}': {e}", path.display());
            false
        }
    }
}
