use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a fixture could not be set up or a query failed. The `Display` text carries the program's own output.
#[derive(Debug)]
pub enum FixtureError {
    /// A file or process operation failed.
    Io { what: String, source: io::Error },
    /// The program exited before it became ready.
    Exited { program: String, status: ExitStatus, stderr: String },
    /// The program did not become ready in time (it was killed).
    Timeout { program: String, after: Duration, stderr: String },
    /// kdig ran but got no (parsable) answer.
    Dig { command: String, output: String },
}

impl FixtureError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> FixtureError {
        let what = what.into();
        move |source| FixtureError::Io { what, source }
    }

    /// The program's error output, if this error carries it.
    pub fn stderr(&self) -> &str {
        match self {
            FixtureError::Exited { stderr, .. } | FixtureError::Timeout { stderr, .. } => stderr,
            FixtureError::Dig { output, .. } => output,
            FixtureError::Io { .. } => "",
        }
    }
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixtureError::Io { what, source } => write!(f, "{what}: {source}"),
            FixtureError::Exited { program, status, stderr } => {
                write!(f, "{program} exited before it was ready ({status}); its stderr:\n{stderr}")
            }
            FixtureError::Timeout { program, after, stderr } => {
                write!(f, "{program} was not ready after {after:?}; its stderr:\n{stderr}")
            }
            FixtureError::Dig { command, output } => {
                write!(f, "`{command}` got no answer:\n{output}")
            }
        }
    }
}

impl std::error::Error for FixtureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FixtureError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
