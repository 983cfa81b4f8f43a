//! `POST /cache/clear` (reference-manager.md §1.5): the body is validated here (every error with its path), rendered
//! to `cache.clear(...)` Lua and run in one worker (the workers share the cache); the answer is kresd's result.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::types::DomainName;
use serde_json::Value;

use super::errors::ApiError;
use super::{AppState, body};
use crate::manager::kresd::{self, ControlError};

/// The record types kresd knows by name (`kres.type`, /usr/lib/knot-resolver/kres.lua).
const RR_TYPES: &[&str] = &[
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

/// A validated `/cache/clear` request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CacheClear {
    pub name: Option<DomainName>,
    pub exact_name: bool,
    pub rr_type: Option<&'static str>,
    pub chunk_size: u64,
}

impl CacheClear {
    /// Validates the request body; the error lists every problem with its path.
    pub fn parse(value: &Value) -> Result<CacheClear, String> {
        let Some(object) = value.as_object() else {
            return Err("[/] the body must be an object with 'name', 'exact-name', 'rr-type' and 'chunk-size'".into());
        };
        let mut errors = Vec::new();
        let mut request = CacheClear { name: None, exact_name: false, rr_type: None, chunk_size: 100 };
        for (key, value) in object {
            match key.as_str() {
                "name" => match value.as_str().map(DomainName::parse) {
                    Some(Ok(name)) => request.name = Some(name),
                    Some(Err(e)) => errors.push(format!("[/name] {e}")),
                    None => errors.push(format!("[/name] expected a domain name (a string), got {value}")),
                },
                "exact-name" => match value.as_bool() {
                    Some(b) => request.exact_name = b,
                    None => errors.push(format!("[/exact-name] expected true or false, got {value}")),
                },
                "rr-type" => match value.as_str().and_then(|t| RR_TYPES.iter().find(|k| **k == t)) {
                    Some(t) => request.rr_type = Some(t),
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

    /// The runtime command: `cache.clear(name, exact_name, rr_type, chunk_size)`, as the reference renders it.
    pub fn command(&self) -> kresd::Command<'_> {
        kresd::Command::CacheClear {
            name: self.name.as_ref().map(|n| n.punycode()),
            exact_name: self.exact_name,
            rr_type: self.rr_type,
            chunk_size: if self.exact_name { None } else { Some(self.chunk_size) },
        }
    }
}

pub(super) async fn clear(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match run(&app, &headers, body).await {
        Ok(result) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], super::pretty_json(&result)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn run(app: &AppState, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let value = body::parse(headers, body, Some(Value::Object(Default::default())))?;
    let request =
        CacheClear::parse(&value).map_err(|e| ApiError::bad_request(format!("invalid cache clear request:\n{e}")))?;
    let snapshot = app.handle().snapshot();
    // The workers share one cache, so one of them clears it for all.
    let Some(worker) = snapshot.workers.iter().min_by_key(|w| w.instance) else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no kresd worker is running to clear the cache"));
    };
    let command = request.command();
    tracing::debug!("clearing the cache in worker {}: {}", worker.instance, command.lua());
    kresd::run(snapshot.config.rundir.path(), worker.instance, &command).await.map_err(|e| match e {
        ControlError::Lua(message) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("kresd (worker {}) failed to clear the cache: {message}", worker.instance),
        ),
        other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lua(v: Value) -> String {
        CacheClear::parse(&v).unwrap().command().lua()
    }

    #[test]
    fn renders_like_the_reference() {
        assert_eq!(lua(json!({})), "cache.clear(nil, false, nil, 100)");
        assert_eq!(lua(json!({"name": "example.com."})), "cache.clear('example.com.', false, nil, 100)");
        assert_eq!(
            lua(json!({"name": "example.com", "exact-name": true, "rr-type": "AAAA"})),
            "cache.clear('example.com', true, kres.type.AAAA, nil)"
        );
        assert_eq!(lua(json!({"chunk-size": 7})), "cache.clear(nil, false, nil, 7)");
        assert_eq!(
            lua(json!({"name": "x.test", "exact-name": true, "rr-type": "NSAP-PTR"})),
            "cache.clear('x.test', true, kres.type['NSAP-PTR'], nil)"
        );
        assert!(
            lua(json!({"name": "čeština.cz"})).starts_with("cache.clear('xn--"),
            "IDN names go to kresd in punycode"
        );
    }

    #[test]
    fn every_error_is_listed_with_its_path() {
        let e = CacheClear::parse(&json!({"name": "a..b", "rr-type": "A", "chunk-size": 0, "bogus": 1})).unwrap_err();
        for needle in ["[/name]", "[/chunk-size]", "[/bogus]", "only supported with 'exact-name: true'"] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
        assert!(
            CacheClear::parse(&json!({"rr-type": "BOGUS", "exact-name": true})).unwrap_err().contains("[/rr-type]")
        );
        assert!(CacheClear::parse(&json!([1])).is_err());
    }
}
