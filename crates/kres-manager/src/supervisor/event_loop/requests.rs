//! The manager's connection: one at a time (a new one replaces the old), its request lines dispatched by one
//! `match`.

use std::time::Duration;

use tokio::net::UnixStream;

use super::children::Child;
use super::{EventLoop, Msg, error};
use crate::protocol::{Reply, Request, RequestLine};
use crate::supervisor::server::Connection;

impl EventLoop {
    pub(super) fn on_connection(&mut self, stream: UnixStream) {
        let id = self.next_serial();
        if self.conn.is_some() {
            tracing::info!("a new manager connection replaces the previous one");
        } else {
            tracing::debug!("the manager connected");
        }
        // Dropping the old connection closes it.
        self.conn = Some(Connection::start(id, stream, self.tx.clone()));
        self.manager_seen();
    }

    pub(super) fn on_message(&mut self, msg: Msg) {
        match msg {
            Msg::Line { conn, line } => self.on_line(conn, &line),
            Msg::Disconnected { conn } => {
                if self.conn.as_ref().is_some_and(|c| c.id == conn) {
                    tracing::debug!("the manager disconnected");
                    self.conn = None;
                }
            }
            Msg::Exited { serial, exit } => self.on_exit(serial, exit),
            Msg::Timer { serial, timer } => self.on_timer(serial, timer),
        }
    }

    fn on_line(&mut self, conn: u64, line: &str) {
        if self.conn.as_ref().is_none_or(|c| c.id != conn) {
            return; // a line that was already queued when the connection was replaced
        }
        self.manager_seen();
        match serde_json::from_str::<RequestLine>(line) {
            Ok(RequestLine { seq, request }) => self.on_request(conn, seq, request),
            Err(e) => {
                tracing::warn!("invalid request from the manager ({e}): {line}");
                let seq = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("seq")?.as_u64());
                if let Some(seq) = seq {
                    self.reply(conn, seq, error(format!("invalid request: {e}"), Vec::new()));
                }
            }
        }
    }

    fn on_request(&mut self, conn: u64, seq: u64, request: Request) {
        if request != Request::Ping {
            tracing::debug!("request {seq}: {request:?}");
        }
        match request {
            Request::Spawn { spec } => self.spawn(conn, seq, spec),
            Request::Stop { id, timeout_ms } => self.stop(conn, seq, &id, Duration::from_millis(timeout_ms)),
            Request::Signal { id, signal } => {
                let reply = self.signal(&id, signal);
                self.reply(conn, seq, reply);
            }
            Request::List => {
                let procs = self.children.values().map(Child::info).collect();
                self.reply(conn, seq, Reply::List { procs });
            }
            // After STOPPING=1, systemd must not hear READY=1 again.
            Request::Ready { status } => {
                if self.is_running() {
                    self.notify_systemd(&format!("READY=1\nSTATUS={status}"));
                }
                self.reply(conn, seq, Reply::Ok);
            }
            Request::Notify { state } => {
                if self.is_running() {
                    self.notify_systemd(&state);
                }
                self.reply(conn, seq, Reply::Ok);
            }
            Request::Shutdown => {
                self.reply(conn, seq, Reply::Ok);
                self.begin_shutdown(0, "the manager asked for it");
            }
            Request::Ping => self.reply(conn, seq, Reply::Ok),
        }
    }
}
