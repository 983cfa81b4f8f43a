//! Bringing the resolver's processes in line with a configuration: the policy-loader run, kresd workers and
//! the cache garbage collector. Used at start-up (cold start or adoption of running workers) and by the apply
//! pipeline.

use std::collections::BTreeMap;
use std::time::Duration;

use kres_datamodel::KresConfig;
use kres_datamodel::config::LogGroup;

pub use super::controller::ProcessError;
use super::controller::{Child, ChildState, Controller, Role};

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

/// A running kresd worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub instance: u32,
    pub pid: u32,
    /// ETag of the configuration it runs.
    pub etag: String,
    /// Its health-probe listener, when it has one (workers this manager started; not adopted ones).
    pub probe: Option<ProbeListener>,
}

/// A worker's own DNS listener on 127.0.0.1, where the health probes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeListener {
    pub port: u16,
    /// The process that listens: a worker the supervisor restarted by itself (a new PID) has no probe listener.
    pub pid: u32,
}

impl Worker {
    /// The port of its probe listener, if the process it was given to still runs.
    pub fn probe_port(&self) -> Option<u16> {
        self.probe.filter(|p| p.pid == self.pid).map(|p| p.port)
    }
}

/// The processes of one resolver instance, as the manager tracks them.
pub struct Processes<C> {
    pub controller: C,
    pub exe: Executables,
    /// Running workers by instance number (`SYSTEMD_INSTANCE`, `kresd<N>.conf`, `control/<N>`).
    pub workers: BTreeMap<u32, Worker>,
}

pub fn worker_id(instance: u32) -> String {
    format!("kresd{instance}")
}

pub(crate) fn parse_worker_id(id: &str) -> Option<u32> {
    id.strip_prefix("kresd")?.parse().ok()
}

pub const GC_ID: &str = "cache-gc";
pub const POLICY_LOADER_ID: &str = "policy-loader";

impl<C: Controller> Processes<C> {
    pub fn new(controller: C, exe: Executables) -> Self {
        Processes { controller, exe, workers: BTreeMap::new() }
    }

    /// Takes over the processes a previous manager left running. Returns every child process.
    pub async fn adopt(&mut self) -> Result<Vec<Child>, ProcessError> {
        let children = self.controller.list().await?;
        self.workers.clear();
        for c in &children {
            if let (Role::Worker(instance), ChildState::Up) = (&c.role, c.state) {
                let instance = *instance;
                self.workers.insert(instance, Worker { instance, pid: c.pid, etag: c.etag.clone(), probe: None });
            }
        }
        Ok(children)
    }

    /// Runs the policy-loader on `lua`, which builds the rules database (views, local data, forwarding).
    pub async fn run_policy_loader(&self, lua: &str, etag: &str) -> Result<(), ProcessError> {
        self.controller.run_policy_loader(lua, etag).await
    }

    /// The lowest instance number not used by a running worker.
    pub fn free_instance(&self) -> u32 {
        (0..).find(|i| !self.workers.contains_key(i)).unwrap_or(0)
    }

    /// The instance number for a canary before `count` new workers start: the lowest one that neither a running
    /// worker nor one of those new workers (the lowest free numbers, see [`Self::start_many`]) has. The supervisor's
    /// events about the canary (a restart after it crashed) reach the manager after the apply; with a number of its
    /// own they cannot be taken for a worker's.
    pub fn canary_instance(&self, count: usize) -> u32 {
        (0..).filter(|i| !self.workers.contains_key(i)).nth(count).unwrap_or(u32::MAX)
    }

    /// Starts worker N on `lua`, waiting for its `READY=1`, then gives it its probe listener.
    pub async fn start_worker(&mut self, instance: u32, lua: &str, etag: &str) -> Result<Worker, ProcessError> {
        let pid = self.controller.start_worker(instance, lua, etag).await?;
        let probe = self.controller.listen_probe(instance).await.map(|port| ProbeListener { port, pid });
        let worker = Worker { instance, pid, etag: etag.to_owned(), probe };
        self.workers.insert(instance, worker.clone());
        Ok(worker)
    }

    /// Starts a canary as worker N on `lua` (a canary's Lua: its only DNS listener is the probe listener on
    /// `probe_port`), waiting for its `READY=1`.
    pub async fn start_canary(
        &mut self,
        instance: u32,
        lua: &str,
        etag: &str,
        probe_port: u16,
    ) -> Result<Worker, ProcessError> {
        let pid = self.controller.start_worker(instance, lua, etag).await?;
        let probe = Some(ProbeListener { port: probe_port, pid });
        let worker = Worker { instance, pid, etag: etag.to_owned(), probe };
        self.workers.insert(instance, worker.clone());
        Ok(worker)
    }

    /// Stops worker N gracefully: first drains it (see [`Controller::drain_worker`]) so that no query already
    /// sent to it is lost, then SIGTERM.
    pub async fn stop_worker(&mut self, instance: u32) -> Result<(), ProcessError> {
        self.controller.drain_worker(instance).await;
        self.stop_worker_now(instance).await
    }

    /// Stops worker N (SIGTERM, SIGKILL after a timeout) without draining it.
    pub async fn stop_worker_now(&mut self, instance: u32) -> Result<(), ProcessError> {
        self.controller.stop_worker(instance).await?;
        self.workers.remove(&instance);
        Ok(())
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

    /// Starts `n` more workers on `lua` at once (lowest free instance numbers), each waited for until READY=1 and
    /// then given its probe listener. Returns the instances that started and the first error, if any (the others
    /// keep running).
    pub async fn start_many(&mut self, n: usize, lua: &str, etag: &str) -> (Vec<u32>, Option<ProcessError>) {
        let instances: Vec<u32> = (0..).filter(|i| !self.workers.contains_key(i)).take(n).collect();
        let controller = &self.controller;
        let starts = instances.iter().map(|&i| async move {
            let pid = controller.start_worker(i, lua, etag).await?;
            let probe = controller.listen_probe(i).await.map(|port| ProbeListener { port, pid });
            Ok::<_, ProcessError>((pid, probe))
        });
        let results = futures_util::future::join_all(starts).await;
        let mut started = Vec::with_capacity(n);
        let mut first_error = None;
        for (instance, result) in instances.into_iter().zip(results) {
            match result {
                Ok((pid, probe)) => {
                    self.workers.insert(instance, Worker { instance, pid, etag: etag.to_owned(), probe });
                    started.push(instance);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        (started, first_error)
    }

    /// Drains the given workers at once, then stops them.
    pub async fn stop_many(&mut self, instances: &[u32]) {
        let drains = instances.iter().map(|&i| self.controller.drain_worker(i));
        futures_util::future::join_all(drains).await;
        for &i in instances {
            if let Err(e) = self.stop_worker_now(i).await {
                tracing::warn!("cannot stop worker {i}: {e}");
            }
        }
    }

    /// Starts or stops the cache garbage collector to match `/cache/garbage-collector/enable`; `argv` is its
    /// command line ([`gc_argv`]).
    pub async fn ensure_gc(&self, enabled: bool, argv: &[String], etag: &str) -> Result<(), ProcessError> {
        let children = self.controller.list().await?;
        let running = children.iter().any(|c| c.role == Role::Gc && c.state != ChildState::Fatal);
        if enabled && !running {
            self.controller.start_gc(argv, etag).await?;
        } else if !enabled && running {
            self.controller.stop_gc().await?;
        }
        Ok(())
    }

    /// PID of the cache garbage collector, when it runs.
    pub async fn gc_pid(&self) -> Option<u32> {
        let children = self.controller.list().await.ok()?;
        children.iter().find(|c| c.role == Role::Gc && c.pid != 0).map(|c| c.pid)
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
