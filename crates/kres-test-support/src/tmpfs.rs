use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs mounted over a directory of a test (the tests run as root inside the sid root), for "disk full"
/// cases; lazily unmounted on drop.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"2M"`) on `path`, creating it.
    ///
    /// # Panics
    /// When `mount` fails.
    pub fn mount(path: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "kres-test-tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs on {} failed: {status}", path.display());
        Tmpfs { path: path.to_path_buf() }
    }

    /// Writes zeros into `name` until the file system is full.
    pub fn fill(&self, name: &str) {
        let mut file = fs::File::create(self.path.join(name)).unwrap();
        let block = vec![0u8; 64 << 10];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&block[..4096]).is_ok() {}
        let _ = file.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
