//! Writing command results: to stdout, or to a file named on the command line.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;

/// Writes `text` to stdout as is.
pub fn stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes `text` to stdout, ending it with a newline if it has none.
pub fn stdout_line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes `text` to the file `path` (created or truncated).
pub fn file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write '{}'", path.display()))
}

/// Writes `text` to `path` if given, else to stdout (ending it with a newline).
pub fn to_file_or_stdout(path: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(path) => file(path, text),
        None => Ok(stdout_line(text)?),
    }
}

/// Whether the error is stdout's reader having gone away (`kresctl schema | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}
