//! The manager's view of process control: the [`Controller`] trait and its implementation over the
//! supervisor protocol. Another backend (e.g. systemd units) could implement the same trait.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::protocol::{Event, ProcInfo, Reply, Request, RequestLine, SpawnSpec, SupervisorLine};

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("lost the connection to the supervisor: {0}")]
    Disconnected(String),
    #[error("{message}")]
    Failed { message: String, output_tail: Vec<String> },
    #[error("unexpected reply from the supervisor: {0:?}")]
    Unexpected(Box<Reply>),
}

impl ControllerError {
    /// The process output that explains a failure (kresd's own error text), if any.
    pub fn output_tail(&self) -> &[String] {
        match self {
            ControllerError::Failed { output_tail, .. } => output_tail,
            _ => &[],
        }
    }
}

/// Starting, stopping and listing the resolver's processes.
pub trait Controller {
    /// Starts a process; answers according to `spec.wait`.
    fn spawn(&self, spec: SpawnSpec) -> impl Future<Output = Result<Reply, ControllerError>>;
    /// Stops a process (SIGTERM, SIGKILL after `timeout`).
    fn stop(&self, id: &str, timeout: Duration) -> impl Future<Output = Result<(), ControllerError>>;
    /// Every supervised process.
    fn list(&self) -> impl Future<Output = Result<Vec<ProcInfo>, ControllerError>>;
    /// The manager is up: tell the service manager (systemd) `READY=1` with `status`.
    fn ready(&self, status: &str) -> impl Future<Output = Result<(), ControllerError>>;
    /// Pass `state` (newline-separated `sd_notify` assignments: `RELOADING=1`, `MONOTONIC_USEC=`, `READY=1`,
    /// `STATUS=`) on to the service manager; ignored once the resolver is stopping.
    fn notify(&self, state: &str) -> impl Future<Output = Result<(), ControllerError>>;
    /// Stop the whole resolver.
    fn shutdown(&self) -> impl Future<Output = Result<(), ControllerError>>;
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// The [`Controller`] backed by our supervisor process. Clones share the connection.
#[derive(Clone)]
pub struct SupervisorClient {
    writer: Arc<Mutex<OwnedWriteHalf>>,
    pending: Pending,
    seq: Arc<AtomicU64>,
}

impl SupervisorClient {
    /// Connects to the supervisor's socket. Events are delivered on the returned channel, which closes when
    /// the connection is lost.
    pub async fn connect(socket: &Path) -> std::io::Result<(SupervisorClient, mpsc::UnboundedReceiver<Event>)> {
        let stream = UnixStream::connect(socket).await?;
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            loop {
                let line = match lines.next_line().await {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(_) => break,
                };
                match serde_json::from_str::<SupervisorLine>(&line) {
                    Ok(SupervisorLine::Reply { seq, reply }) => {
                        if let Some(tx) = reader_pending.lock().await.remove(&seq) {
                            let _ = tx.send(reply);
                        }
                    }
                    Ok(SupervisorLine::Event(event)) => {
                        let _ = events_tx.send(event);
                    }
                    Err(e) => tracing::warn!("ignoring a malformed line from the supervisor: {e}"),
                }
            }
            // Dropping the senders fails every waiting request.
            reader_pending.lock().await.clear();
        });
        let client =
            SupervisorClient { writer: Arc::new(Mutex::new(write)), pending, seq: Arc::new(AtomicU64::new(1)) };
        Ok((client, events_rx))
    }

    async fn call(&self, request: Request) -> Result<Reply, ControllerError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(seq, tx);
        let mut line = serde_json::to_string(&RequestLine { seq, request })
            .map_err(|e| ControllerError::Disconnected(e.to_string()))?;
        line.push('\n');
        self.writer
            .lock()
            .await
            .write_all(line.as_bytes())
            .await
            .map_err(|e| ControllerError::Disconnected(e.to_string()))?;
        match rx.await {
            Ok(Reply::Error { message, output_tail }) => Err(ControllerError::Failed { message, output_tail }),
            Ok(reply) => Ok(reply),
            Err(_) => Err(ControllerError::Disconnected("the supervisor closed the connection".into())),
        }
    }

    async fn call_ok(&self, request: Request) -> Result<(), ControllerError> {
        match self.call(request).await? {
            Reply::Ok => Ok(()),
            other => Err(ControllerError::Unexpected(Box::new(other))),
        }
    }

    /// A sign of life for the supervisor (it feeds systemd's watchdog only while these come).
    pub async fn ping(&self) -> Result<(), ControllerError> {
        self.call_ok(Request::Ping).await
    }
}

impl Controller for SupervisorClient {
    async fn spawn(&self, spec: SpawnSpec) -> Result<Reply, ControllerError> {
        self.call(Request::Spawn { spec }).await
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), ControllerError> {
        self.call_ok(Request::Stop { id: id.to_owned(), timeout_ms: timeout.as_millis() as u64 }).await
    }

    async fn list(&self) -> Result<Vec<ProcInfo>, ControllerError> {
        match self.call(Request::List).await? {
            Reply::List { procs } => Ok(procs),
            other => Err(ControllerError::Unexpected(Box::new(other))),
        }
    }

    async fn ready(&self, status: &str) -> Result<(), ControllerError> {
        self.call_ok(Request::Ready { status: status.to_owned() }).await
    }

    async fn notify(&self, state: &str) -> Result<(), ControllerError> {
        self.call_ok(Request::Notify { state: state.to_owned() }).await
    }

    async fn shutdown(&self) -> Result<(), ControllerError> {
        self.call_ok(Request::Shutdown).await
    }
}
