//! The integration tests of the distribution files, in one test binary:
//! * `consistency` — the generated completions and man pages cover the whole command line;
//! * `kresctl_completion` — `kresctl completion` prints the scripts the package installs.

mod consistency;
mod kresctl_completion;
