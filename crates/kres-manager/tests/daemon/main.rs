//! Integration tests of the `knot-resolver` daemon against real kresd (run inside the sid root:
//! `cargo xtask test -p kres-manager`).

mod api;
mod auth;
mod faults;
mod fixture;
mod fleet;
mod health;
mod history;
mod impact;
mod limits;
mod manager;
mod observable;
mod stream_drain;
mod supervisor;
mod systemd;
mod watch;
