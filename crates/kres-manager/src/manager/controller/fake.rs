//! An in-memory [`Controller`] for the apply pipeline's unit tests (no kresd, no supervisor): processes are
//! entries in a table, every call is recorded in order, and failures are scripted. It models what the pipeline
//! relies on: a worker runs the Lua it was started with and has the rules database it opened (when it started
//! or at its last rules reset); the policy-loader replaces the rules database only when it succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::{Child, ChildState, Controller, ControllerError, Probe, ProcessError, Role};
use crate::manager::kresd::probe::{ProbeError, ProbeOutcome};
use crate::manager::kresd::{Command, ControlError};

/// A fake worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeWorker {
    pub pid: u32,
    pub lua: String,
    pub etag: String,
    /// The rules database it serves (the policy-loader Lua that built it).
    pub rules: Option<String>,
    /// Health probes it answered so far.
    pub probes: usize,
}

/// The fake's state: what runs, what was called, and what is to fail.
#[derive(Debug, Default)]
pub(crate) struct FakeState {
    pub workers: BTreeMap<u32, FakeWorker>,
    /// The cache garbage collector's command line, while it runs.
    pub gc: Option<Vec<String>>,
    /// The rules database: the policy-loader Lua of the last successful run.
    pub rules: Option<String>,
    /// Every call in order: `start N`, `stop N`, `drain N`, `command N <lua>`, `policy-loader`, `start-gc`,
    /// `stop-gc`.
    pub calls: Vec<String>,
    /// A worker whose Lua contains this text fails to start (kresd refuses its configuration).
    pub refuse: Option<String>,
    /// Worker starts that fail, numbered from 0 over every start since the fake was created.
    pub fail_starts: BTreeSet<usize>,
    pub starts: usize,
    /// The policy-loader fails (exit code 1).
    pub fail_policy_loader: bool,
    /// Workers whose runtime commands fail (hung).
    pub fail_commands: BTreeSet<u32>,
    /// A worker whose Lua contains this text answers its first `.1` health probes, then no more (it drops every
    /// query).
    pub unhealthy: Option<(String, usize)>,
    next_pid: u32,
}

/// A cloneable handle on one fake resolver.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeController {
    state: Arc<Mutex<FakeState>>,
}

impl FakeController {
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The calls recorded so far, cleared.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }
}

impl Controller for FakeController {
    async fn start_worker(&self, instance: u32, lua: &str, etag: &str) -> Result<u32, ProcessError> {
        let mut s = self.state();
        s.calls.push(format!("start {instance}"));
        let n = s.starts;
        s.starts += 1;
        let refused = s.refuse.as_ref().is_some_and(|r| lua.contains(r.as_str()));
        if refused || s.fail_starts.contains(&n) {
            return Err(ProcessError::Process {
                what: format!("kresd worker {instance}"),
                message: "exited before it was ready".into(),
                output: "\n[system] error while loading config: refused by the fake".into(),
            });
        }
        assert!(!s.workers.contains_key(&instance), "worker {instance} started twice");
        s.next_pid += 1;
        let pid = 1000 + s.next_pid;
        let rules = s.rules.clone();
        s.workers.insert(instance, FakeWorker { pid, lua: lua.to_owned(), etag: etag.to_owned(), rules, probes: 0 });
        Ok(pid)
    }

    async fn stop_worker(&self, instance: u32) -> Result<(), ProcessError> {
        let mut s = self.state();
        s.calls.push(format!("stop {instance}"));
        match s.workers.remove(&instance) {
            Some(_) => Ok(()),
            None => {
                Err(ControllerError::Failed { message: format!("no process kresd{instance}"), output_tail: vec![] }
                    .into())
            }
        }
    }

    async fn drain_worker(&self, instance: u32) {
        self.state().calls.push(format!("drain {instance}"));
    }

    async fn command(&self, instance: u32, command: &Command<'_>) -> Result<Value, ControlError> {
        let mut s = self.state();
        s.calls.push(format!("command {instance} {}", command.lua()));
        if s.fail_commands.contains(&instance) || !s.workers.contains_key(&instance) {
            return Err(ControlError::Timeout { path: format!("control/{instance}"), timeout: command.timeout() });
        }
        if *command == Command::RulesReset {
            let rules = s.rules.clone();
            if let Some(w) = s.workers.get_mut(&instance) {
                w.rules = rules;
            }
        }
        Ok(Value::Bool(true))
    }

    async fn listen_probe(&self, instance: u32) -> Option<u16> {
        let mut s = self.state();
        s.calls.push(format!("listen {instance}"));
        s.workers.contains_key(&instance).then_some(40000 + instance as u16)
    }

    async fn probe(&self, instance: u32, probe: &Probe<'_>) -> ProbeOutcome {
        let mut s = self.state();
        s.calls.push(format!("probe {instance}"));
        let unhealthy = s.unhealthy.clone();
        let Some(w) = s.workers.get_mut(&instance) else {
            let e = ControlError::Timeout { path: format!("control/{instance}"), timeout: Command::WorkerId.timeout() };
            return ProbeOutcome { sent: 0, failed: 0, result: Err(e.into()) };
        };
        let sick = unhealthy.is_some_and(|(text, healthy)| w.lua.contains(text.as_str()) && w.probes >= healthy);
        let sent = u64::from(probe.port.is_some());
        if !sick {
            w.probes += 1;
            return ProbeOutcome { sent, failed: 0, result: Ok(()) };
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], probe.port.unwrap_or(0)));
        let e = ProbeError::NoAnswer { name: probe.name.to_owned(), addr, tries: 3, seconds: 1.0 };
        ProbeOutcome { sent: sent * 3, failed: sent * 3, result: Err(e) }
    }

    async fn run_policy_loader(&self, lua: &str, _etag: &str) -> Result<(), ProcessError> {
        let mut s = self.state();
        s.calls.push("policy-loader".into());
        if s.fail_policy_loader {
            return Err(ProcessError::PolicyLoader { code: "1".into(), output: "error: refused by the fake".into() });
        }
        s.rules = Some(lua.to_owned());
        Ok(())
    }

    async fn start_gc(&self, argv: &[String], _etag: &str) -> Result<(), ControllerError> {
        let mut s = self.state();
        s.calls.push("start-gc".into());
        s.gc = Some(argv.to_vec());
        Ok(())
    }

    async fn stop_gc(&self) -> Result<(), ControllerError> {
        let mut s = self.state();
        s.calls.push("stop-gc".into());
        s.gc = None;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Child>, ControllerError> {
        let s = self.state();
        let workers = s.workers.iter().map(|(&i, w)| Child {
            role: Role::Worker(i),
            pid: w.pid,
            state: ChildState::Up,
            etag: w.etag.clone(),
        });
        let gc = s.gc.iter().map(|_| Child { role: Role::Gc, pid: 999, state: ChildState::Up, etag: String::new() });
        Ok(workers.chain(gc).collect())
    }

    async fn ready(&self, _status: &str) -> Result<(), ControllerError> {
        Ok(())
    }

    async fn notify(&self, _state: &str) -> Result<(), ControllerError> {
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ControllerError> {
        self.state().workers.clear();
        Ok(())
    }
}
