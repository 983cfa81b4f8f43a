//! `POST /stop`, `/reload[/force]`, `/renew[/force]`. Unlike the reference, reload and renew answer only when the
//! manager has finished, with a failure status and the reason when they fail. Each logs the reference's line when the
//! request arrives ("Reloading event triggered...").

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use kres_datamodel::api::http::content_type;
use kres_datamodel::api::routes;

use super::AppState;
use super::errors::ApiError;
use crate::manager::handle::{ApplyResult, Client, Source};

/// The connection's peer (unix socket) or authenticated client, when known.
pub(super) type Peer = Option<Extension<Client>>;

pub(super) fn client_of(peer: Peer) -> Option<Client> {
    peer.map(|Extension(client)| client)
}

pub(super) async fn stop(State(app): State<AppState>) -> Response {
    tracing::info!("Shutdown event triggered...");
    app.handle().stop().await;
    text(StatusCode::OK, "Shutting down...\n")
}

pub(super) async fn reload(State(app): State<AppState>, peer: Peer) -> Response {
    tracing::info!("Reloading event triggered...");
    answer(app.handle().reload(false, Source::Reload, client_of(peer)).await, "Reloading...")
}

pub(super) async fn reload_force(State(app): State<AppState>, peer: Peer) -> Response {
    tracing::info!("Reloading event triggered...");
    answer(app.handle().reload(true, Source::Reload, client_of(peer)).await, "Reloading...")
}

pub(super) async fn renew(State(app): State<AppState>, peer: Peer) -> Response {
    tracing::info!("Renewing configuration event triggered...");
    answer(
        app.handle()
            .renew(
                false,
                Source::Api { method: "POST".into(), route: routes::renew_path(false).into() },
                client_of(peer),
            )
            .await,
        "Renewing configuration...",
    )
}

pub(super) async fn renew_force(State(app): State<AppState>, peer: Peer) -> Response {
    tracing::info!("Renewing configuration event triggered...");
    answer(
        app.handle()
            .renew(true, Source::Api { method: "POST".into(), route: routes::renew_path(true).into() }, client_of(peer))
            .await,
        "Renewing configuration...",
    )
}

/// 200 with the reference's text, a summary and the new ETag; the error's status and message otherwise.
fn answer(result: ApplyResult, what: &str) -> Response {
    match result {
        Ok(outcome) => {
            let restarted = if outcome.restarted_workers.is_empty() {
                "no worker was restarted".to_owned()
            } else {
                format!("{} worker(s) restarted", outcome.restarted_workers.len())
            };
            let summary = if !outcome.changed && outcome.restarted_workers.is_empty() && !outcome.rules_reloaded {
                format!("{what}\nNothing to apply: the configuration and the files it reads are unchanged.\n")
            } else {
                format!(
                    "{what}\nConfiguration applied successfully ({}; {restarted}{}) in {:.3} s.\n",
                    if outcome.changed { "changed" } else { "unchanged" },
                    if outcome.rules_reloaded { "; rules reloaded" } else { "" },
                    outcome.seconds
                )
            };
            let mut response = text(StatusCode::OK, summary);
            super::set_etag(&mut response, &outcome.etag);
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, content_type::TEXT)], body.into()).into_response()
}
