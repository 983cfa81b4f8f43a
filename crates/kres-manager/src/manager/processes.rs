//! Bringing the resolver's processes in line with a configuration: the policy-loader run, kresd workers and
//! the cache garbage collector. Used at start-up (cold start or adoption of running workers) and by the apply
//! pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kres_datamodel::KresConfig;
use kres_datamodel::config::LogGroup;

use super::controller::{Controller, ControllerError};
use crate::protocol::{ProcInfo, ProcKind, ProcStatus, Reply, Restart, SpawnSpec, WaitFor};

/// How long a kresd may take to send `READY=1` by default (the reference's supervisord `startsecs`).
pub const WORKER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The readiness timeout: [`WORKER_READY_TIMEOUT`], or `$KRES_WORKER_READY_TIMEOUT` seconds when set.
pub fn worker_ready_timeout() -> Duration {
    std::env::var("KRES_WORKER_READY_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(WORKER_READY_TIMEOUT, Duration::from_secs_f64)
}
/// How long the policy-loader may run (large RPZ files take a while).
pub const POLICY_LOADER_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a stopping process gets before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Crashes within a minute after which a worker is given up (FATAL).
pub const WORKER_MAX_RETRIES: u32 = 5;

/// The programs the manager runs (the packaged paths, overridable for tests and unusual installs).
#[derive(Debug, Clone)]
pub struct Executables {
    pub kresd: String,
    pub cache_gc: String,
}

impl Executables {
    /// `/usr/sbin/kresd` and `/usr/sbin/kres-cache-gc`, or `$KRES_KRESD_EXECUTABLE` /
    /// `$KRES_CACHE_GC_EXECUTABLE` when set.
    pub fn from_env() -> Self {
        Executables {
            kresd: std::env::var("KRES_KRESD_EXECUTABLE").unwrap_or_else(|_| "/usr/sbin/kresd".into()),
            cache_gc: std::env::var("KRES_CACHE_GC_EXECUTABLE").unwrap_or_else(|_| "/usr/sbin/kres-cache-gc".into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot render the Lua configuration: {0}")]
    Render(String),
    #[error("cannot write '{path}': {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the policy-loader failed (exit code {code}); the configuration may be invalid:\n{output}")]
    PolicyLoader { code: String, output: String },
    #[error("{what}: {message}{output}")]
    Process { what: String, message: String, output: String },
    #[error(transparent)]
    Controller(#[from] ControllerError),
}

fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!("\n{}", lines.join("\n")) }
}

/// A running kresd worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub instance: u32,
    pub pid: u32,
    /// ETag of the configuration it runs.
    pub etag: String,
}

/// The processes of one resolver instance, as the manager tracks them.
pub struct Processes<C> {
    pub controller: C,
    pub exe: Executables,
    pub rundir: PathBuf,
    /// Running workers by instance number (`SYSTEMD_INSTANCE`, `kresd<N>.conf`, `control/<N>`).
    pub workers: BTreeMap<u32, Worker>,
}

pub fn worker_id(instance: u32) -> String {
    format!("kresd{instance}")
}

fn parse_worker_id(id: &str) -> Option<u32> {
    id.strip_prefix("kresd")?.parse().ok()
}

pub const GC_ID: &str = "cache-gc";
pub const POLICY_LOADER_ID: &str = "policy-loader";

impl<C: Controller> Processes<C> {
    pub fn new(controller: C, exe: Executables, rundir: PathBuf) -> Self {
        Processes { controller, exe, rundir, workers: BTreeMap::new() }
    }

    fn write(&self, name: &str, text: &str) -> Result<(), ProcessError> {
        let path = self.rundir.join(name);
        std::fs::write(&path, text).map_err(|source| ProcessError::Write { path: path.display().to_string(), source })
    }

    /// Takes over the processes a previous manager left running. Returns the adopted workers.
    pub async fn adopt(&mut self) -> Result<Vec<ProcInfo>, ProcessError> {
        let procs = self.controller.list().await?;
        self.workers.clear();
        for p in &procs {
            if p.kind == ProcKind::Kresd
                && matches!(p.status, ProcStatus::Running | ProcStatus::Starting | ProcStatus::Backoff)
                && let Some(instance) = parse_worker_id(&p.id)
            {
                self.workers.insert(instance, Worker { instance, pid: p.pid, etag: p.etag.clone() });
            }
        }
        Ok(procs)
    }

    /// Renders and runs the policy-loader, which builds the rules database (views, local data, forwarding).
    pub async fn run_policy_loader(&self, config: &KresConfig, etag: &str) -> Result<(), ProcessError> {
        let lua = kres_datamodel::lua::render_policy_loader(config).map_err(|e| ProcessError::Render(e.to_string()))?;
        self.write("policy-loader.conf", &lua)?;
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
        let result = self.controller.spawn(spec).await;
        let _ = std::fs::remove_file(self.rundir.join("policy-loader.conf"));
        match result {
            Ok(Reply::Exited { code: Some(0), .. }) => Ok(()),
            Ok(Reply::Exited { code, output_tail, .. }) => Err(ProcessError::PolicyLoader {
                code: code.map_or_else(|| "killed by a signal".into(), |c| c.to_string()),
                output: output_tail.join("\n"),
            }),
            Ok(other) => Err(ControllerError::Unexpected(Box::new(other)).into()),
            Err(e) => Err(ProcessError::Process {
                what: "policy-loader".into(),
                message: e.to_string(),
                output: tail_text(e.output_tail()),
            }),
        }
    }

    /// The lowest instance number not used by a running worker.
    pub fn free_instance(&self) -> u32 {
        (0..).find(|i| !self.workers.contains_key(i)).unwrap_or(0)
    }

    /// Writes `kresd<N>.conf` and starts worker N, waiting for its `READY=1`.
    pub async fn start_worker(&mut self, instance: u32, lua: &str, etag: &str) -> Result<Worker, ProcessError> {
        let conf = format!("kresd{instance}.conf");
        self.write(&conf, lua)?;
        match self.spawn_spec_ready(instance, etag).await {
            Ok(pid) => {
                let worker = Worker { instance, pid, etag: etag.to_owned() };
                self.workers.insert(instance, worker.clone());
                Ok(worker)
            }
            Err(e) => {
                let _ = std::fs::remove_file(self.rundir.join(&conf));
                Err(e)
            }
        }
    }

    /// Stops worker N gracefully: first [`drain`](Self::drain) it so that no query already sent to it is lost,
    /// then SIGTERM; removes its config file.
    pub async fn stop_worker(&mut self, instance: u32) -> Result<(), ProcessError> {
        self.drain(instance).await;
        self.stop_worker_now(instance).await
    }

    /// Stops worker N (SIGTERM, SIGKILL after a timeout) without draining it; removes its config file.
    pub async fn stop_worker_now(&mut self, instance: u32) -> Result<(), ProcessError> {
        self.controller.stop(&worker_id(instance), STOP_TIMEOUT).await?;
        self.workers.remove(&instance);
        let _ = std::fs::remove_file(self.rundir.join(format!("kresd{instance}.conf")));
        Ok(())
    }

    /// Takes worker N out of the load balancing before it is stopped and waits until it has answered what it
    /// was sent (UDP, TCP, DoT, DoH), so that no query is lost: see [`super::kresd::drain`].
    pub async fn drain(&self, instance: u32) {
        super::kresd::drain(&self.rundir, instance).await;
    }

    /// Starts workers until `count` run (all at once), or stops the highest-numbered ones.
    pub async fn scale_workers(&mut self, count: usize, lua: &str, etag: &str) -> Result<(), ProcessError> {
        while self.workers.len() > count {
            let Some(&last) = self.workers.keys().next_back() else { break };
            self.stop_worker(last).await?;
        }
        let missing = count.saturating_sub(self.workers.len());
        let (_, error) = self.start_many(missing, lua, etag).await;
        error.map_or(Ok(()), Err)
    }

    /// Starts `n` more workers on `lua` at once (lowest free instance numbers), each waited for until READY=1.
    /// Returns the instances that started and the first error, if any (the others keep running).
    pub async fn start_many(&mut self, n: usize, lua: &str, etag: &str) -> (Vec<u32>, Option<ProcessError>) {
        let instances: Vec<u32> = (0..).filter(|i| !self.workers.contains_key(i)).take(n).collect();
        for i in &instances {
            if let Err(e) = self.write(&format!("kresd{i}.conf"), lua) {
                return (vec![], Some(e));
            }
        }
        let starts = instances.iter().map(|&i| self.spawn_spec_ready(i, etag));
        let results = super::join_all(starts.collect()).await;
        let mut started = Vec::with_capacity(n);
        let mut first_error = None;
        for (instance, result) in instances.into_iter().zip(results) {
            match result {
                Ok(pid) => {
                    self.workers.insert(instance, Worker { instance, pid, etag: etag.to_owned() });
                    started.push(instance);
                }
                Err(e) => {
                    let _ = std::fs::remove_file(self.rundir.join(format!("kresd{instance}.conf")));
                    first_error.get_or_insert(e);
                }
            }
        }
        (started, first_error)
    }

    /// Drains the given workers at once, then stops them (see [`Self::drain`]).
    pub async fn stop_many(&mut self, instances: &[u32]) {
        let drains = instances.iter().map(|&i| self.drain(i));
        super::join_all(drains.collect()).await;
        for &i in instances {
            if let Err(e) = self.stop_worker_now(i).await {
                tracing::warn!("cannot stop worker {i}: {e}");
            }
        }
    }

    async fn spawn_spec_ready(&self, instance: u32, etag: &str) -> Result<u32, ProcessError> {
        let spec = SpawnSpec {
            id: worker_id(instance),
            kind: ProcKind::Kresd,
            argv: vec![self.exe.kresd.clone(), "-c".into(), format!("kresd{instance}.conf"), "-n".into()],
            env: vec![("SYSTEMD_INSTANCE".into(), instance.to_string())],
            notify: true,
            wait: WaitFor::Ready { timeout_ms: worker_ready_timeout().as_millis() as u64 },
            restart: Restart::OnFailure { max_retries: WORKER_MAX_RETRIES },
            cleanup: vec![super::kresd::control_socket_relative(instance)],
            etag: etag.to_owned(),
        };
        match self.controller.spawn(spec).await {
            Ok(Reply::Proc { info }) => Ok(info.pid),
            Ok(other) => Err(ControllerError::Unexpected(Box::new(other)).into()),
            Err(e) => Err(ProcessError::Process {
                what: format!("kresd worker {instance}"),
                message: e.to_string(),
                output: tail_text(e.output_tail()),
            }),
        }
    }

    /// Starts or stops the cache garbage collector to match `/cache/garbage-collector/enable`.
    pub async fn ensure_gc(&self, config: &KresConfig, etag: &str) -> Result<(), ProcessError> {
        let running = self.controller.list().await?.iter().any(|p| p.id == GC_ID && p.status != ProcStatus::Fatal);
        let enabled = config.cache.garbage_collector.enable;
        if enabled && !running {
            let spec = SpawnSpec {
                id: GC_ID.into(),
                kind: ProcKind::Gc,
                argv: gc_argv(&self.exe.cache_gc, config),
                env: vec![],
                notify: false,
                wait: WaitFor::Started,
                restart: Restart::OnFailure { max_retries: WORKER_MAX_RETRIES },
                cleanup: vec![],
                etag: etag.to_owned(),
            };
            self.controller.spawn(spec).await?;
        } else if !enabled && running {
            self.controller.stop(GC_ID, STOP_TIMEOUT).await?;
        }
        Ok(())
    }
}

/// The kres-cache-gc command line for `/cache/garbage-collector` (reference-manager.md §5.2).
pub fn gc_argv(program: &str, config: &KresConfig) -> Vec<String> {
    let gc = &config.cache.garbage_collector;
    let mut argv = vec![program.to_owned(), "-c".into(), config.cache.storage.display()];
    if config.logging.debug_for(LogGroup::CacheGc) {
        argv.push("-v".into());
    }
    let flags: [(&str, u64); 8] = [
        ("-d", gc.interval.millis()),
        ("-u", gc.threshold.get() as u64),
        ("-f", gc.release.get() as u64),
        ("-l", gc.rw_deletes.get() as u64),
        ("-L", gc.rw_reads.get() as u64),
        ("-t", gc.temp_keys_space.mbytes()),
        ("-m", gc.rw_duration.micros()),
        ("-w", gc.rw_delay.micros()),
    ];
    for (flag, value) in flags {
        argv.push(flag.into());
        argv.push(value.to_string());
    }
    if gc.dry_run {
        argv.push("-n".into());
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_flags_match_the_reference() {
        let opts = kres_datamodel::ValidationOptions::lenient();
        let node = kres_datamodel::parse::parse_document("cache: {storage: /var/cache/kr}", "t").unwrap();
        let config = kres_datamodel::validate(&node, &opts).unwrap();
        assert_eq!(
            gc_argv("/usr/sbin/kres-cache-gc", &config).join(" "),
            "/usr/sbin/kres-cache-gc -c /var/cache/kr -d 1000 -u 80 -f 10 -l 100 -L 200 -t 0 -m 0 -w 0"
        );
    }
}
