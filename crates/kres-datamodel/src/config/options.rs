//! `/options`: fine-tuning of the resolver's behaviour.

use crate::model::ObjectHook;
use crate::{config_object, string_enum};

string_enum! {
    /// Glue records strictness checking level.
    pub enum GlueChecking { "normal" => Normal, "strict" => Strict, "permissive" => Permissive }
}

config_object! {
    /// Fine-tuning global parameters of DNS resolver operation.
    pub struct OptionsSchema {
        /// Glue records strictness checking level.
        "glue-checking" glue_checking: GlueChecking = GlueChecking::Normal,
        /// Send minimum amount of information in recursive queries to enhance privacy.
        "minimize" minimize: bool = true,
        /// Permits queries to loopback addresses.
        "query-loopback" query_loopback: bool = false,
        /// Controls whether resource records within a RRSet are reordered each time it is served from the cache.
        "reorder-rrset" reorder_rrset: bool = true,
        /// Randomize Query Character Case.
        "query-case-randomization" query_case_randomization: bool = true,
        /// Initializing DNS resolver cache with Priming Queries (RFC 8109)
        "priming" priming: bool = true,
        /// Protection against DNS Rebinding attack.
        "rebinding-protection" rebinding_protection: bool = false,
        /// Queries without RD (recursion desired) bit set in query are answered with REFUSED.
        "refuse-no-rd" refuse_no_rd: bool = true,
        /// Detection of difference between local system time and expiration time bounds in DNSSEC signatures for '. NS' records.
        "time-jump-detection" time_jump_detection: bool = true,
        /// Workarounds for known DNS protocol violators.
        "violators-workarounds" violators_workarounds: bool = false,
        /// Allows using timed-out records in case DNS resolver is unable to contact upstream servers.
        "serve-stale" serve_stale: bool = false,
    }
}
impl ObjectHook for OptionsSchema {}
