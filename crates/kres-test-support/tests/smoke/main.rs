//! Proves the test environment: the sid root's kresd, knotd and kdig work from a test binary, and the fixtures
//! clean up after themselves. Run with `cargo xtask test -p kres-test-support`.

mod fixtures;
mod kresd;
