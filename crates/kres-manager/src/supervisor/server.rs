//! The manager's side of the protocol socket (`supervisor.sock`): one JSON object per line each way. A connection
//! is a reader task (lines → the event loop) and a writer task (replies and events → the socket). Only one
//! connection is served at a time; the event loop drops the old [`Connection`] when a new one arrives.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Error;
use super::event_loop::Msg;
use crate::protocol::SupervisorLine;

/// Binds the protocol socket (replacing a stale file) with mode 0600: only the supervisor's user may connect.
pub fn bind(path: &Path) -> Result<UnixListener, Error> {
    super::notify::remove_stale(path)
        .map_err(Error::io(format!("cannot remove the stale socket '{}'", path.display())))?;
    let listener =
        UnixListener::bind(path).map_err(Error::io(format!("cannot bind the socket '{}'", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(Error::io(format!("cannot set the permissions of '{}'", path.display())))?;
    Ok(listener)
}

/// The manager's connection. Dropping it closes the socket.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    out: mpsc::UnboundedSender<SupervisorLine>,
    reader: JoinHandle<()>,
}

impl Connection {
    /// Starts serving `stream`: every line read is sent to the event loop as [`Msg::Line`], the end of the stream as
    /// [`Msg::Disconnected`].
    pub fn start(id: u64, stream: UnixStream, events: mpsc::UnboundedSender<Msg>) -> Connection {
        let (read, mut write) = stream.into_split();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        if line.trim().is_empty() {
                            continue;
                        }
                        if events.send(Msg::Line { conn: id, line }).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("reading from the manager's connection failed: {e}");
                        break;
                    }
                }
            }
            let _ = events.send(Msg::Disconnected { conn: id });
        });
        let (out, mut out_rx) = mpsc::unbounded_channel::<SupervisorLine>();
        tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                let mut text = match serde_json::to_string(&line) {
                    Ok(text) => text,
                    Err(e) => {
                        tracing::error!("cannot serialize {line:?}: {e}");
                        continue;
                    }
                };
                text.push('\n');
                if let Err(e) = write.write_all(text.as_bytes()).await {
                    tracing::debug!("writing to the manager's connection failed: {e}");
                    break;
                }
            }
        });
        Connection { id, out, reader }
    }

    pub fn send(&self, line: SupervisorLine) {
        let _ = self.out.send(line);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The writer ends when `out` is dropped; the reader would wait for the peer, so stop it here.
        self.reader.abort();
    }
}
