//! `GET /processes[/all|kresd|gc]`: the resolver's subprocesses, a list of [`Process`].

use serde::{Deserialize, Serialize};

/// Which subprocesses `/processes/{filter}` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessFilter {
    All,
    Kresd,
    Gc,
}

impl ProcessFilter {
    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessFilter::All => "all",
            ProcessFilter::Kresd => "kresd",
            ProcessFilter::Gc => "gc",
        }
    }

    /// The filter named by a path segment.
    pub fn parse(segment: &str) -> Option<ProcessFilter> {
        [ProcessFilter::All, ProcessFilter::Kresd, ProcessFilter::Gc].into_iter().find(|f| f.as_str() == segment)
    }

    /// Whether the filter lists processes of `kind`.
    pub fn includes(self, kind: ProcessType) -> bool {
        match self {
            ProcessFilter::All => true,
            ProcessFilter::Kresd => kind == ProcessType::Kresd,
            ProcessFilter::Gc => kind == ProcessType::Gc,
        }
    }
}

/// One subprocess, as the reference lists it: `{"type": "KRESD", "pid": 1234, "status": "RUNNING"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    #[serde(rename = "type")]
    pub kind: ProcessType,
    pub pid: u32,
    pub status: ProcessStatus,
}

/// The kinds of subprocess (the reference's `SubprocessType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProcessType {
    Kresd,
    PolicyLoader,
    Gc,
}

/// The states of a subprocess (the reference's `SubprocessStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProcessStatus {
    Running,
    Fatal,
    Exited,
    Unexpected,
    Unknown,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wire_shape() {
        let p = Process { kind: ProcessType::PolicyLoader, pid: 7, status: ProcessStatus::Running };
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"type":"POLICY_LOADER","pid":7,"status":"RUNNING"}"#);
        let back: Process = serde_json::from_value(json!({"type": "GC", "pid": 8, "status": "FATAL"})).unwrap();
        assert_eq!(back, Process { kind: ProcessType::Gc, pid: 8, status: ProcessStatus::Fatal });
        assert!(serde_json::from_value::<Process>(json!({"type": "GC", "status": "RUNNING"})).is_err());
    }

    #[test]
    fn filters() {
        for f in [ProcessFilter::All, ProcessFilter::Kresd, ProcessFilter::Gc] {
            assert_eq!(ProcessFilter::parse(f.as_str()), Some(f));
        }
        assert_eq!(ProcessFilter::parse("bogus"), None);
        assert!(ProcessFilter::Gc.includes(ProcessType::Gc) && !ProcessFilter::Gc.includes(ProcessType::Kresd));
        assert!(ProcessFilter::All.includes(ProcessType::PolicyLoader));
    }
}
