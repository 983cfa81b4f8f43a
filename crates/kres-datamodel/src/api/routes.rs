//! Every route of the management API. The server registers exactly these paths; `kresctl` requests them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::processes::ProcessFilter;

/// `GET /`: whether the manager runs ([`super::status::Index`]).
pub const INDEX: &str = "/";
/// `GET|PUT|PATCH|DELETE /v1/config{pointer}`: the configuration (see [`config_path`]).
pub const CONFIG: &str = "/v1/config";
/// `POST /stop`: stop the resolver.
pub const STOP: &str = "/stop";
/// `POST /reload`: re-read the configuration files and apply them.
pub const RELOAD: &str = "/reload";
/// `POST /reload/force`: reload and restart every worker even if nothing changed.
pub const RELOAD_FORCE: &str = "/reload/force";
/// `POST /renew`: apply the configuration in force again.
pub const RENEW: &str = "/renew";
/// `POST /renew/force`: renew and restart every worker.
pub const RENEW_FORCE: &str = "/renew/force";
/// `GET /schema`: the configuration's JSON Schema.
pub const SCHEMA: &str = "/schema";
/// `GET /schema/ui`: the schema as a browsable HTML page.
pub const SCHEMA_UI: &str = "/schema/ui";
/// `GET /metrics`: a redirect to [`METRICS_JSON`].
pub const METRICS: &str = "/metrics";
/// `GET /metrics/json`: the workers' statistics as JSON.
pub const METRICS_JSON: &str = "/metrics/json";
/// `GET /metrics/prometheus`: the statistics in the Prometheus text format.
pub const METRICS_PROMETHEUS: &str = "/metrics/prometheus";
/// `POST /cache/clear` ([`super::cache::CacheClearRequest`]).
pub const CACHE_CLEAR: &str = "/cache/clear";
/// `GET /processes`: every subprocess ([`super::processes::Process`]); see [`processes_path`].
pub const PROCESSES: &str = "/processes";
/// `GET /healthz`: the manager answers.
pub const HEALTHZ: &str = "/healthz";
/// `GET /readyz`: the workers and DNS answer ([`super::status::Readiness`]).
pub const READYZ: &str = "/readyz";
/// `GET /v1/history?offset=N&limit=M`: the configuration generations, newest first
/// ([`super::history::HistoryPage`]).
pub const HISTORY: &str = "/v1/history";
/// `GET /v1/events`: a Server-Sent Events stream of apply progress and process events ([`super::events`]).
pub const EVENTS: &str = "/v1/events";

/// `GET /v1/history/{generation}`: that generation's configuration (JSON; its ETag in the `ETag` header).
pub fn history_path(generation: u64) -> String {
    format!("{HISTORY}/{generation}")
}

/// `GET /v1/history/{generation}/diff?to={other}`: what changes from `generation` to `other`
/// ([`super::history::Diff`]).
pub fn history_diff_path(generation: u64, to: u64) -> String {
    format!("{HISTORY}/{generation}/diff?to={to}")
}

/// `POST /v1/history/{generation}/rollback`: applies that generation's configuration again (honours `If-Match`;
/// recorded as a new generation); answers like a configuration write.
pub fn history_rollback_path(generation: u64) -> String {
    format!("{HISTORY}/{generation}/rollback")
}

/// `/reload` or `/reload/force`.
pub fn reload_path(force: bool) -> &'static str {
    if force { RELOAD_FORCE } else { RELOAD }
}

/// `/renew` or `/renew/force`.
pub fn renew_path(force: bool) -> &'static str {
    if force { RENEW_FORCE } else { RENEW }
}

/// `/processes/{all|kresd|gc}`.
pub fn processes_path(filter: ProcessFilter) -> String {
    format!("{PROCESSES}/{}", filter.as_str())
}

/// What a path segment may hold as it is (RFC 3986 `pchar`), and `/`; everything else is %-encoded.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/');

/// Percent-encodes a JSON pointer for a request path: everything but the characters a path segment may hold as
/// they are (RFC 3986 `pchar` and `/`), so that [`percent_decode`] gives the pointer back.
pub fn encode_pointer(pointer: &str) -> String {
    utf8_percent_encode(pointer, PATH).to_string()
}

/// `/v1/config` followed by the percent-encoded JSON pointer (empty: the whole configuration).
pub fn config_path(pointer: &str) -> String {
    format!("{CONFIG}{}", encode_pointer(pointer))
}

/// The JSON pointer of a (still percent-encoded) `/v1/config{pointer}` request path; `None` when the rest is not
/// valid percent-encoded UTF-8. A path outside `/v1/config` gives the empty pointer.
pub fn config_pointer(path: &str) -> Option<String> {
    percent_decode(path.strip_prefix(CONFIG).unwrap_or_default())
}

/// Strict percent-decoding: a `%` not followed by two hex digits is an error (the crate would keep it as it is),
/// and so is a result that is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let malformed = text
        .match_indices('%')
        .any(|(i, _)| !text.get(i + 1..i + 3).is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())));
    if malformed {
        return None;
    }
    percent_decode_str(text).decode_utf8().ok().map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_percent_encoded() {
        assert_eq!(config_path(""), "/v1/config");
        assert_eq!(config_path("/network/listen/0/interface"), "/v1/config/network/listen/0/interface");
        assert_eq!(encode_pointer("/a b/c%d/e?f#g/~1h"), "/a%20b/c%25d/e%3Ff%23g/~1h");
        assert_eq!(encode_pointer("/ü"), "/%C3%BC");
    }

    #[test]
    fn pointers_round_trip() {
        for pointer in ["", "/workers", "/a b/c%d/e?f#g/~1h", "/ü/ž", "/"] {
            assert_eq!(config_pointer(&config_path(pointer)).as_deref(), Some(pointer), "{pointer}");
        }
        assert_eq!(config_pointer("/v1/config/%zz"), None);
        assert_eq!(config_pointer("/v1/config/%2"), None);
        assert_eq!(config_pointer("/v1/config/%ff"), None, "not UTF-8");
    }

    #[test]
    fn other_paths() {
        assert_eq!(reload_path(true), "/reload/force");
        assert_eq!(renew_path(false), "/renew");
        assert_eq!(processes_path(ProcessFilter::Gc), "/processes/gc");
    }
}
