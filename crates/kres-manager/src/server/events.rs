//! `GET /v1/events`: the manager's events ([`kres_datamodel::api::events`]) as a Server-Sent Events stream.
//!
//! The subscription to the manager's broadcast channel is made before the answer's head is sent, and the stream
//! opens with a `: subscribed` comment, so a client that has read it misses nothing of a change it sends next
//! (`kresctl ... --watch`). Then every event is one SSE message; an idle stream gets a `: keep-alive` comment every
//! [`KEEP_ALIVE`]; a reader that falls more than [`EVENT_BACKLOG`](crate::manager::handle::EVENT_BACKLOG) events
//! behind gets a comment saying how many it missed, and goes on with the next ones. The stream ends when the API
//! server stops (the manager's shutdown token), so it never holds up the graceful shutdown.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kres_datamodel::api::events::CONTENT_TYPE;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::AppState;
use crate::manager::handle::Event;

/// How often an idle stream gets a comment line.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /v1/events`.
pub(super) async fn events(State(app): State<AppState>) -> Response {
    let stream = EventStream {
        events: app.handle().subscribe_events(),
        stop: app.shutdown().clone(),
        keep_alive: KEEP_ALIVE,
        opened: false,
    };
    let body = Body::from_stream(futures_util::stream::unfold(stream, |mut s| async move {
        s.next().await.map(|chunk| (Ok::<_, Infallible>(chunk), s))
    }));
    ([(header::CONTENT_TYPE, CONTENT_TYPE), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// One subscriber's stream.
struct EventStream {
    events: broadcast::Receiver<Event>,
    stop: CancellationToken,
    keep_alive: Duration,
    opened: bool,
}

impl EventStream {
    /// The next piece of the stream; `None` ends it.
    async fn next(&mut self) -> Option<Bytes> {
        if !self.opened {
            self.opened = true;
            return Some(Bytes::from_static(b": subscribed\n\n"));
        }
        tokio::select! {
            () = self.stop.cancelled() => None,
            event = self.events.recv() => match event {
                Ok(event) => Some(Bytes::from(event.to_sse())),
                Err(RecvError::Lagged(missed)) => {
                    Some(Bytes::from(format!(": missed {missed} events (this reader fell behind)\n\n")))
                }
                Err(RecvError::Closed) => None,
            },
            () = tokio::time::sleep(self.keep_alive) => Some(Bytes::from_static(b": keep-alive\n\n")),
        }
    }
}

#[cfg(test)]
mod tests {
    use kres_datamodel::api::events::EventKind;

    use super::*;

    fn event(kind: EventKind) -> Event {
        Event { time: "2026-01-01T00:00:00.000Z".into(), generation: Some(3), kind }
    }

    #[tokio::test]
    async fn events_comments_lag_and_stop() {
        let (tx, rx) = broadcast::channel(2);
        let stop = CancellationToken::new();
        let keep_alive = Duration::from_millis(20);
        let mut s = EventStream { events: rx, stop: stop.clone(), keep_alive, opened: false };
        assert_eq!(s.next().await.unwrap(), ": subscribed\n\n");
        tx.send(event(EventKind::RulesReset)).unwrap();
        let text = String::from_utf8(s.next().await.unwrap().to_vec()).unwrap();
        assert!(text.starts_with("event: rules-reset\ndata: {") && text.ends_with("}\n\n"), "{text}");
        // Idle: a keep-alive comment.
        assert_eq!(s.next().await.unwrap(), ": keep-alive\n\n");
        // Three events into a channel of two: the reader is told it missed one, then gets the rest.
        for _ in 0..3 {
            tx.send(event(EventKind::PolicyLoaderDone)).unwrap();
        }
        assert_eq!(s.next().await.unwrap(), ": missed 1 events (this reader fell behind)\n\n");
        assert!(s.next().await.unwrap().starts_with(b"event: policy-loader-done\n"));
        assert!(s.next().await.unwrap().starts_with(b"event: policy-loader-done\n"));
        stop.cancel();
        assert_eq!(s.next().await, None);
        // The manager going away ends it too.
        let (tx, rx) = broadcast::channel::<Event>(2);
        let mut s = EventStream { events: rx, stop: CancellationToken::new(), keep_alive: KEEP_ALIVE, opened: true };
        drop(tx);
        assert_eq!(s.next().await, None);
    }
}
