//! Running the binary and finding the example configurations (`etc/config/examples/`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of `kresctl` produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success; stderr:\n{}\nstdout:\n{}", self.stderr, self.stdout);
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit code {code}; stderr:\n{}\nstdout:\n{}", self.stderr, self.stdout);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        self
    }
}

/// Runs `kresctl ARGS` in the current directory.
pub fn kresctl<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    kresctl_in(None, args)
}

/// Runs `kresctl ARGS` in `dir` (or the current directory).
pub fn kresctl_in<I, S>(dir: Option<&Path>, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kresctl"));
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("cannot run kresctl");
    Run {
        code: out.status.code().expect("kresctl was killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// The example configurations of the repository (`etc/config/examples/`).
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../etc/config/examples")
}

pub fn example(name: &str) -> PathBuf {
    let path = examples_dir().join(name);
    assert!(path.is_file(), "no example configuration {}", path.display());
    path
}

/// The examples that must validate: every `config.*.yaml` but the old-format `config.old-format*.yaml`.
pub fn valid_examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("cannot list the examples")
        .map(|e| e.expect("cannot list the examples").path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("config.") && name.ends_with(".yaml") && !name.starts_with("config.old-format")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected the example files, found {files:?}");
    files
}

/// Parses YAML or JSON text with the datamodel's reader into JSON.
pub fn parse(text: &str) -> serde_json::Value {
    kres_datamodel::parse::parse_document(text, "output").unwrap_or_else(|e| panic!("{e}:\n{text}")).to_json()
}
