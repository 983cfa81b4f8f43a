//! The configuration history: what the manager records about every configuration it was asked to apply (a
//! numbered [`Generation`]), and a page of them ([`HistoryPage`]).
//!
//! These are the bodies the history routes serve (see [`super::routes::HISTORY`]) and the metadata the manager's
//! history store writes to disk (`kres-manager/src/history/`). Readers are tolerant: unknown fields are ignored,
//! so a newer manager can add some without breaking an older `kresctl`.

use serde::{Deserialize, Serialize};

/// One configuration generation: a configuration the manager was asked to apply, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// Unique and increasing over the life of the state directory (not necessarily contiguous: a write that
    /// failed leaves a gap).
    pub number: u64,
    /// The ETag of the configuration document (as the `ETag` header carries it, without quotes).
    pub etag: String,
    /// When the change was asked for, RFC 3339 in UTC with milliseconds (`2026-12-03T14:11:55.123Z`).
    pub time: String,
    pub source: Source,
    /// Who asked, when the change came over the API; absent for the file at start, SIGHUP and watchers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Client>,
    pub result: Outcome,
    /// How long the apply took, in milliseconds.
    pub duration_ms: u64,
    /// The instance numbers of the workers that were restarted (empty when none was).
    #[serde(default)]
    pub restarted_workers: Vec<u32>,
}

/// Where a configuration came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// The configuration files given with `-c` when the manager started.
    Startup { files: Vec<String> },
    /// A write through the HTTP API (`PUT`, `PATCH`, `DELETE`, ...) on a route (`/v1/config/workers`).
    Api { method: String, route: String },
    /// `POST /reload` (or `kresctl reload`): the files given with `-c`, read again.
    Reload,
    /// SIGHUP (`systemctl reload`): the files given with `-c`, read again.
    Sighup,
    /// A file watcher saw `path` change.
    Watcher { path: String },
    /// A rollback to the configuration of generation `of`.
    Rollback { of: u64 },
    /// The fleet (configuration distributed to several resolvers).
    Fleet,
}

/// Who asked for a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Client {
    /// A peer of the management unix socket, as `SO_PEERCRED` names it.
    Peer { uid: u32, pid: u32 },
    /// A client that authenticated with the token named `name`.
    Token { name: String },
}

/// What became of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// It is (or was) the configuration in force.
    Applied,
    /// It was refused before anything changed (invalid, a failed precondition, kresd rejected it).
    Refused { reason: String },
    /// Applying it failed part-way and the configuration before it was restored.
    RolledBack { reason: String },
}

impl Outcome {
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied)
    }
}

/// A page of the history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// How many generations the history holds.
    pub total: usize,
    /// How many of the newest were skipped.
    pub offset: usize,
    pub generations: Vec<Generation>,
}

/// One side of a [`Diff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSide {
    /// The generation, when the side is one (absent for a file or the configuration in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// The ETag of the side's document: `If-Match` with the `from` ETag applies exactly what was diffed.
    pub etag: String,
}

/// One changed value, by JSON pointer (RFC 6901).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `add`, `remove` or `replace`.
    pub op: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<serde_json::Value>,
}

/// What changes from one configuration to another: `GET /v1/history/{gen}/diff?to={gen}` and
/// `kresctl config diff --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub from: DiffSide,
    pub to: DiffSide,
    /// The changed values, in document order.
    pub changes: Vec<Change>,
    /// A unified diff of the two documents as YAML (empty when they are equal).
    pub unified: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wire_form() {
        let generation = Generation {
            number: 7,
            etag: "AAAAAAAAAAAAAAAAAAAA".into(),
            time: "2026-12-03T14:11:55.123Z".into(),
            source: Source::Rollback { of: 3 },
            client: Some(Client::Peer { uid: 0, pid: 42 }),
            result: Outcome::RolledBack { reason: "kresd refused".into() },
            duration_ms: 12,
            restarted_workers: vec![0, 1],
        };
        let value = serde_json::to_value(&generation).unwrap();
        assert_eq!(
            value,
            json!({
                "number": 7, "etag": "AAAAAAAAAAAAAAAAAAAA", "time": "2026-12-03T14:11:55.123Z",
                "source": {"kind": "rollback", "of": 3}, "client": {"kind": "peer", "uid": 0, "pid": 42},
                "result": {"kind": "rolled-back", "reason": "kresd refused"}, "duration_ms": 12,
                "restarted_workers": [0, 1]
            })
        );
        assert_eq!(serde_json::from_value::<Generation>(value).unwrap(), generation);
        let sighup = json!({"number": 1, "etag": "x", "time": "t", "source": {"kind": "sighup"},
            "result": {"kind": "applied"}, "duration_ms": 0, "future-field": true});
        let parsed: Generation = serde_json::from_value(sighup).unwrap();
        assert_eq!((parsed.source, parsed.client, parsed.restarted_workers), (Source::Sighup, None, vec![]));
    }
}
