//! `/v1/history`: the configuration generations the manager recorded (newest first, paged), one generation's
//! document, the diff between two generations, and the rollback to one.
//!
//! Reads go to the shared history store directly (its index is in memory, a document is one small file); only the
//! rollback goes through the manager actor, as a configuration write: it honours `If-Match` / `If-None-Match`
//! against the configuration in force, runs the whole pipeline and is recorded as a new generation. When the
//! manager runs without a history (the state directory is unusable; the log says why), every route answers 404
//! saying so.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::history::DiffSide;
use kres_datamodel::api::http::content_type;
use serde_json::Value;

use super::errors::ApiError;
use super::lifecycle::{Peer, client_of};
use super::{AppState, set_etag};
use crate::history::HistoryError;
use crate::manager::generations::{SharedHistory, lock};

/// `GET /v1/history` without `limit`.
pub(super) const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` accepted.
pub(super) const MAX_LIMIT: usize = 1000;

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// `GET /v1/history?offset=N&limit=M`.
pub(super) async fn list(State(app): State<AppState>, params: Params) -> Response {
    let page = (|| -> Result<_, ApiError> {
        let (offset, limit) = page_of(params)?;
        Ok(lock(history(&app)?).list(offset, limit))
    })();
    match page {
        Ok(page) => json(StatusCode::OK, &page, None),
        Err(e) => e.into_response(),
    }
}

/// `offset` (default 0) and `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]); anything else is refused.
fn page_of(params: Params) -> Result<(usize, usize), ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))?;
    let (mut offset, mut limit) = (0, DEFAULT_LIMIT);
    for (name, value) in params {
        let number = || {
            value.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("'{name}={value}': {name} is a number of generations (0, 1, ...)"))
            })
        };
        match name.as_str() {
            "offset" => offset = number()?,
            "limit" => limit = number()?,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{name}'; GET /v1/history takes 'offset' and 'limit'"
                )));
            }
        }
    }
    if limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit={limit}: at most {MAX_LIMIT} generations per page")));
    }
    Ok((offset, limit))
}

/// `GET /v1/history/{generation}`: the document as it was applied, its ETag in the `ETag` header.
pub(super) async fn get(State(app): State<AppState>, Path(generation): Path<String>) -> Response {
    let document = (|| -> Result<_, ApiError> {
        let number = number_of(&generation)?;
        document(history(&app)?, number)
    })();
    match document {
        Ok((config, etag)) => json(StatusCode::OK, &config, Some(&etag)),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/history/{generation}/diff?to={other}` (`to` defaults to the generation in force).
pub(super) async fn diff(State(app): State<AppState>, Path(generation): Path<String>, params: Params) -> Response {
    let diff = (|| -> Result<_, ApiError> {
        let from = number_of(&generation)?;
        let Query(params) =
            params.map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))?;
        let mut to = None;
        for (name, value) in params {
            match name.as_str() {
                "to" => to = Some(number_of(&value)?),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter '{name}'; the diff takes 'to' (a generation number)"
                    )));
                }
            }
        }
        let history = history(&app)?;
        let to = match to {
            Some(to) => to,
            None => in_force(&app, history)?,
        };
        let (old, old_etag) = document(history, from)?;
        let (new, new_etag) = document(history, to)?;
        Ok(kres_datamodel::diff::diff(
            (&old, DiffSide { generation: Some(from), etag: old_etag }),
            (&new, DiffSide { generation: Some(to), etag: new_etag }),
            (&format!("generation {from}"), &format!("generation {to}")),
        ))
    })();
    match diff {
        Ok(diff) => json(StatusCode::OK, &diff, None),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/history/{generation}/rollback`: applies that generation's document again; answers like a
/// configuration write (the outcome and the new ETag).
pub(super) async fn rollback(
    State(app): State<AppState>,
    peer: Peer,
    Path(generation): Path<String>,
    headers: HeaderMap,
) -> Response {
    let current = || app.handle().snapshot().etag.clone();
    let request = (|| -> Result<_, ApiError> {
        let number = number_of(&generation)?;
        history(&app)?;
        if app.handle().snapshot().config.fleet.enable {
            return Err(ApiError::new(StatusCode::CONFLICT, crate::fleet::local_write_refused()));
        }
        Ok((number, super::config::preconditions(&headers)?))
    })();
    let (number, preconditions) = match request {
        Ok(r) => r,
        Err(e) => return e.with_etag(&current()).into_response(),
    };
    match app.handle().rollback(number, preconditions, client_of(peer)).await {
        Ok(outcome) => json(StatusCode::OK, &outcome, Some(&outcome.etag)),
        Err(e) => super::errors::ApiError::from(e).with_etag(&current()).into_response(),
    }
}

/// The history, or the 404 that says there is none.
fn history(app: &AppState) -> Result<&SharedHistory, ApiError> {
    app.handle().history().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "the configuration history is not available: the manager could not use its state directory \
             (/management/state-dir); see the manager's log for why",
        )
    })
}

/// The generation in force: the one the manager last applied (or started with).
fn in_force(app: &AppState, history: &SharedHistory) -> Result<u64, ApiError> {
    let generation = app.handle().snapshot().generation;
    if lock(history).get(generation).is_some() {
        return Ok(generation);
    }
    lock(history).last_applied().map(|g| g.number).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "the history holds no applied generation to compare with; give ?to=N")
    })
}

/// A generation's document and ETag.
fn document(history: &SharedHistory, number: u64) -> Result<(Value, String), ApiError> {
    let store = lock(history);
    let etag = store.get(number).map(|g| g.etag.clone());
    match (store.config(number), etag) {
        (Ok(config), Some(etag)) => Ok((config, etag)),
        (Err(HistoryError::NotFound { .. }), _) | (_, None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "generation {number} is not in the configuration history (it never existed or was removed by the \
                 retention limits, /management/history); GET /v1/history lists the generations kept"
            ),
        )),
        (Err(e), _) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// A generation number from the path or the query.
fn number_of(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!("'{text}' is not a generation number (1, 2, ...; GET /v1/history lists them)"))
    })
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T, etag: Option<&str>) -> Response {
    let body = Bytes::from(super::pretty_json(value));
    let mut response = (status, [(header::CONTENT_TYPE, content_type::JSON)], body).into_response();
    if let Some(etag) = etag {
        set_etag(&mut response, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Ok(Query(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
    }

    #[test]
    fn pages_are_bounded_and_strict() {
        assert_eq!(page_of(params(&[])).unwrap(), (0, DEFAULT_LIMIT));
        assert_eq!(page_of(params(&[("offset", "5"), ("limit", "1000")])).unwrap(), (5, 1000));
        let status = |p: &[(&str, &str)]| page_of(params(p)).unwrap_err().status;
        assert_eq!(status(&[("limit", "1001")]), StatusCode::BAD_REQUEST);
        assert_eq!(status(&[("limit", "-1")]), StatusCode::BAD_REQUEST);
        assert_eq!(status(&[("page", "1")]), StatusCode::BAD_REQUEST);
        assert_eq!(number_of("x").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(number_of("42").unwrap(), 42);
    }
}
