use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory, removed with everything in it when dropped.
///
/// It lives under `std::env::temp_dir()` (`/tmp` inside the sid root) with a short per-process unique name,
/// `kres-<pid>-<n>-<tag>`, so unix socket paths inside it stay well below the 108-byte `sun_path` limit.
/// Set `KRES_TEST_KEEP=1` to keep the directories of a run for inspection.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TempDir {
    /// Creates a new directory; `tag` (a short word, e.g. `"kresd"`) makes it recognisable.
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let name = format!("kres-{}-{n}-{:x}-{tag}", std::process::id(), nanos & 0xfff);
            let path = base.join(name);
            match fs::create_dir(&path) {
                Ok(()) => {
                    let keep = std::env::var_os("KRES_TEST_KEEP").is_some_and(|v| v != "0" && !v.is_empty());
                    return TempDir { path, keep };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create a temporary directory {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to `name` inside the directory and returns the file's path.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Keeps the directory after drop (prints its path); for debugging a failing test.
    pub fn keep(&mut self) -> &Path {
        self.keep = true;
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kres-test-support: keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
