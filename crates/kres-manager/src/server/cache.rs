//! `POST /cache/clear` (reference-manager.md §1.5): the body is validated by the contract's
//! [`CacheClearRequest::from_json`] (every error with its path), rendered to `cache.clear(...)` Lua and run in one
//! worker (the workers share the cache); the answer is kresd's result.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::cache::{CacheClearRequest, CacheClearResponse};
use kres_datamodel::api::http::content_type;
use kres_datamodel::types::DomainName;
use serde_json::Value;

use super::errors::ApiError;
use super::{AppState, body};
use crate::manager::kresd::{self, ControlError};

/// A request validated by [`CacheClearRequest::from_json`], with its name parsed (kresd gets it in punycode).
#[derive(Debug, Clone)]
pub(crate) struct CacheClear {
    request: CacheClearRequest,
    name: Option<DomainName>,
}

impl CacheClear {
    /// Validates the request body; the error lists every problem with its path.
    pub fn parse(value: &Value) -> Result<CacheClear, String> {
        let request = CacheClearRequest::from_json(value)?;
        let name = request.name.as_deref().map(DomainName::parse).transpose().map_err(|e| format!("[/name] {e}"))?;
        Ok(CacheClear { request, name })
    }

    /// The runtime command: `cache.clear(name, exact_name, rr_type, chunk_size)`, as the reference renders it.
    pub fn command(&self) -> kresd::Command<'_> {
        let request = &self.request;
        kresd::Command::CacheClear {
            name: self.name.as_ref().map(|n| n.punycode()),
            exact_name: request.exact_name,
            rr_type: request.rr_type.as_deref(),
            chunk_size: if request.exact_name { None } else { Some(request.chunk_size) },
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
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type::JSON)], super::pretty_json(&result)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn run(
    app: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<CacheClearResponse, ApiError> {
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
        // The validation is the contract's (kres_datamodel::api::cache); the server passes its message on.
        let e = CacheClear::parse(&json!({"name": "a..b", "rr-type": "A", "chunk-size": 0, "bogus": 1})).unwrap_err();
        for needle in ["[/name]", "[/chunk-size]", "[/bogus]", "only supported with 'exact-name: true'"] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
        assert!(CacheClear::parse(&json!([1])).is_err());
    }
}
