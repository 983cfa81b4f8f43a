//! `/v1/config{pointer}`: GET serves the document as the user wrote it straight from the published snapshot
//! (no round trip to the manager actor); PUT, PATCH and DELETE send one [`ApplyRequest`] whose ETag
//! preconditions the actor checks in the same step as the apply, so concurrent writers cannot both win.
//!
//! Every response carries `ETag: "<etag>"`. `If-None-Match` matching on GET → 304; `If-Match` failing → 412
//! (on GET too, unlike the reference, which answers 304). `?dry-run=true` on a write returns what would happen.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::config::WriteOptions;
use kres_datamodel::api::http::{self, content_type};
use kres_datamodel::api::routes;
use kres_datamodel::json_pointer::{JsonPointer, PointerError};

use super::errors::ApiError;
use super::lifecycle::{Peer, client_of};
use super::{AppState, body, set_etag};
use crate::manager::handle::{ApplyRequest, Edit, Preconditions, Snapshot, Source};

pub(super) async fn get(State(app): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let snapshot = app.handle().snapshot();
    read(&app, &snapshot, &uri, &headers).unwrap_or_else(|e| e.with_etag(&snapshot.etag).into_response())
}

fn read(app: &AppState, snapshot: &Snapshot, uri: &Uri, headers: &HeaderMap) -> Result<Response, ApiError> {
    let pointer = pointer_of(uri)?;
    let preconditions = preconditions(headers)?;
    if preconditions.if_none_match.as_ref().is_some_and(|tags| http::tags_match(tags, &snapshot.etag)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, &snapshot.etag);
        return Ok(response);
    }
    if preconditions.if_match.as_ref().is_some_and(|tags| !http::tags_match(tags, &snapshot.etag)) {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "If-Match: the configuration has a different ETag now (see the ETag header)",
        ));
    }
    let body = if pointer.is_root() {
        root_json(app, snapshot)
    } else {
        let value = pointer.get(&snapshot.raw).map_err(pointer_error)?;
        Bytes::from(serde_json::to_vec(value).unwrap_or_default())
    };
    Ok(json_response(StatusCode::OK, body, &snapshot.etag))
}

/// The whole document serialized once per ETag.
fn root_json(app: &AppState, snapshot: &Snapshot) -> Bytes {
    let mut cache = app.inner.root_json.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((etag, bytes)) = cache.as_ref()
        && *etag == snapshot.etag
    {
        return bytes.clone();
    }
    let bytes = Bytes::from(serde_json::to_vec(&*snapshot.raw).unwrap_or_default());
    *cache = Some((snapshot.etag.clone(), bytes.clone()));
    bytes
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

pub(super) async fn put(
    State(app): State<AppState>,
    peer: Peer,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let edit = || -> Result<Edit, ApiError> {
        let pointer = pointer_of(&uri)?;
        let value = body::parse(&headers, body, None)?;
        Ok(if pointer.is_root() { Edit::Replace(value) } else { Edit::Put { pointer, value } })
    };
    write(&app, &headers, params, edit(), api_source("PUT", &uri), peer).await
}

pub(super) async fn patch(
    State(app): State<AppState>,
    peer: Peer,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let edit = || -> Result<Edit, ApiError> {
        let pointer = pointer_of(&uri)?;
        if !pointer.is_root() {
            return Err(ApiError::bad_request(
                "PATCH takes a JSON Patch (RFC 6902) whose operations carry their own paths; send it to /v1/config",
            ));
        }
        let patch = body::parse(&headers, body, None)?;
        if !patch.is_array() {
            return Err(ApiError::bad_request(
                "the PATCH body must be a JSON Patch (RFC 6902): a list of operations such as \
                 [{\"op\": \"replace\", \"path\": \"/workers\", \"value\": 2}]",
            ));
        }
        Ok(Edit::Patch(patch))
    };
    write(&app, &headers, params, edit(), api_source("PATCH", &uri), peer).await
}

/// The history's source of an API write.
fn api_source(method: &str, uri: &Uri) -> Source {
    Source::Api { method: method.into(), route: uri.path().into() }
}

pub(super) async fn delete(
    State(app): State<AppState>,
    peer: Peer,
    uri: Uri,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let edit = pointer_of(&uri).map(|pointer| Edit::Delete { pointer });
    write(&app, &headers, params, edit, api_source("DELETE", &uri), peer).await
}

/// Sends a change to the manager actor and answers with its outcome (and the new ETag).
async fn write(
    app: &AppState,
    headers: &HeaderMap,
    params: Params,
    edit: Result<Edit, ApiError>,
    source: Source,
    peer: Peer,
) -> Response {
    let current = || app.handle().snapshot().etag.clone();
    let request = (|| -> Result<ApplyRequest, ApiError> {
        let WriteOptions { dry_run, force } = write_options(params)?;
        let preconditions = preconditions(headers)?;
        Ok(ApplyRequest { preconditions, dry_run, force, client: client_of(peer), ..ApplyRequest::new(edit?, source) })
    })();
    let request = match request {
        Ok(r) => r,
        Err(e) => return e.with_etag(&current()).into_response(),
    };
    if !request.dry_run && app.handle().snapshot().config.fleet.enable {
        let refused = ApiError::new(StatusCode::CONFLICT, crate::fleet::local_write_refused());
        return refused.with_etag(&current()).into_response();
    }
    match app.handle().apply(request).await {
        Ok(outcome) => {
            let etag = if outcome.dry_run { current() } else { outcome.etag.clone() };
            let body = serde_json::to_vec_pretty(&outcome).unwrap_or_default();
            json_response(StatusCode::OK, Bytes::from(body), &etag)
        }
        Err(e) => ApiError::from(e).with_etag(&current()).into_response(),
    }
}

/// `?dry-run=true` and `?force=true` ([`WriteOptions`]); unknown parameters are refused.
fn write_options(params: Params) -> Result<WriteOptions, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))?;
    WriteOptions::from_pairs(&params).map_err(ApiError::bad_request)
}

/// The JSON pointer after `/v1/config` in the (percent-decoded) request path.
fn pointer_of(uri: &Uri) -> Result<JsonPointer, ApiError> {
    let decoded = routes::config_pointer(uri.path()).ok_or_else(|| {
        ApiError::bad_request(format!("the path '{}' is not valid percent-encoded UTF-8", uri.path()))
    })?;
    JsonPointer::parse(&decoded).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn pointer_error(e: PointerError) -> ApiError {
    if e.is_not_found() || matches!(e, PointerError::NotAContainer { .. }) {
        ApiError::new(StatusCode::NOT_FOUND, format!("nothing in the configuration at this path: {e}"))
    } else {
        ApiError::bad_request(e.to_string())
    }
}

/// `If-Match` / `If-None-Match`: entity tags separated by commas, quoted or not, `W/` ignored, `*` for any.
pub(crate) fn preconditions(headers: &HeaderMap) -> Result<Preconditions, ApiError> {
    let list = |name: header::HeaderName| -> Result<Option<Vec<String>>, ApiError> {
        let mut tags = Vec::new();
        let mut present = false;
        for value in headers.get_all(&name) {
            present = true;
            let text = value.to_str().map_err(|_| ApiError::bad_request(format!("{name}: the value is not ASCII")))?;
            tags.extend(http::entity_tags(text).map(str::to_owned));
        }
        Ok(present.then_some(tags))
    };
    Ok(Preconditions { if_match: list(header::IF_MATCH)?, if_none_match: list(header::IF_NONE_MATCH)? })
}

fn json_response(status: StatusCode, body: Bytes, etag: &str) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, content_type::JSON)], body).into_response();
    set_etag(&mut response, etag);
    response
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn pointers_come_from_the_decoded_path() {
        let p = |s: &str| pointer_of(&s.parse::<Uri>().unwrap());
        assert!(p("/v1/config").unwrap().is_root());
        assert_eq!(p("/v1/config/network/listen/0").unwrap().tokens(), ["network", "listen", "0"]);
        assert_eq!(p("/v1/config/a~1b/c%20d").unwrap().tokens(), ["a/b", "c d"]);
        assert_eq!(p("/v1/config/").unwrap().tokens(), [""]);
        assert_eq!(p("/v1/config/a~2").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(p("/v1/config/%zz").unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn entity_tags_are_parsed_leniently() {
        let mut headers = HeaderMap::new();
        headers.append(header::IF_MATCH, HeaderValue::from_static("\"abc\", W/\"def\""));
        headers.append(header::IF_MATCH, HeaderValue::from_static("ghi"));
        let p = preconditions(&headers).unwrap();
        assert_eq!(p.if_match.unwrap(), ["abc", "def", "ghi"]);
        assert!(p.if_none_match.is_none());
    }

    #[test]
    fn write_options_are_strict() {
        let q = |s: &str| -> Params { Ok(Query(serde_urlencoded_pairs(s))) };
        let options = |dry_run, force| WriteOptions { dry_run, force };
        assert_eq!(write_options(q("dry-run=true")).unwrap(), options(true, false));
        assert_eq!(write_options(q("dry-run")).unwrap(), options(true, false));
        assert_eq!(write_options(q("force=1&dry-run=false")).unwrap(), options(false, true));
        assert_eq!(write_options(q("")).unwrap(), options(false, false));
        assert!(write_options(q("dryrn=true")).is_err());
        assert!(write_options(q("dry-run=maybe")).is_err());
    }

    fn serde_urlencoded_pairs(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }
}
