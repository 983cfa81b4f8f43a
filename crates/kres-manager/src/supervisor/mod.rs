//! The supervisor: the first process of `knot-resolver`, what systemd sees, and the parent of every other process
//! (the manager, kresd workers, the policy-loader, the cache GC).
//!
//! It is kept small and rarely changing, because it is the one process that cannot be restarted without taking
//! the resolver down. It does what supervisord and its plugins did for the reference manager:
//! * locks the rundir with `knot-resolver.pid` (`pidfile`);
//! * starts the manager child and restarts it when it crashes (the workers keep running meanwhile);
//! * serves the manager's [`crate::protocol`] on `supervisor.sock` (`server`): spawns, stops, signals and lists
//!   children, answers when a child is ready or has exited, pushes events about unexpected exits;
//! * tracks readiness through its own `NOTIFY_SOCKET`, `supervisor-notify.sock` (`notify`): kresd sends
//!   `READY=1` and the kernel attaches its PID (`SCM_CREDENTIALS`);
//! * restarts crashed children with backoff, gives up (FATAL) after too many failures in a row;
//! * passes the manager's readiness and status on to systemd (`systemd`);
//! * shuts everything down in order on SIGTERM/SIGINT or when the manager asks.
//!
//! One task (the event loop, `event_loop`) owns all state; signals, socket readiness, process exits, timers and
//! the manager's requests reach it as messages or select branches, so there are no locks around the process table.
//! The runtime is tokio's current-thread one: the supervisor has exactly one thread.

mod event_loop;
mod notify;
mod pidfile;
mod process;
mod server;
mod systemd;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::{NOTIFY_SOCKET, SUPERVISOR_SOCKET};

pub use pidfile::PID_FILE;

/// How the supervisor is started.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// The rundir (absolute, already validated): the cwd of every child, where the sockets and the PID file live.
    pub rundir: PathBuf,
    /// Program and arguments that start the manager child.
    pub manager_argv: Vec<String>,
    /// Extra environment of the manager child (on top of the supervisor's environment).
    pub manager_env: Vec<(String, String)>,
    /// How long children get between SIGTERM and SIGKILL at shutdown.
    pub stop_timeout: Duration,
    /// How many manager crashes within a minute are tolerated; one more shuts everything down (exit code 1).
    pub manager_restart_limit: u32,
}

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Rundir already in use: {} (another manager runs there: PID {pid}, PID file {})", rundir.display(), path.display())]
    AlreadyRunning { rundir: PathBuf, pid: u32, path: PathBuf },
    #[error("{context}: {err}")]
    Io { context: String, err: io::Error },
    #[error("invalid supervisor options: {0}")]
    Options(String),
}

impl Error {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |err| Error::Io { context, err }
    }
}

/// Runs the supervisor until it shuts down; returns the process exit code (0 after a requested or signalled
/// shutdown, 1 when the manager failed fatally or kept crashing).
///
/// Builds its own current-thread tokio runtime. Fails before starting anything when the rundir is locked by
/// another live supervisor, or when the sockets cannot be bound or the manager cannot be started.
pub fn run(opts: SupervisorOptions) -> anyhow::Result<i32> {
    if opts.manager_argv.is_empty() {
        return Err(Error::Options("the manager command is empty".into()).into());
    }
    if !opts.rundir.is_absolute() {
        return Err(Error::Options(format!("the rundir '{}' is not absolute", opts.rundir.display())).into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("cannot start the async runtime"))?;
    let lock = pidfile::PidFile::acquire(&opts.rundir)?;
    let code = runtime.block_on(async move {
        let sockets = bind_sockets(&opts.rundir)?;
        event_loop::EventLoop::new(opts, sockets.listener, sockets.notify).run().await
    });
    remove_rundir_files(lock.rundir());
    drop(lock);
    Ok(code?)
}

struct Sockets {
    listener: tokio::net::UnixListener,
    notify: notify::NotifySocket,
}

fn bind_sockets(rundir: &Path) -> Result<Sockets, Error> {
    let listener = server::bind(&rundir.join(SUPERVISOR_SOCKET))?;
    let notify_path = rundir.join(NOTIFY_SOCKET);
    let notify = notify::NotifySocket::bind(&notify_path)
        .map_err(Error::io(format!("cannot bind the notify socket '{}'", notify_path.display())))?;
    Ok(Sockets { listener, notify })
}

/// Removes what the supervisor and the manager leave in the rundir: both sockets and the generated Lua
/// (`kresd*.conf`, `policy-loader.conf`). The PID file goes last, with its guard.
fn remove_rundir_files(rundir: &Path) {
    let mut paths = vec![rundir.join(SUPERVISOR_SOCKET), rundir.join(NOTIFY_SOCKET)];
    if let Ok(entries) = std::fs::read_dir(rundir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let generated = (name.starts_with("kresd") && name.ends_with(".conf")) || name == "policy-loader.conf";
            if generated && entry.file_type().is_ok_and(|t| t.is_file()) {
                paths.push(entry.path());
            }
        }
    }
    for path in paths {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!("removed {}", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
    }
}
