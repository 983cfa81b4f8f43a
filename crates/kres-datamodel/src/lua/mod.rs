//! Lua rendering for kresd workers and the policy-loader.

pub mod escape;
