//! `GET /metrics` (→ `/metrics/json`), `/metrics/json` and `/metrics/prometheus`; the collection and the formats
//! live in [`crate::metrics`].

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

pub(super) async fn redirect() -> Response {
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "/metrics/json")]).into_response()
}

pub(super) async fn json(State(app): State<AppState>) -> Response {
    let stats = crate::metrics::collect(app.handle()).await;
    let body = super::pretty_json(&crate::metrics::to_json(&stats));
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response()
}

pub(super) async fn prometheus(State(app): State<AppState>) -> Response {
    let stats = crate::metrics::collect(app.handle()).await;
    let body = crate::metrics::to_prometheus(&stats, &app.handle().snapshot());
    (StatusCode::OK, [(header::CONTENT_TYPE, crate::metrics::PROMETHEUS_CONTENT_TYPE)], body).into_response()
}
