//! `kresctl` as a user runs it: the real binary, its stdout, stderr and exit code.

mod args;
mod convert;
mod migrate;
mod schema;
mod support;
mod validate;
