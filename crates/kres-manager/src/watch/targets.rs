//! What the file watchers watch, derived from the configuration in force, and how a change is recognised.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use kres_datamodel::KresConfig;

/// A group of files and what to do when one of them changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/network/tls/{cert-file,key-file}` with `watchdog` on: `net.tls(cert, key)` in every worker.
    Tls { cert: PathBuf, key: PathBuf },
    /// `/local-data/rpz[*]/file` with `watchdog` on: renew (re-run the policy-loader, reset the workers' rules).
    Rpz { file: PathBuf },
}

impl Target {
    pub fn files(&self) -> Vec<&Path> {
        match self {
            Target::Tls { cert, key } => vec![cert, key],
            Target::Rpz { file } => vec![file],
        }
    }
}

/// The watched groups of a configuration (the reference's rule: TLS when `watchdog` is on and both files are
/// set; every RPZ whose `watchdog` is on).
pub fn targets(config: &KresConfig) -> Vec<Target> {
    let mut out = Vec::new();
    let tls = &config.network.tls;
    if tls.watch_files()
        && let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file)
    {
        out.push(Target::Tls { cert: cert.path().to_path_buf(), key: key.path().to_path_buf() });
    }
    for rpz in config.local_data.rpz.iter().flatten() {
        let target = Target::Rpz { file: rpz.file.path().to_path_buf() };
        if rpz.watchdog.enabled() && !out.contains(&target) {
            out.push(target);
        }
    }
    out
}

/// The directories to watch (non-recursively) for `targets`: the parent of each file as configured and, when
/// the name is a symbolic link, the parent of the file it points to now (certbot's `live/` links point into
/// `archive/`). A file is never watched itself: rename-over and delete-and-recreate replace its inode.
pub fn directories(targets: &[Target]) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for file in targets.iter().flat_map(Target::files) {
        if let Some(parent) = file.parent() {
            dirs.insert(parent.to_path_buf());
        }
        if let Ok(real) = std::fs::canonicalize(file)
            && let Some(parent) = real.parent()
        {
            dirs.insert(parent.to_path_buf());
        }
    }
    dirs
}

/// Identifies one version of a file (followed through symbolic links): a rename-over or a re-created file has
/// another inode, an in-place write another size or modification time, a re-pointed link another target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    /// `None` when the file does not exist (or cannot be read).
    pub fn of(path: &Path) -> Option<Fingerprint> {
        let m = std::fs::metadata(path).ok()?;
        if !m.is_file() {
            return None;
        }
        Some(Fingerprint {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The fingerprints of a target's files, in [`Target::files`] order.
pub fn fingerprints(target: &Target) -> Vec<Option<Fingerprint>> {
    target.files().into_iter().map(Fingerprint::of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kres_datamodel::{SystemFacts, ValidationOptions};

    fn config(yaml: &str, root: &Path) -> KresConfig {
        let opts = ValidationOptions::new(false, root.to_path_buf(), SystemFacts::from_system());
        let node = kres_datamodel::parse::parse_yaml(yaml, "test").expect("yaml");
        kres_datamodel::validate(&node, &opts).expect("valid")
    }

    #[test]
    fn tls_needs_both_files_and_watchdog() {
        let root = Path::new("/etc/knot-resolver");
        let c = config("network:\n  tls:\n    cert-file: c.pem\n    key-file: k.pem\n", root);
        assert_eq!(
            targets(&c),
            vec![Target::Tls { cert: root.join("c.pem"), key: root.join("k.pem") }],
            "watchdog: auto means on"
        );
        let c = config("network:\n  tls:\n    watchdog: false\n    cert-file: c.pem\n    key-file: k.pem\n", root);
        assert!(targets(&c).is_empty());
        assert!(targets(&config("{}", root)).is_empty());
    }

    #[test]
    fn rpz_with_watchdog_only_once_each() {
        let root = Path::new("/srv");
        let c = config(
            "local-data:\n  rpz:\n    - file: /z/a.rpz\n    - file: /z/b.rpz\n      watchdog: false\n    - file: /y/c.rpz\n      watchdog: true\n    - file: /z/a.rpz\n",
            root,
        );
        let t = targets(&c);
        assert_eq!(
            t,
            vec![Target::Rpz { file: "/z/a.rpz".into() }, Target::Rpz { file: "/y/c.rpz".into() }],
            "b has watchdog off; a is listed once"
        );
        assert_eq!(directories(&t), BTreeSet::from([PathBuf::from("/y"), PathBuf::from("/z")]));
    }

    #[test]
    fn fingerprints_see_in_place_writes_renames_and_deletion() {
        let tmp = kres_test_support::TempDir::new("watch-fp");
        let dir = tmp.path().to_path_buf();
        let file = dir.join("zone.rpz");
        std::fs::write(&file, "a").unwrap();
        let first = Fingerprint::of(&file).expect("exists");
        std::fs::write(&file, "ab").unwrap();
        let written = Fingerprint::of(&file).expect("exists");
        assert_ne!(first, written, "in-place write");
        std::fs::write(dir.join("tmp"), "ab").unwrap();
        std::fs::rename(dir.join("tmp"), &file).unwrap();
        let renamed = Fingerprint::of(&file).expect("exists");
        assert_ne!(written, renamed, "rename-over");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(Fingerprint::of(&file), None);
        std::os::unix::fs::symlink(dir.join("tmp2"), &file).unwrap();
        assert_eq!(Fingerprint::of(&file), None, "dangling link");
        std::fs::write(dir.join("tmp2"), "x").unwrap();
        assert!(Fingerprint::of(&file).is_some(), "followed link");
        assert!(directories(&[Target::Rpz { file: file.clone() }]).contains(&dir));
    }
}
