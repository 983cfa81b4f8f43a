//! `GET /v1/events`: a Server-Sent Events stream (`text/event-stream`) of what the manager does: the steps of
//! every apply (validated, policy-loader done, canary ready, each worker replaced, health hold, rolled back, done)
//! and process events (a worker exited or was restarted).
//!
//! Each event is one SSE message: `event: <kind>` and `data: <the Event as one line of JSON>`, then a blank line.
//! Comment lines (`: keep-alive`) keep idle connections open. Readers ignore kinds and fields they do not know.

use serde::{Deserialize, Serialize};

use super::history::{Outcome, Source};

/// The SSE event name of every [`Event`] is its `kind`.
pub const CONTENT_TYPE: &str = "text/event-stream";

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339 UTC with milliseconds.
    pub time: String,
    /// The generation the event belongs to (the apply's number in the history), when it belongs to an apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// An apply started.
    Started { source: Source },
    /// The new configuration is valid; `impact` says what applying it takes (`live`, `rules`, `restart`, ...).
    Validated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        impact: Option<String>,
    },
    /// The policy-loader built the new rules database.
    PolicyLoaderDone,
    /// The canary worker started, and answered its DNS probe and its control socket.
    CanaryReady { instance: u32 },
    /// An old worker was replaced: `new` serves, `old` was drained and stopped (`old` absent when a worker was
    /// only added).
    WorkerReplaced {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<u32>,
        new: u32,
        /// How many replaced so far, of `total`.
        done: usize,
        total: usize,
    },
    /// The workers reset their rules (policy-loader without a restart).
    RulesReset,
    /// The health hold began: every worker must keep answering for `seconds`.
    HealthHold { seconds: f64 },
    /// The health hold passed.
    HealthHoldPassed,
    /// The health hold (or the canary's probe) failed.
    HealthHoldFailed { reason: String },
    /// The change was undone: the previous generation is in force again.
    RolledBack {
        reason: String,
        /// DNS probe queries that went unanswered while the change was in force and rolled back.
        #[serde(default)]
        lost_queries: u64,
    },
    /// The apply finished.
    Done {
        result: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        etag: Option<String>,
        seconds: f64,
    },
    /// A process exited unexpectedly (the supervisor restarts it unless it is FATAL).
    ProcessExited { id: String, pid: u32, status: String },
    /// A process (re)started.
    ProcessStarted { id: String, pid: u32 },
}

impl EventKind {
    /// The SSE `event:` name: the kebab-case kind.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::Validated { .. } => "validated",
            EventKind::PolicyLoaderDone => "policy-loader-done",
            EventKind::CanaryReady { .. } => "canary-ready",
            EventKind::WorkerReplaced { .. } => "worker-replaced",
            EventKind::RulesReset => "rules-reset",
            EventKind::HealthHold { .. } => "health-hold",
            EventKind::HealthHoldPassed => "health-hold-passed",
            EventKind::HealthHoldFailed { .. } => "health-hold-failed",
            EventKind::RolledBack { .. } => "rolled-back",
            EventKind::Done { .. } => "done",
            EventKind::ProcessExited { .. } => "process-exited",
            EventKind::ProcessStarted { .. } => "process-started",
        }
    }

    /// Whether this event ends an apply.
    pub fn is_done(&self) -> bool {
        matches!(self, EventKind::Done { .. })
    }
}

impl Event {
    /// The event as one SSE message.
    pub fn to_sse(&self) -> String {
        let data = serde_json::to_string(self).unwrap_or_default();
        format!("event: {}\ndata: {data}\n\n", self.kind.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_form_and_round_trip() {
        let event = Event {
            time: "2026-12-03T14:11:55.123Z".into(),
            generation: Some(4),
            kind: EventKind::WorkerReplaced { old: Some(0), new: 2, done: 1, total: 2 },
        };
        let sse = event.to_sse();
        assert!(sse.starts_with("event: worker-replaced\ndata: {"), "{sse}");
        assert!(sse.ends_with("}\n\n"));
        let data = sse.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(serde_json::from_str::<Event>(data).unwrap(), event);
        let value: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(value["kind"], "worker-replaced");
        assert_eq!(value["generation"], 4);
    }
}
