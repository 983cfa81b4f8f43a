//! Request bodies: JSON or YAML chosen by `Content-Type` (none, or `application/octet-stream`: JSON, then YAML),
//! and the size limit.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use kres_datamodel::api::http::content_type;
use serde_json::Value;

use super::BODY_LIMIT;
use super::errors::ApiError;

/// Parses a request body into a JSON value. `empty` is what an empty body means (`None`: an empty body is an
/// error).
pub(crate) fn parse(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    empty: Option<Value>,
) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than the limit of {} MiB", BODY_LIMIT >> 20),
            )
        } else {
            ApiError::new(rejection.status(), format!("cannot read the request body: {}", rejection.body_text()))
        }
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("request processing error:\nthe request body is not UTF-8: {e}")))?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?").split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if text.trim().is_empty() {
        return empty.ok_or_else(|| {
            ApiError::bad_request("request processing error:\nthe request body is empty; send a JSON or YAML value")
        });
    }
    let parsed = if content_type::JSON_REQUEST.contains(&mime.as_str()) {
        kres_datamodel::json_patch::parse_json_strict(text).map_err(|e| format!("invalid JSON: {e}"))
    } else if content_type::YAML_REQUEST.contains(&mime.as_str()) {
        kres_datamodel::parse::parse_yaml(text, "request body").map(|n| n.to_json()).map_err(|e| e.to_string())
    } else if mime.is_empty() || mime == content_type::OCTET_STREAM {
        kres_datamodel::parse::parse_document(text, "request body").map(|n| n.to_json()).map_err(|e| e.to_string())
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type '{mime}': send the body as application/json or application/yaml \
                 (with curl: -H 'Content-Type: application/json')"
            ),
        ));
    };
    parsed.map_err(|e| ApiError::bad_request(format!("request processing error:\ncannot parse the request body: {e}")))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn with_type(mime: Option<&str>, text: &str) -> Result<Value, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(m) = mime {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(m).unwrap());
        }
        parse(&headers, Ok(Bytes::from(text.to_owned())), None)
    }

    #[test]
    fn json_yaml_and_sniffing() {
        assert_eq!(with_type(Some("application/json"), "3").unwrap(), json!(3));
        assert_eq!(with_type(Some("application/json; charset=utf-8"), "{\"a\":1}").unwrap(), json!({"a": 1}));
        assert_eq!(with_type(Some("application/yaml"), "a: 1\nb: [x]").unwrap(), json!({"a": 1, "b": ["x"]}));
        assert_eq!(with_type(Some("text/vnd.yaml"), "workers: 2").unwrap(), json!({"workers": 2}));
        assert_eq!(with_type(None, "{\"a\": true}").unwrap(), json!({"a": true}));
        assert_eq!(with_type(None, "a: yes").unwrap(), json!({"a": true}));
        assert_eq!(with_type(Some("application/octet-stream"), "[1, 2]").unwrap(), json!([1, 2]));
    }

    #[test]
    fn client_mistakes_are_4xx() {
        assert_eq!(with_type(Some("application/json"), "{\"a\":1,\"a\":2}").unwrap_err().status, 400);
        assert_eq!(with_type(Some("application/json"), "{").unwrap_err().status, 400);
        assert_eq!(with_type(Some("application/json"), "  ").unwrap_err().status, 400);
        assert_eq!(with_type(Some("text/html"), "3").unwrap_err().status, 415);
        assert_eq!(with_type(Some("application/x-www-form-urlencoded"), "3").unwrap_err().status, 415);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(parse(&headers, Ok(Bytes::new()), Some(json!({}))).unwrap(), json!({}));
        assert_eq!(parse(&headers, Ok(Bytes::from_static(b"\xff")), None).unwrap_err().status, 400);
    }
}
