//! Header names, entity tags and content types of the API.

/// The configuration's entity tag, on every `/v1/config` answer and on successful reloads. Spelled `ETag` on the
/// wire, like the reference (header names are case-insensitive; operators' scripts grep for this spelling).
pub const ETAG: &str = "ETag";
/// A write (or a read) proceeds only if the configuration's ETag is one of these (`*`: any).
pub const IF_MATCH: &str = "If-Match";
/// A read answers 304 (a write 412) if the configuration's ETag is one of these (`*`: any).
pub const IF_NONE_MATCH: &str = "If-None-Match";

/// The `ETag` header value of an ETag: the tag in double quotes.
pub fn etag_value(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// The entity tags of one `If-Match` / `If-None-Match` header value: separated by commas, quoted or not, `W/`
/// ignored, `*` kept as it is.
pub fn entity_tags(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|tag| {
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag.trim_matches('"')
    })
}

/// Whether one of `tags` (from [`entity_tags`]) names `etag`.
pub fn tags_match(tags: &[String], etag: &str) -> bool {
    tags.iter().any(|t| t == "*" || t == etag)
}

/// Content types of requests and answers.
pub mod content_type {
    /// JSON answers (the configuration, processes, the schema, write outcomes, cache clear) and JSON requests.
    pub const JSON: &str = "application/json";
    /// `/metrics/json`.
    pub const JSON_UTF8: &str = "application/json; charset=utf-8";
    /// Text answers: errors, `/healthz`, `/stop`, `/reload`, `/renew`.
    pub const TEXT: &str = "text/plain; charset=utf-8";
    /// `/schema/ui`.
    pub const HTML: &str = "text/html; charset=utf-8";
    /// `/metrics/prometheus` (the Prometheus text exposition format 0.0.4).
    pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
    /// A request body of no declared type: JSON is tried first, then YAML.
    pub const OCTET_STREAM: &str = "application/octet-stream";
    /// Request bodies parsed as (strict) JSON.
    pub const JSON_REQUEST: [&str; 2] = [JSON, "application/json-patch+json"];
    /// Request bodies parsed as YAML.
    pub const YAML_REQUEST: [&str; 4] = ["application/yaml", "text/yaml", "application/x-yaml", "text/vnd.yaml"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_are_parsed_leniently() {
        let tags: Vec<&str> = entity_tags("\"abc\", W/\"def\",, ghi ,*").collect();
        assert_eq!(tags, ["abc", "def", "ghi", "*"]);
        assert_eq!(etag_value("abc"), "\"abc\"");
        assert!(tags_match(&["*".into()], "x"));
        assert!(tags_match(&["a".into(), "x".into()], "x"));
        assert!(!tags_match(&["a".into()], "x"));
        assert!(!tags_match(&[], "x"));
    }
}
