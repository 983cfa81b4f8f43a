//! `/dnssec` and `/dns64`.

use crate::config_object;
use crate::model::ObjectHook;
use crate::types::{DomainName, EscapedStr, Ipv6Network, Ipv6Network96, ReadableFile, TimeUnit};

config_object! {
    /// Trust-anchor zonefile configuration.
    pub struct TrustAnchorFileSchema {
        /// Path to the zonefile that stores trust-anchors.
        "file" file: ReadableFile,
        /// Blocks zonefile updates according to RFC 5011.
        "read-only" read_only: bool = false,
    }
}
impl ObjectHook for TrustAnchorFileSchema {}

config_object! {
    /// DNSSEC configuration.
    pub struct DnssecSchema {
        /// Enable/disable DNSSEC.
        "enable" enable: bool = true,
        /// Enable logging for each DNSSEC validation failure if '/logging/level' is set to at least 'notice'.
        "log-bogus" log_bogus: bool = false,
        /// Allows users of DNSSEC validating resolver to detect which root keys are configured in resolver's chain of trust. (RFC 8509)
        "sentinel" sentinel: bool = true,
        /// Signaling Trust Anchor Knowledge in DNSSEC Using Key Tag Query, according to (RFC 8145#section-5).
        "signal-query" signal_query: bool = true,
        /// Trust-anchors configuration.
        "trust-anchors" trust_anchors: Option<Vec<EscapedStr>>,
        /// List of domain names representing negative trust-anchors. (RFC 7646)
        "negative-trust-anchors" negative_trust_anchors: Option<Vec<DomainName>>,
        /// List of zone-files where trust-anchors are stored.
        "trust-anchors-files" trust_anchors_files: Option<Vec<TrustAnchorFileSchema>>,
    }
}
impl ObjectHook for DnssecSchema {}

config_object! {
    /// DNS64 (RFC 6147) configuration.
    pub struct Dns64Schema {
        /// Enable/disable DNS64.
        "enable" enable: bool = false,
        /// IPv6 prefix to be used for synthesizing AAAA records.
        "prefix" prefix: Ipv6Network96 = Ipv6Network96::from_static("64:ff9b::/96"),
        /// TTL in CNAME generated in the reverse 'ip6.arpa.' subtree.
        "reverse-ttl" reverse_ttl: Option<TimeUnit>,
        /// IPv6 subnets that are disallowed in answer.
        "exclude-subnets" exclude_subnets: Option<Vec<Ipv6Network>>,
    }
}
impl ObjectHook for Dns64Schema {}
