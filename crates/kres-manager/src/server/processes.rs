//! `GET /processes[/all|kresd|gc]`: the resolver's processes from the published snapshot, as the contract's list
//! of [`Process`] (the reference's `{"type", "pid", "status"}`).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::http::content_type;
use kres_datamodel::api::processes::{Process, ProcessFilter, ProcessStatus, ProcessType};
use kres_datamodel::api::routes;

use super::AppState;
use super::errors::ApiError;
use crate::manager::handle::Snapshot;

pub(super) async fn all(State(app): State<AppState>) -> Response {
    respond(list(&app.handle().snapshot(), ProcessFilter::All))
}

pub(super) async fn by_kind(State(app): State<AppState>, Path(kind): Path<String>) -> Response {
    let Some(filter) = ProcessFilter::parse(&kind) else {
        let [all, kresd, gc] =
            [ProcessFilter::All, ProcessFilter::Kresd, ProcessFilter::Gc].map(routes::processes_path);
        return ApiError::bad_request(format!("Invalid process type '{kind}'; use {all}, {kresd} or {gc}"))
            .into_response();
    };
    respond(list(&app.handle().snapshot(), filter))
}

fn list(snapshot: &Snapshot, filter: ProcessFilter) -> Vec<Process> {
    let running = |kind, pid| Process { kind, pid, status: ProcessStatus::Running };
    let mut out = Vec::new();
    if filter.includes(ProcessType::Kresd) {
        let mut workers = snapshot.workers.clone();
        workers.sort_by_key(|w| w.instance);
        out.extend(workers.iter().map(|w| running(ProcessType::Kresd, w.pid)));
    }
    if filter.includes(ProcessType::Gc)
        && let Some(pid) = snapshot.gc_pid
    {
        out.push(running(ProcessType::Gc, pid));
    }
    out
}

fn respond(list: Vec<Process>) -> Response {
    let body = super::pretty_json(&list);
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type::JSON), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], body)
        .into_response()
}
