//! `GET /` ([`Index`]), `GET /healthz` ([`alive`]) and `GET /readyz` ([`Readiness`]).

use serde::{Deserialize, Serialize};

/// `GET /`: the manager runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub msg: String,
    /// Always `RUNNING`.
    pub status: String,
}

impl Index {
    /// The answer of a running manager.
    pub fn running() -> Index {
        Index {
            msg: format!(
                "Knot Resolver Manager is running! The configuration endpoint is at {}",
                super::routes::CONFIG
            ),
            status: "RUNNING".to_owned(),
        }
    }
}

/// `GET /healthz`: the text answer of a manager whose configuration is at `generation`.
pub fn alive(generation: u64) -> String {
    format!("alive (generation {generation})\n")
}

/// `GET /readyz` (200 when `ready`, 503 otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    /// Workers configured (`/workers`).
    pub configured: usize,
    pub workers: Vec<WorkerProbe>,
    /// The DNS probe (absent when no plain-DNS listener has an IP address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsProbe>,
    /// Problems not tied to one worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// One worker's answer to the readiness probe on its control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerProbe {
    /// The worker's ID as in the metrics (`kresd0`).
    pub id: String,
    pub pid: u32,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The DNS query (`localhost. A`) sent to the first plain-DNS listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsProbe {
    /// `address:port`.
    pub target: String,
    pub ready: bool,
    /// The answer's RCODE (`NOERROR`, ...), when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    /// Why there was no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        assert_eq!(
            serde_json::to_string(&Index::running()).unwrap(),
            r#"{"msg":"Knot Resolver Manager is running! The configuration endpoint is at /v1/config","status":"RUNNING"}"#
        );
        let r = Readiness {
            ready: false,
            configured: 1,
            workers: vec![WorkerProbe { id: "kresd0".into(), pid: 1, ready: false, reason: Some("x".into()) }],
            dns: None,
            reasons: vec![],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"ready":false,"configured":1,"workers":[{"id":"kresd0","pid":1,"ready":false,"reason":"x"}]}"#
        );
        assert_eq!(serde_json::from_str::<Readiness>(&text).unwrap(), r);
        assert_eq!(alive(3), "alive (generation 3)\n");
    }
}
