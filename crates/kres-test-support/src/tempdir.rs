use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fresh directory, removed with everything in it when dropped: a `tempfile::TempDir` with this project's
/// naming and the `KRES_TEST_KEEP=1` escape hatch.
///
/// It lives under `std::env::temp_dir()` (`/tmp` inside the sid root) with a short random name,
/// `kres-<tag>-XXXXXX`, so unix socket paths inside it stay well below the 108-byte `sun_path` limit. It is
/// created with mode 0755 (as `mkdir` with the usual umask would), not tempfile's 0700, so a process that dropped
/// its privileges can still reach files inside. Set `KRES_TEST_KEEP=1` to keep the directories of a run for
/// inspection.
#[derive(Debug)]
pub struct TempDir {
    dir: tempfile::TempDir,
    keep: bool,
}

impl TempDir {
    /// Creates a new directory; `tag` (a short word, e.g. `"kresd"`) makes it recognisable.
    ///
    /// # Panics
    /// When the directory cannot be created.
    pub fn new(tag: &str) -> TempDir {
        let prefix = format!("kres-{tag}-");
        let mut dir = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(6)
            .permissions(fs::Permissions::from_mode(0o755))
            .tempdir_in(std::env::temp_dir())
            .unwrap_or_else(|e| panic!("cannot create a temporary directory {prefix}* in /tmp: {e}"));
        let keep = std::env::var_os("KRES_TEST_KEEP").is_some_and(|v| v != "0" && !v.is_empty());
        dir.disable_cleanup(keep);
        TempDir { dir, keep }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` inside the directory and returns the file's path.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Keeps the directory after drop (prints its path); for debugging a failing test.
    pub fn keep(&mut self) -> &Path {
        self.keep = true;
        self.dir.disable_cleanup(true);
        self.dir.path()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for TempDir {
    /// Says where a kept directory is; `tempfile::TempDir` removes the others when it is dropped after this.
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kres-test-support: keeping {}", self.path().display());
        }
    }
}
