//! Running the binary and finding the shared example configurations.

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

/// The reference's example configurations: `$KRES_SHARED_DIR/reference/examples`, else the `shared/` directory
/// next to the checkout.
pub fn examples_dir() -> PathBuf {
    let shared = match std::env::var_os("KRES_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = shared.join("reference/examples");
    assert!(
        dir.join("config.migrate-test.yaml").is_file(),
        "the example configurations are not in {}; set KRES_SHARED_DIR to the shared/ directory (inside the sid \
         root only the workspace is mounted, so the directory must be reachable there)",
        dir.display()
    );
    dir
}

pub fn example(name: &str) -> PathBuf {
    examples_dir().join(name)
}

/// The examples that must validate: `config.example.*.yaml` and `config.test-*.yaml`.
pub fn valid_examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("cannot list the examples")
        .map(|e| e.expect("cannot list the examples").path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            (name.starts_with("config.example.") || name.starts_with("config.test-")) && name.ends_with(".yaml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected the reference's example files, found {files:?}");
    files
}

/// Parses YAML or JSON text with the datamodel's reader into JSON.
pub fn parse(text: &str) -> serde_json::Value {
    kres_datamodel::parse::parse_document(text, "output").unwrap_or_else(|e| panic!("{e}:\n{text}")).to_json()
}
