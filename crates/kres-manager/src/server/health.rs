//! `GET /healthz` (the manager answers) and `GET /readyz` (every configured worker runs and answers a probe on
//! its control socket; 503 with the reason per worker otherwise).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;

/// How long a worker may take to answer the readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn healthz(State(app): State<AppState>) -> Response {
    let generation = app.handle().snapshot().generation;
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("alive (generation {generation})\n"),
    )
        .into_response()
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    /// Workers configured (`/workers`).
    configured: usize,
    workers: Vec<WorkerProbe>,
    /// Problems not tied to one worker.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
struct WorkerProbe {
    id: String,
    pid: u32,
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub(super) async fn readyz(State(app): State<AppState>) -> Response {
    let snapshot = app.handle().snapshot();
    let configured = snapshot.config.workers.count;
    let mut reasons = Vec::new();
    if snapshot.workers.len() < configured {
        reasons.push(format!("only {} of {configured} configured workers are running", snapshot.workers.len()));
    }
    let mut workers: Vec<WorkerProbe> = app
        .handle()
        .command_workers("worker.id", PROBE_TIMEOUT)
        .await
        .into_iter()
        .map(|(worker, result)| {
            let expected = worker.instance.to_string();
            let reason = match result {
                Ok(serde_json::Value::String(id)) if id == expected => None,
                Ok(other) => Some(format!("answered worker.id = {other}, expected '{expected}'")),
                Err(e) => Some(e.to_string()),
            };
            WorkerProbe {
                id: crate::metrics::instance_id(worker.instance),
                pid: worker.pid,
                ready: reason.is_none(),
                reason,
            }
        })
        .collect();
    workers.sort_by(|a, b| a.id.cmp(&b.id));
    let ready = reasons.is_empty() && workers.iter().all(|w| w.ready);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = super::pretty_json(&Readiness { ready, configured, workers, reasons });
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
