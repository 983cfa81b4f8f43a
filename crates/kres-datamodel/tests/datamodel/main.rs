//! The integration tests of the datamodel, in one test binary (one link on a 2-core machine):
//! * `conformance` — the configuration datamodel against the language-neutral case files and the example
//!   configurations, and our JSON Schema against python3-jsonschema;
//! * `patch` — JSON Pointer (RFC 6901) and JSON Patch (RFC 6902) case files, and property tests of the parsers;
//! * `lua` — Lua rendering: golden files, hostile strings, and real kresd running the rendered scripts (inside the
//!   sid root, see `cargo xtask test`).
//!
//! `data` is the one module that knows where the test data lives.

mod conformance;
mod data;
mod lua;
mod patch;
