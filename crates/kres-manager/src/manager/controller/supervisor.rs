//! [`Controller`] over our supervisor process: [`SupervisorClient`] speaks the supervisor protocol
//! (`crate::protocol`, JSON lines over `supervisor.sock`); [`Supervised`] turns the manager's requests into spawn
//! specifications (argv, environment, readiness, restart policy) and writes the configuration files the processes
//! read into the rundir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Child, ChildState, Controller, ControllerError, Probe, ProcessError, Role, tail_text};
use crate::manager::kresd::{self, Command, ControlError};
use crate::manager::processes::{
    Executables, GC_ID, POLICY_LOADER_ID, POLICY_LOADER_TIMEOUT, STOP_TIMEOUT, WORKER_MAX_RETRIES, parse_worker_id,
    worker_id, worker_ready_timeout,
};
use crate::protocol::{
    Event, ProcInfo, ProcKind, ProcStatus, Reply, Request, RequestLine, Restart, SpawnSpec, SupervisorLine, WaitFor,
};

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
            other => Err(ControllerError::Unexpected(format!("{other:?}"))),
        }
    }

    /// A sign of life for the supervisor (it feeds systemd's watchdog only while these come).
    pub async fn ping(&self) -> Result<(), ControllerError> {
        self.call_ok(Request::Ping).await
    }
}

impl SupervisorClient {
    /// Starts a process; answers according to `spec.wait`.
    pub async fn spawn(&self, spec: SpawnSpec) -> Result<Reply, ControllerError> {
        self.call(Request::Spawn { spec }).await
    }

    /// Stops a process (SIGTERM, SIGKILL after `timeout`).
    pub async fn stop(&self, id: &str, timeout: Duration) -> Result<(), ControllerError> {
        self.call_ok(Request::Stop { id: id.to_owned(), timeout_ms: timeout.as_millis() as u64 }).await
    }

    /// Every supervised process.
    pub async fn list(&self) -> Result<Vec<ProcInfo>, ControllerError> {
        match self.call(Request::List).await? {
            Reply::List { procs } => Ok(procs),
            other => Err(ControllerError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// The resolver's processes run by our supervisor, with their configuration files in `rundir`.
#[derive(Clone)]
pub struct Supervised {
    pub client: SupervisorClient,
    pub exe: Executables,
    pub rundir: PathBuf,
}

impl Supervised {
    fn write(&self, name: &str, text: &str) -> Result<(), ProcessError> {
        let path = self.rundir.join(name);
        std::fs::write(&path, text).map_err(|source| ProcessError::Write { path: path.display().to_string(), source })
    }
}

fn worker_conf(instance: u32) -> String {
    format!("kresd{instance}.conf")
}

impl Controller for Supervised {
    async fn start_worker(&self, instance: u32, lua: &str, etag: &str) -> Result<u32, ProcessError> {
        let conf = worker_conf(instance);
        self.write(&conf, lua)?;
        let spec = SpawnSpec {
            id: worker_id(instance),
            kind: ProcKind::Kresd,
            argv: vec![self.exe.kresd.clone(), "-c".into(), conf.clone(), "-n".into()],
            env: vec![("SYSTEMD_INSTANCE".into(), instance.to_string())],
            notify: true,
            wait: WaitFor::Ready { timeout_ms: worker_ready_timeout().as_millis() as u64 },
            restart: Restart::OnFailure { max_retries: WORKER_MAX_RETRIES },
            cleanup: vec![kresd::control_socket_relative(instance)],
            etag: etag.to_owned(),
        };
        let error = match self.client.spawn(spec).await {
            Ok(Reply::Proc { info }) => return Ok(info.pid),
            Ok(other) => ControllerError::Unexpected(format!("{other:?}")).into(),
            Err(e) => ProcessError::Process {
                what: format!("kresd worker {instance}"),
                message: e.to_string(),
                output: tail_text(e.output_tail()),
            },
        };
        let _ = std::fs::remove_file(self.rundir.join(&conf));
        Err(error)
    }

    async fn stop_worker(&self, instance: u32) -> Result<(), ProcessError> {
        self.client.stop(&worker_id(instance), STOP_TIMEOUT).await?;
        let _ = std::fs::remove_file(self.rundir.join(worker_conf(instance)));
        Ok(())
    }

    async fn drain_worker(&self, instance: u32) {
        kresd::drain(&self.rundir, instance).await;
    }

    async fn command(&self, instance: u32, command: &Command<'_>) -> Result<Value, ControlError> {
        kresd::run(&self.rundir, instance, command).await
    }

    async fn listen_probe(&self, instance: u32) -> Option<u16> {
        kresd::probe::listen(&kresd::control_socket(&self.rundir, instance)).await
    }

    async fn probe(&self, instance: u32, probe: &Probe<'_>) -> kresd::probe::ProbeOutcome {
        let socket = match probe.control_dir {
            Some(dir) => dir.join(instance.to_string()),
            None => kresd::control_socket(&self.rundir, instance),
        };
        kresd::probe::check(&socket, probe.port, probe.name).await
    }

    async fn run_policy_loader(&self, lua: &str, etag: &str) -> Result<(), ProcessError> {
        self.write("policy-loader.conf", lua)?;
        let spec = SpawnSpec {
            id: POLICY_LOADER_ID.into(),
            kind: ProcKind::PolicyLoader,
            argv: vec![
                self.exe.kresd.clone(),
                "-c".into(),
                "policy-loader.conf".into(),
                "-c".into(),
                "-".into(),
                "-n".into(),
            ],
            env: vec![],
            notify: false,
            wait: WaitFor::Exit { timeout_ms: POLICY_LOADER_TIMEOUT.as_millis() as u64 },
            restart: Restart::Never,
            cleanup: vec![],
            etag: etag.to_owned(),
        };
        let result = self.client.spawn(spec).await;
        let _ = std::fs::remove_file(self.rundir.join("policy-loader.conf"));
        match result {
            Ok(Reply::Exited { code: Some(0), .. }) => Ok(()),
            Ok(Reply::Exited { code, output_tail, .. }) => Err(ProcessError::PolicyLoader {
                code: code.map_or_else(|| "killed by a signal".into(), |c| c.to_string()),
                output: output_tail.join("\n"),
            }),
            Ok(other) => Err(ControllerError::Unexpected(format!("{other:?}")).into()),
            Err(e) => Err(ProcessError::Process {
                what: "policy-loader".into(),
                message: e.to_string(),
                output: tail_text(e.output_tail()),
            }),
        }
    }

    async fn start_gc(&self, argv: &[String], etag: &str) -> Result<(), ControllerError> {
        let spec = SpawnSpec {
            id: GC_ID.into(),
            kind: ProcKind::Gc,
            argv: argv.to_vec(),
            env: vec![],
            notify: false,
            wait: WaitFor::Started,
            restart: Restart::OnFailure { max_retries: WORKER_MAX_RETRIES },
            cleanup: vec![],
            etag: etag.to_owned(),
        };
        self.client.spawn(spec).await.map(|_| ())
    }

    async fn stop_gc(&self) -> Result<(), ControllerError> {
        self.client.stop(GC_ID, STOP_TIMEOUT).await
    }

    async fn list(&self) -> Result<Vec<Child>, ControllerError> {
        Ok(self.client.list().await?.into_iter().map(child).collect())
    }

    async fn ready(&self, status: &str) -> Result<(), ControllerError> {
        self.client.call_ok(Request::Ready { status: status.to_owned() }).await
    }

    async fn notify(&self, state: &str) -> Result<(), ControllerError> {
        self.client.call_ok(Request::Notify { state: state.to_owned() }).await
    }

    async fn shutdown(&self) -> Result<(), ControllerError> {
        self.client.call_ok(Request::Shutdown).await
    }
}

/// The manager's view of a supervised process.
pub(crate) fn child(p: ProcInfo) -> Child {
    let role = match (p.kind, parse_worker_id(&p.id)) {
        (ProcKind::Kresd, Some(instance)) => Role::Worker(instance),
        (ProcKind::PolicyLoader, _) => Role::PolicyLoader,
        (ProcKind::Gc, _) if p.id == GC_ID => Role::Gc,
        _ => Role::Other(p.id.clone()),
    };
    let state = match p.status {
        ProcStatus::Running | ProcStatus::Starting | ProcStatus::Backoff => ChildState::Up,
        ProcStatus::Exited => ChildState::Exited,
        ProcStatus::Fatal => ChildState::Fatal,
    };
    Child { role, pid: p.pid, state, etag: p.etag }
}
