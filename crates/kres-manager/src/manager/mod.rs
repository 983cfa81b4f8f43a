//! The manager process: loads the configuration, brings up (or adopts) the resolver's processes through the
//! supervisor, and reacts to signals and process events. One task owns the running state.

mod apply;
pub mod controller;
pub mod fleet;
pub mod generations;
pub mod handle;
pub mod kresd;
pub mod plan;
pub mod processes;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use kres_datamodel::{ConfigError, KresConfig, SystemFacts};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::protocol::{ENV_MANAGER_PING_MS, ENV_SUPERVISOR_SOCKET, Event, ProcStatus};
use controller::{Controller, Supervised, SupervisorClient};
use processes::{Executables, Processes};

/// Exit code telling the supervisor not to restart the manager (e.g. the configuration is invalid).
pub const EXIT_FATAL: i32 = crate::protocol::MANAGER_EXIT_FATAL;

/// A loaded configuration: the raw document (what the API serves) and the validated model.
pub struct LoadedConfig {
    pub raw: serde_json::Value,
    pub config: KresConfig,
    /// ETag of `raw`.
    pub etag: String,
}

impl LoadedConfig {
    /// Validates a document that did not come straight from the files (a generation of the history, the fleet's
    /// layer merged over them) like [`load_config`] does: strict, relative paths resolved against the first file.
    pub fn from_raw(
        raw: serde_json::Value,
        files: &[PathBuf],
    ) -> Result<LoadedConfig, kres_datamodel::ValidationErrors> {
        let opts = kres_datamodel::ValidationOptions::new(
            true,
            kres_datamodel::resolve_root(files),
            SystemFacts::from_system(),
        );
        let config = kres_datamodel::validate(&kres_datamodel::node::Node::from_json(&raw), &opts)?;
        let etag = kres_datamodel::etag::etag(&raw);
        Ok(LoadedConfig { raw, config, etag })
    }
}

/// Reads and validates the configuration files (strict: paths must exist).
pub fn load_config(files: &[PathBuf]) -> Result<LoadedConfig, ConfigError> {
    let (raw, config) = kres_datamodel::load_files(files, true, SystemFacts::from_system())?;
    let raw = raw.to_json();
    let etag = kres_datamodel::etag::etag(&raw);
    Ok(LoadedConfig { raw, config, etag })
}

/// Runs the manager process; returns its exit code.
pub fn run(config_files: Vec<PathBuf>, startup: crate::logging::Startup) -> i32 {
    crate::logging::init("manager", startup);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return EXIT_FATAL;
        }
    };
    runtime.block_on(main_loop(config_files))
}

async fn main_loop(config_files: Vec<PathBuf>) -> i32 {
    let started = Instant::now();
    // Installed first, so a SIGHUP (or SIGTERM) during start-up waits for the main loop instead of killing the
    // process with the default action.
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return 1;
    };
    let loaded = match load_config(&config_files) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return EXIT_FATAL;
        }
    };
    let history = generations::open_history(&loaded.config.management);
    let (loaded, fleet_layer) = fleet::starting_config(loaded, &config_files);
    let loaded = generations::starting_config(loaded, history.as_ref(), &config_files);
    let started_at = std::time::SystemTime::now();
    crate::logging::apply(&loaded.config.logging);
    let Some(socket) = std::env::var_os(ENV_SUPERVISOR_SOCKET).map(PathBuf::from) else {
        tracing::error!("{ENV_SUPERVISOR_SOCKET} is not set: the manager process is started by the supervisor");
        return EXIT_FATAL;
    };
    let (client, mut events) = match SupervisorClient::connect(&socket).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot connect to the supervisor at '{}': {e}", socket.display());
            return 1;
        }
    };
    // One token carries shutdown to every task: the API server, the file watchers and Graphite. (The pings to the
    // supervisor go on until the process exits: the watchdog is fed during a graceful shutdown too.)
    let shutdown = CancellationToken::new();
    let _pings = spawn_pings(&client);
    let exe = Executables::from_env();
    let rundir = loaded.config.rundir.path().to_path_buf();
    let mut procs = Processes::new(Supervised { client: client.clone(), exe: exe.clone(), rundir }, exe);
    let adopted = match bring_up(&mut procs, &loaded).await {
        Ok(adopted) => adopted,
        Err(e) => {
            tracing::error!("{e}");
            return EXIT_FATAL;
        }
    };
    let current = match plan::Current::from_loaded(loaded, &procs.exe.cache_gc) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return EXIT_FATAL;
        }
    };
    let placeholder = handle::Snapshot {
        raw: Arc::new(current.raw.clone()),
        etag: current.etag.clone(),
        config: Arc::new(current.config.clone()),
        generation: 0,
        workers: vec![],
        gc_pid: None,
        metrics: handle::SelfMetrics::default(),
    };
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(placeholder));
    let (events_tx, _) = broadcast::channel(handle::EVENT_BACKLOG);
    // What the adopted processes run: the last configuration applied in full (rules and workers), by the history.
    let in_force = history.as_ref().and_then(|h| generations::lock(h).last_applied().map(|g| g.etag.clone()));
    let mut actor = apply::Actor::new(procs, current, config_files, snapshot_tx, events_tx.clone(), history);
    actor.fleet_layer = fleet_layer;
    generations::startup_generation(&mut actor, started_at, started.elapsed());
    actor.publish().await;
    if adopted {
        converge_adopted(&mut actor, in_force.as_deref()).await;
    }
    let (commands_tx, mut commands) = mpsc::channel(64);
    let handle = handle::ManagerHandle::new(commands_tx, snapshot_rx, events_tx, actor.history.clone());
    // The API is up before readiness is reported, so `kresctl` works as soon as the service is started.
    let server = match crate::server::start(handle.clone(), &actor.current.config.management, shutdown.clone()).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("{e}; stopping the resolver");
            let _ = actor.procs.controller.shutdown().await;
            return EXIT_FATAL;
        }
    };
    let pids: Vec<String> = actor.procs.workers.values().map(|w| w.pid.to_string()).collect();
    tracing::info!(
        "Manager fully initialized and running in {:.3} seconds (worker PIDs: {})",
        started.elapsed().as_secs_f64(),
        pids.join(", ")
    );
    if let Err(e) = actor.procs.controller.ready("Ready").await {
        tracing::warn!("cannot report readiness: {e}");
    }
    let watcher = crate::watch::spawn(handle.clone(), shutdown.clone());
    let graphite = crate::graphite::spawn(handle.clone(), shutdown.clone());
    let fleet = crate::fleet::spawn(handle.clone(), &actor.current.config.fleet, shutdown.clone());

    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => {
                    let keep = actor.handle(command).await;
                    // A refused change still counts (canary failures): publish the manager's metrics.
                    if actor.metrics != actor.snapshot.borrow().metrics {
                        actor.publish().await;
                    }
                    if !keep { break }
                }
                None => break,
            },
            event = events.recv() => match event {
                Some(event) => {
                    if let Some(kind) = on_event(&mut actor.procs, event) {
                        actor.emit(kind);
                    }
                    actor.publish().await;
                }
                None => {
                    tracing::warn!("the supervisor closed the connection; exiting");
                    return 1;
                }
            },
            _ = hup.recv() => {
                reload_on_hangup(&mut actor).await;
                if actor.metrics != actor.snapshot.borrow().metrics {
                    actor.publish().await;
                }
            }
            _ = term.recv() => {
                tracing::info!("Received SIGTERM, triggering graceful shutdown");
                break;
            }
            _ = int.recv() => {
                tracing::info!("Received SIGINT, triggering graceful shutdown");
                break;
            }
        }
    }
    tracing::info!("Stopping API service...");
    shutdown.cancel();
    watcher.stop().await;
    graphite.stop().await;
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    server.stop().await;
    tracing::info!("Stopping kresd manager...");
    let _ = actor.procs.controller.shutdown().await;
    tracing::info!("The manager ran for {} seconds...", started.elapsed().as_secs_f64().round());
    0
}

/// Adopted processes that do not run the configuration in force (the previous manager died during or after an API
/// change, or half-way through a rolling restart): a forced renew brings the workers, and the rules, in line with
/// it, so that what runs is what `GET /v1/config` serves. Drained like any rolling restart.
///
/// Workers carry the ETag they were started with, which a change of the rules alone does not update (it resets the
/// rules in the running workers); so `in_force`, the ETag of the last configuration the history says was applied,
/// also counts: when it is not the configuration starting now, the rules database holds that one's rules.
async fn converge_adopted<C: Controller>(actor: &mut apply::Actor<C>, in_force: Option<&str>) {
    let etag = &actor.current.etag;
    let stale = actor.procs.workers.values().filter(|w| &w.etag != etag).count();
    let count = actor.procs.workers.len();
    let rules_stale = in_force.is_some_and(|applied| applied != etag);
    if stale == 0 && count == actor.current.config.workers.count && !rules_stale {
        return;
    }
    if rules_stale && stale == 0 {
        tracing::warn!(
            "the adopted processes run the last applied configuration, not the one starting now; applying it"
        );
    } else {
        tracing::warn!("{stale} of {count} adopted worker(s) run another configuration; applying the configuration");
    }
    let source = handle::Source::Startup { files: actor.files.iter().map(|f| f.display().to_string()).collect() };
    let request = handle::ApplyRequest { force: true, ..handle::ApplyRequest::new(handle::Edit::Keep, source) };
    if let Err(e) = actor.apply(request).await {
        tracing::error!("cannot apply the configuration files to the adopted workers: {e}");
    }
    actor.publish().await;
}

/// SIGHUP: reload the configuration files, telling systemd (`Type=notify-reload`) `RELOADING=1` with the
/// `MONOTONIC_USEC` it requires before, and `READY=1` after, whatever the outcome (a failed reload leaves the
/// previous configuration in force; `STATUS=` says so).
async fn reload_on_hangup<C: Controller>(actor: &mut apply::Actor<C>) {
    tracing::info!("Received SIGHUP, reloading configuration file");
    let reloading = format!("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=Reloading the configuration...", monotonic_usec());
    if let Err(e) = actor.procs.controller.notify(&reloading).await {
        tracing::warn!("cannot report the reload: {e}");
    }
    let (tx, rx) = oneshot::channel();
    actor
        .handle(handle::Command::Reload { force: false, source: handle::Source::Sighup, client: None, reply: tx })
        .await;
    let status = match rx.await {
        Ok(Ok(_)) => "Ready".to_owned(),
        _ => "Ready; the last reload failed, the previous configuration is in force (see the log)".to_owned(),
    };
    if let Err(e) = actor.procs.controller.notify(&format!("READY=1\nSTATUS={status}")).await {
        tracing::warn!("cannot report the end of the reload: {e}");
    }
}

/// `CLOCK_MONOTONIC` in microseconds (what systemd compares `MONOTONIC_USEC` with).
fn monotonic_usec() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

/// Sends `ping` to the supervisor every `$KRES_MANAGER_PING_MS` milliseconds (set by the supervisor when systemd's
/// watchdog is on). The pings come from their own task: they show that the manager's runtime is responsive, not
/// that a long configuration change (a big RPZ, minutes) has finished.
fn spawn_pings(client: &SupervisorClient) -> Option<tokio::task::JoinHandle<()>> {
    let ms = std::env::var(ENV_MANAGER_PING_MS).ok()?.parse::<u64>().ok().filter(|ms| *ms > 0)?;
    let client = client.clone();
    Some(tokio::spawn(pings(client, ms)))
}

async fn pings(client: SupervisorClient, ms: u64) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(ms));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e @ controller::ControllerError::Disconnected(_)) = client.ping().await {
            tracing::debug!("stopping the pings: {e}");
            return;
        }
    }
}

/// Starts the resolver's processes, or adopts the ones a previous manager left running.
/// Returns whether the processes were adopted (true) or started (false).
async fn bring_up<C: Controller>(
    procs: &mut Processes<C>,
    loaded: &LoadedConfig,
) -> Result<bool, processes::ProcessError> {
    let config = &loaded.config;
    let (gc, gc_argv) = (config.cache.garbage_collector.enable, processes::gc_argv(&procs.exe.cache_gc, config));
    let existing = procs.adopt().await?;
    if !procs.workers.is_empty() {
        let pids: Vec<String> = procs.workers.values().map(|w| format!("{} (PID {})", w.instance, w.pid)).collect();
        tracing::info!("adopting running workers: {}", pids.join(", "));
        let stale = procs.workers.values().filter(|w| w.etag != loaded.etag).count();
        if stale > 0 {
            tracing::warn!(
                "{stale} adopted worker(s) run an older configuration than the configuration files; applying them"
            );
        }
        if existing.iter().any(|c| c.state == controller::ChildState::Fatal) {
            tracing::warn!("some processes are FATAL; see the supervisor's log");
        }
        procs.ensure_gc(gc, &gc_argv, &loaded.etag).await?;
        return Ok(true);
    }
    kresd::remove_stale_control_sockets(config.rundir.path());
    let render = |target| {
        kres_datamodel::lua::render(config, target).map_err(|e| processes::ProcessError::Render(e.to_string()))
    };
    procs.run_policy_loader(&render(kres_datamodel::lua::RenderTarget::PolicyLoader)?, &loaded.etag).await?;
    let lua = render(kres_datamodel::lua::RenderTarget::Worker)?;
    procs.scale_workers(config.workers.count, &lua, &loaded.etag).await?;
    procs.ensure_gc(gc, &gc_argv, &loaded.etag).await?;
    // The reference's lines after its initial apply.
    tracing::info!("Config applied successfully to all workers");
    tracing::info!("Initial configuration applied. Process manager initialized...");
    Ok(false)
}

/// Reacts to a supervisor event; returns the event to publish on `GET /v1/events`, if any.
fn on_event<C>(procs: &mut Processes<C>, event: Event) -> Option<handle::EventKind> {
    // `Started` is the supervisor's own restart of a process; `Ready` follows it (published once, at the start).
    let restarted = matches!(event, Event::Started { .. });
    match event {
        Event::Exited { info, output_tail } => {
            let status = match (info.status, &info.last_exit) {
                (ProcStatus::Fatal, Some(exit)) => format!("{exit}; FATAL, not restarted"),
                (ProcStatus::Fatal, None) => "FATAL, not restarted".to_owned(),
                (_, Some(exit)) => format!("{exit}; restarting"),
                (_, None) => "restarting".to_owned(),
            };
            let published = handle::EventKind::ProcessExited { id: info.id.clone(), pid: info.pid, status };
            if info.status == ProcStatus::Fatal {
                tracing::error!(
                    "{} (PID {}) failed repeatedly and is FATAL; the resolver runs with fewer processes than configured. Last output:\n{}",
                    info.id,
                    info.pid,
                    output_tail.join("\n")
                );
                if let Some(instance) = info.id.strip_prefix("kresd").and_then(|n| n.parse::<u32>().ok()) {
                    procs.workers.remove(&instance);
                }
            } else {
                tracing::warn!(
                    "{} exited unexpectedly ({}); restarting it",
                    info.id,
                    info.last_exit.unwrap_or_default()
                );
            }
            Some(published)
        }
        Event::Started { info } | Event::Ready { info } => {
            if let Some(instance) = info.id.strip_prefix("kresd").and_then(|n| n.parse::<u32>().ok())
                && let Some(w) = procs.workers.get_mut(&instance)
            {
                w.pid = info.pid;
            }
            tracing::debug!("{} running as PID {}", info.id, info.pid);
            restarted.then_some(handle::EventKind::ProcessStarted { id: info.id, pid: info.pid })
        }
        Event::ShuttingDown => {
            tracing::info!("the supervisor is shutting down");
            None
        }
    }
}
