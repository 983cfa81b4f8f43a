//! `GET /processes[/all|kresd|gc]`: the resolver's processes from the published snapshot, as the reference's
//! list of `{"type", "pid", "status"}`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::errors::ApiError;
use crate::manager::handle::Snapshot;

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Process {
    #[serde(rename = "type")]
    kind: &'static str,
    pid: u32,
    status: &'static str,
}

pub(super) async fn all(State(app): State<AppState>) -> Response {
    respond(list(&app.handle().snapshot(), true, true))
}

pub(super) async fn by_kind(State(app): State<AppState>, Path(kind): Path<String>) -> Response {
    let (kresd, gc) = match kind.as_str() {
        "all" => (true, true),
        "kresd" => (true, false),
        "gc" => (false, true),
        other => {
            return ApiError::bad_request(format!(
                "Invalid process type '{other}'; use /processes/all, /processes/kresd or /processes/gc"
            ))
            .into_response();
        }
    };
    respond(list(&app.handle().snapshot(), kresd, gc))
}

fn list(snapshot: &Snapshot, kresd: bool, gc: bool) -> Vec<Process> {
    let mut out = Vec::new();
    if kresd {
        let mut workers = snapshot.workers.clone();
        workers.sort_by_key(|w| w.instance);
        out.extend(workers.iter().map(|w| Process { kind: "KRESD", pid: w.pid, status: "RUNNING" }));
    }
    if gc && let Some(pid) = snapshot.gc_pid {
        out.push(Process { kind: "GC", pid, status: "RUNNING" });
    }
    out
}

fn respond(list: Vec<Process>) -> Response {
    let body = super::pretty_json(&list);
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], body)
        .into_response()
}
