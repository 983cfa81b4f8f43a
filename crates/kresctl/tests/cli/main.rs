//! `kresctl` as a user runs it: the real binary, its stdout, stderr and exit code.

mod args;
mod confgen;
mod convert;
mod daemon;
mod differential;
mod fleet;
mod history;
mod limits;
mod migrate;
mod online;
mod online_local;
mod remote;
mod schema;
mod streams;
mod support;
mod validate;
