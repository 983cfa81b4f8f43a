//! `GET /metrics` (→ `/metrics/json`), `/metrics/json` and `/metrics/prometheus`; the collection and the formats
//! live in [`crate::metrics`].

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::http::content_type;
use kres_datamodel::api::routes;

use super::AppState;

pub(super) async fn redirect() -> Response {
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, routes::METRICS_JSON)]).into_response()
}

pub(super) async fn json(State(app): State<AppState>) -> Response {
    let stats = crate::metrics::collect(app.handle()).await;
    let mut json = crate::metrics::to_json(&stats);
    if let Some(map) = json.as_object_mut() {
        map.insert(crate::metrics::MANAGER_KEY.into(), crate::metrics::manager_json(&app.handle().snapshot()));
    }
    let body = super::pretty_json(&json);
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type::JSON_UTF8)], body).into_response()
}

pub(super) async fn prometheus(State(app): State<AppState>) -> Response {
    let stats = crate::metrics::collect(app.handle()).await;
    let body = crate::metrics::to_prometheus(&stats, &app.handle().snapshot());
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type::PROMETHEUS)], body).into_response()
}
