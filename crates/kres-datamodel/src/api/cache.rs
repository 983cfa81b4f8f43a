//! `POST /cache/clear`: the request body ([`CacheClearRequest`], validated by [`CacheClearRequest::from_json`],
//! which lists every problem with its path) and the answer ([`CacheClearResponse`]: kresd's result as it is).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::DomainName;

/// How many records kresd removes in one round when the request does not say.
pub const DEFAULT_CHUNK_SIZE: u64 = 100;

/// The record types kresd knows by name (`kres.type`, /usr/lib/knot-resolver/kres.lua).
pub const RR_TYPES: &[&str] = &[
    "A",
    "NS",
    "MD",
    "MF",
    "CNAME",
    "SOA",
    "MB",
    "MG",
    "MR",
    "NULL",
    "WKS",
    "PTR",
    "HINFO",
    "MINFO",
    "MX",
    "TXT",
    "RP",
    "AFSDB",
    "X25",
    "ISDN",
    "RT",
    "NSAP",
    "NSAP-PTR",
    "SIG",
    "KEY",
    "PX",
    "GPOS",
    "AAAA",
    "LOC",
    "NXT",
    "EID",
    "NIMLOC",
    "SRV",
    "ATMA",
    "NAPTR",
    "KX",
    "CERT",
    "A6",
    "DNAME",
    "SINK",
    "OPT",
    "APL",
    "DS",
    "SSHFP",
    "IPSECKEY",
    "RRSIG",
    "NSEC",
    "DNSKEY",
    "DHCID",
    "NSEC3",
    "NSEC3PARAM",
    "TLSA",
    "SMIMEA",
    "HIP",
    "NINFO",
    "RKEY",
    "TALINK",
    "CDS",
    "CDNSKEY",
    "OPENPGPKEY",
    "CSYNC",
    "ZONEMD",
    "SVCB",
    "HTTPS",
    "SPF",
    "UINFO",
    "UID",
    "GID",
    "UNSPEC",
    "NID",
    "L32",
    "L64",
    "LP",
    "EUI48",
    "EUI64",
    "TKEY",
    "TSIG",
    "IXFR",
    "AXFR",
    "MAILB",
    "MAILA",
    "ANY",
    "URI",
    "CAA",
    "AVC",
    "DOA",
    "TA",
    "DLV",
];

/// What to purge from the cache. On the wire: `{"name": "example.com.", "exact-name": true, "rr-type": "AAAA",
/// "chunk-size": 100}`, every field optional (`{}` purges everything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CacheClearRequest {
    /// The subtree (or, with `exact_name`, the name) to purge; `None`: the whole cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Purge only records with exactly `name`.
    #[serde(default)]
    pub exact_name: bool,
    /// Purge only this record type (needs `exact_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rr_type: Option<String>,
    /// Records removed per round (kresd repeats the rounds until everything matching is gone).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u64,
}

fn default_chunk_size() -> u64 {
    DEFAULT_CHUNK_SIZE
}

impl Default for CacheClearRequest {
    fn default() -> Self {
        CacheClearRequest { name: None, exact_name: false, rr_type: None, chunk_size: DEFAULT_CHUNK_SIZE }
    }
}

impl CacheClearRequest {
    /// Validates a request body; the error lists every problem with its path, one per line. The name is checked
    /// to be a domain name and the record type to be one kresd knows (its canonical spelling is kept).
    pub fn from_json(value: &Value) -> Result<CacheClearRequest, String> {
        let Some(object) = value.as_object() else {
            return Err("[/] the body must be an object with 'name', 'exact-name', 'rr-type' and 'chunk-size'".into());
        };
        let mut errors = Vec::new();
        let mut request = CacheClearRequest::default();
        for (key, value) in object {
            match key.as_str() {
                "name" => match value.as_str().map(|n| (n, DomainName::parse(n))) {
                    Some((name, Ok(_))) => request.name = Some(name.to_owned()),
                    Some((_, Err(e))) => errors.push(format!("[/name] {e}")),
                    None => errors.push(format!("[/name] expected a domain name (a string), got {value}")),
                },
                "exact-name" => match value.as_bool() {
                    Some(b) => request.exact_name = b,
                    None => errors.push(format!("[/exact-name] expected true or false, got {value}")),
                },
                "rr-type" => match value.as_str().and_then(|t| RR_TYPES.iter().find(|k| **k == t)) {
                    Some(t) => request.rr_type = Some((*t).to_owned()),
                    None => errors.push(format!(
                        "[/rr-type] {value} is not a DNS record type kresd knows (e.g. \"A\", \"AAAA\", \"MX\")"
                    )),
                },
                "chunk-size" => match value.as_u64().filter(|n| *n > 0) {
                    Some(n) => request.chunk_size = n,
                    None => errors.push(format!("[/chunk-size] expected a positive integer, got {value}")),
                },
                other => errors.push(format!(
                    "[/{other}] unknown field; the fields are 'name', 'exact-name', 'rr-type' and 'chunk-size'"
                )),
            }
        }
        if request.rr_type.is_some() && !request.exact_name {
            errors.push("[/rr-type] 'rr-type' is only supported with 'exact-name: true'".into());
        }
        if errors.is_empty() { Ok(request) } else { Err(errors.join("\n")) }
    }
}

/// The answer of a successful `/cache/clear`: the table kresd's `cache.clear()` returned, passed on as kresd
/// wrote it (its key order included), e.g. `{"count": 3}` or `{"count": 100, "chunk_limit": "...", "round": 1,
/// "not_apex": "...", "subtree": "example."}`. `kresctl` prints it as it is, like the reference's.
pub type CacheClearResponse = Value;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wire_shape() {
        let request = CacheClearRequest {
            name: Some("example.com.".into()),
            exact_name: true,
            rr_type: Some("AAAA".into()),
            chunk_size: 100,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"name":"example.com.","exact-name":true,"rr-type":"AAAA","chunk-size":100}"#
        );
        assert_eq!(
            serde_json::to_string(&CacheClearRequest::default()).unwrap(),
            r#"{"exact-name":false,"chunk-size":100}"#
        );
        assert_eq!(CacheClearRequest::from_json(&serde_json::to_value(&request).unwrap()).unwrap(), request);
        assert_eq!(CacheClearRequest::from_json(&json!({})).unwrap(), CacheClearRequest::default());
    }

    #[test]
    fn every_error_is_listed_with_its_path() {
        let e = CacheClearRequest::from_json(&json!({"name": "a..b", "rr-type": "A", "chunk-size": 0, "bogus": 1}))
            .unwrap_err();
        for needle in ["[/name]", "[/chunk-size]", "[/bogus]", "only supported with 'exact-name: true'"] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
        let e = CacheClearRequest::from_json(&json!({"rr-type": "BOGUS", "exact-name": true})).unwrap_err();
        assert!(e.contains("[/rr-type]"), "{e}");
        assert!(CacheClearRequest::from_json(&json!([1])).is_err());
    }
}
