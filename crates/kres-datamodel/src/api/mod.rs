//! The HTTP API contract shared by the manager's server and `kresctl`: route paths, request and response bodies,
//! error bodies, query parameters, header names and content types, each defined once (STYLE.md practice 1).
//!
//! Pure types and functions (serde, no I/O). The server builds its answers from these types and parses requests
//! with them; `kresctl` builds its requests and reads the answers it interprets with them. Bodies that `kresctl`
//! prints as the manager sent them (the configuration, the schema, the metrics, kresd's cache-clear result) stay
//! JSON values.

pub mod cache;
pub mod config;
pub mod errors;
pub mod events;
pub mod history;
pub mod http;
pub mod processes;
pub mod routes;
pub mod status;
