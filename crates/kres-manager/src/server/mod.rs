//! The HTTP management API (reference-manager.md §1): routing, ETags, request bodies and the mapping of errors
//! to statuses. Handlers never touch processes: they read the published [`Snapshot`](crate::manager::handle::Snapshot)
//! or send requests to the manager actor through its [`ManagerHandle`]. One module per route group.
//!
//! The listener is a unix socket (mode 0660; a stale socket file is replaced, a live one refused) or TCP
//! `ip@port`, per `/management`, with TLS when `/management/tls` is set (`tls`); HTTP/1.1 only, with header names
//! spelled like the reference's (`conn`). Who may do what is checked in front of every route (`auth`).

mod auth;
mod body;
mod cache;
mod config;
mod conn;
mod errors;
mod events;
mod health;
mod history;
mod lifecycle;
mod metrics;
mod processes;
mod schema;
mod tls;

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kres_datamodel::api::status::Index;
use kres_datamodel::api::{http, routes};
use kres_datamodel::config::ManagementSchema;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::manager::handle::ManagerHandle;
pub use errors::status_of;

/// The largest request body accepted (413 above it).
pub const BODY_LIMIT: usize = 10 << 20;

/// How long [`ServerHandle::stop`] waits for requests in progress.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Why the API could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("/management: configure exactly one of 'unix-socket' or 'interface'")]
    NoListener,
    #[error(
        "cannot listen on the management socket '{0}': another process is listening on it (is another manager \
         running?)"
    )]
    SocketInUse(PathBuf),
    #[error(
        "cannot listen on the management socket '{0}': the path exists and is not a socket; remove it or change /management/unix-socket"
    )]
    NotASocket(PathBuf),
    #[error("cannot listen on the management API address {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("/management/tls: {0}")]
    Tls(String),
}

/// Where the API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(SocketAddr),
    Tls(SocketAddr),
}

impl Listen {
    pub fn from_config(management: &ManagementSchema) -> Result<Listen, ServerError> {
        match (&management.unix_socket, &management.interface) {
            (Some(path), None) => Ok(Listen::Unix(path.path().to_path_buf())),
            (None, Some(interface)) if management.tls.is_some() => {
                Ok(Listen::Tls(SocketAddr::new(interface.addr, interface.port)))
            }
            (None, Some(interface)) => Ok(Listen::Tcp(SocketAddr::new(interface.addr, interface.port))),
            _ => Err(ServerError::NoListener),
        }
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(path) => write!(f, "unix socket {}", path.display()),
            Listen::Tcp(addr) => write!(f, "http://{addr}"),
            Listen::Tls(addr) => write!(f, "https://{addr}"),
        }
    }
}

/// A running API server; stop it with [`ServerHandle::stop`] (dropping it also removes the socket file).
pub struct ServerHandle {
    listen: Listen,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The unix socket file we created (path, device, inode), removed on stop if it is still ours.
    socket: Option<(PathBuf, u64, u64)>,
}

impl ServerHandle {
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// Stops accepting connections (as the manager's shutdown token does), lets requests in progress finish (for a
    /// few seconds) and removes the socket.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(STOP_GRACE, &mut task).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::debug!("requests still in progress after {STOP_GRACE:?}; closing them");
                    task.abort();
                }
            }
        }
        self.remove_socket();
    }

    fn remove_socket(&mut self) {
        if let Some((path, dev, ino)) = self.socket.take()
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.remove_socket();
    }
}

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    handle: ManagerHandle,
    /// The serialized whole configuration of one ETag (the most frequent GET).
    root_json: Mutex<Option<(String, Bytes)>>,
    /// Cancelled when the server stops: ends the `/v1/events` streams.
    shutdown: CancellationToken,
}

impl AppState {
    /// `shutdown` ends the `/v1/events` streams when the server stops.
    pub fn with_shutdown(handle: ManagerHandle, shutdown: CancellationToken) -> Self {
        AppState { inner: Arc::new(Inner { handle, root_json: Mutex::new(None), shutdown }) }
    }

    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub fn handle(&self) -> &ManagerHandle {
        &self.inner.handle
    }
}

/// Binds the listener configured in `management` and serves the API on the current runtime until `shutdown` is
/// cancelled (or [`ServerHandle::stop`]).
pub async fn start(
    handle: ManagerHandle,
    management: &ManagementSchema,
    shutdown: CancellationToken,
) -> Result<ServerHandle, ServerError> {
    let listen = Listen::from_config(management)?;
    let shutdown = shutdown.child_token();
    let auth = auth::Auth::new(handle.clone());
    let app = router(AppState::with_shutdown(handle, shutdown.clone()))
        .layer(axum::middleware::from_fn_with_state(auth, auth::check));
    let stopped = shutdown.clone();
    let (task, socket) = match &listen {
        Listen::Unix(path) => {
            let (listener, dev, ino) = bind_unix(path, auth::socket_group(management))?;
            let task = tokio::spawn(conn::serve(listener, app, stopped.clone(), None));
            (task, Some((path.clone(), dev, ino)))
        }
        Listen::Tcp(addr) | Listen::Tls(addr) => {
            let tls = match management.tls.as_ref() {
                Some(files) => Some(
                    tls::Reloading::start(tls::TlsFiles::from_config(files), stopped.clone())
                        .map_err(ServerError::Tls)?,
                ),
                None => None,
            };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { address: addr.to_string(), source })?;
            let task = tokio::spawn(conn::serve(listener, app, stopped, tls));
            (task, None)
        }
    };
    tracing::info!("management API listening on {listen}");
    Ok(ServerHandle { listen, shutdown, task: Some(task), socket })
}

/// Binds a unix socket at `path` with mode 0660: bound under a temporary name, chmod-ed (and given `group`, the
/// name and gid of `/management/unix-socket-group`, when set), then renamed over `path`, so the socket is never
/// reachable with looser permissions and a stale socket is replaced atomically. Refuses when a process accepts
/// connections on `path`.
fn bind_unix(
    path: &Path,
    group: Option<(String, Option<u32>)>,
) -> Result<(tokio::net::UnixListener, u64, u64), ServerError> {
    let bind_error = |source| ServerError::Bind { address: path.display().to_string(), source };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => return Err(ServerError::NotASocket(path.to_path_buf())),
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServerError::SocketInUse(path.to_path_buf()));
            }
            tracing::debug!("replacing the stale management socket '{}'", path.display());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_error(e)),
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let listener = tokio::net::UnixListener::bind(&temporary).map_err(bind_error)?;
    let finish = || -> std::io::Result<std::fs::Metadata> {
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o660))?;
        match &group {
            Some((_, Some(gid))) => {
                if let Err(e) = std::os::unix::fs::chown(&temporary, None, Some(*gid)) {
                    tracing::warn!("cannot give the management socket the group {gid}: {e}");
                }
            }
            Some((name, None)) => tracing::warn!(
                "/management/unix-socket-group: no group '{name}' in /etc/group; the socket keeps its group"
            ),
            None => {}
        }
        std::fs::rename(&temporary, path)?;
        std::fs::symlink_metadata(path)
    };
    match finish() {
        Ok(meta) => Ok((listener, meta.dev(), meta.ino())),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(bind_error(e))
        }
    }
}

/// Every route of the API (the paths are the contract's, [`routes`]).
pub(crate) fn router(state: AppState) -> Router {
    let config_routes = get(config::get).put(config::put).patch(config::patch).delete(config::delete);
    Router::new()
        .route(routes::INDEX, get(index))
        .route(routes::CONFIG, config_routes.clone())
        .route(&format!("{}/", routes::CONFIG), config_routes.clone())
        .route(&format!("{}/{{*pointer}}", routes::CONFIG), config_routes)
        .route(routes::STOP, post(lifecycle::stop))
        .route(routes::RELOAD, post(lifecycle::reload))
        .route(routes::RELOAD_FORCE, post(lifecycle::reload_force))
        .route(routes::RENEW, post(lifecycle::renew))
        .route(routes::RENEW_FORCE, post(lifecycle::renew_force))
        .route(routes::SCHEMA, get(schema::schema))
        .route(routes::SCHEMA_UI, get(schema::ui))
        .route(routes::METRICS, get(metrics::redirect))
        .route(routes::METRICS_JSON, get(metrics::json))
        .route(routes::METRICS_PROMETHEUS, get(metrics::prometheus))
        .route(routes::CACHE_CLEAR, post(cache::clear))
        .route(routes::PROCESSES, get(processes::all))
        .route(&format!("{}/{{kind}}", routes::PROCESSES), get(processes::by_kind))
        .route(routes::HEALTHZ, get(health::healthz))
        .route(routes::READYZ, get(health::readyz))
        .route(routes::HISTORY, get(history::list))
        .route(&format!("{}/{{generation}}", routes::HISTORY), get(history::get))
        .route(&format!("{}/{{generation}}/diff", routes::HISTORY), get(history::diff))
        .route(&format!("{}/{{generation}}/rollback", routes::HISTORY), post(history::rollback))
        .route(routes::EVENTS, get(events::events))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// JSON indented by four spaces, like the reference's `json.dumps(..., indent=4)`.
pub(crate) fn pretty_json<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    let _ = value.serialize(&mut serializer);
    out.push(b'\n');
    out
}

/// Sets the `ETag` header to the configuration's `etag` (quoted).
pub(crate) fn set_etag(response: &mut Response, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(&http::etag_value(etag)) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

async fn index(State(_): State<AppState>) -> Response {
    axum::Json(Index::running()).into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    errors::ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such API endpoint: {method} {}; GET {} tells whether the manager runs", uri.path(), routes::INDEX),
    )
    .into_response()
}

#[cfg(test)]
mod tests;
