//! File watchers (reference-manager.md §7.1): TLS certificate files and RPZ files are reloaded when another
//! program rewrites them while the resolver runs.
//!
//! * What: the TLS cert and key when `/network/tls/watchdog` is on and both are set; every
//!   `/local-data/rpz[*]/file` with `watchdog` on. The set follows the configuration in force: the task
//!   subscribes to the manager's snapshots and rebuilds the watcher whenever the set changes.
//! * How: the **parent directories** are watched (inotify through `notify`, non-recursive), never the files
//!   themselves, so every way of replacing a file is seen: in-place writes, rename-over (`mv tmp cert.pem`: the
//!   event carries the new name as its destination, which the reference misses), delete-and-recreate, and a
//!   re-pointed symbolic link. An event is only a wake-up: what changed is decided by comparing each file's
//!   [`Fingerprint`](targets::Fingerprint) (device, inode, size, times, following links) with the one last acted
//!   on, so reads (kresd opening the file it was told to load) and unrelated files in the same directory cause
//!   nothing, and so does a file whose name is swapped through a link in the same directory (Kubernetes secrets).
//! * Debounce: an action runs after [`DEBOUNCE`] (1 s) without events, or at the latest [`MAX_DELAY`] after the
//!   first one. The reference waits 5 s; 1 s is enough to let `cp`/`openssl`/`certbot` finish writing a file
//!   (and usually its partner: certificate and key) and still reacts promptly. A certificate and key written
//!   more than a second apart cost one refused reload (mismatched pair, logged) and one that works.
//! * A missing file (deleted, or renamed away) is waited for: nothing is sent to kresd, a warning is logged once,
//!   and the files are polled every [`MISSING_POLL`] until they are back (the directory watch may be gone with a
//!   deleted directory); the file's return triggers the reload.
//! * TLS change: "TLS cert files reload triggered", then `net.tls('<cert>', '<key>')` in every worker over the
//!   control sockets. kresd keeps the certificate it has when it cannot load the new files (a broken or
//!   mismatched certificate, a missing file: verified with kresd 6.5): each refusing worker is logged as an
//!   error, DoT keeps being served with the old certificate. Unlike the reference, no renew follows (it would only
//!   send the same `net.tls` again).
//! * RPZ change: a renew ([`ManagerHandle::renew`]): the policy-loader re-reads every RPZ file and the workers
//!   reset their rules; "Renewing configuration has finished" on success. A broken file makes the policy-loader
//!   fail, the renew is refused and logged, and the rules loaded before keep serving.

mod targets;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::manager::handle::{ApplyError, ManagerHandle};
use crate::manager::kresd::{self, ControlError};
pub use targets::{Fingerprint, Target, directories, targets};

/// Quiet time after the last event before acting.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// The longest an action waits while events keep coming (a busy directory).
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// How often missing files (and directories that could not be watched) are looked for.
pub const MISSING_POLL: Duration = Duration::from_secs(2);

/// The running watcher task; it ends when the manager's shutdown token is cancelled (or [`WatchTask::stop`]), or
/// when the manager's snapshots end.
pub struct WatchTask {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl WatchTask {
    /// Cancels the task (if the shutdown token has not) and waits for it to end.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts the file watchers for the configuration in force and every later one, until `shutdown` is cancelled.
pub fn spawn(handle: ManagerHandle, shutdown: CancellationToken) -> WatchTask {
    let stop = shutdown.child_token();
    let until = stop.clone();
    WatchTask { task: tokio::spawn(async move { until.run_until_cancelled(run(handle)).await.unwrap_or(()) }), stop }
}

async fn run(handle: ManagerHandle) {
    let mut snapshots = handle.subscribe();
    let mut current = targets(&snapshots.borrow_and_update().config);
    let mut watcher = Watcher::new(current.clone());
    // (first event, when to act) of the events not acted on yet.
    let mut pending: Option<(Instant, Instant)> = None;
    loop {
        let wake = watcher.wake.clone();
        let due = pending.map_or_else(|| Instant::now() + MAX_DELAY, |(_, due)| due);
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                let new = targets(&snapshots.borrow_and_update().config);
                if new != current {
                    current = new;
                    watcher = Watcher::new(current.clone());
                    pending = None;
                }
            }
            () = wake.notified() => {
                let now = Instant::now();
                let first = pending.map_or(now, |(first, _)| first);
                pending = Some((first, (now + DEBOUNCE).min(first + MAX_DELAY)));
            }
            () = tokio::time::sleep_until(due), if pending.is_some() => {
                pending = None;
                watcher.check(&handle).await;
            }
            () = tokio::time::sleep(MISSING_POLL), if watcher.incomplete() => watcher.check(&handle).await,
        }
    }
}

/// A target and the fingerprints of its files when it was last acted on (or watched first).
struct Watched {
    target: Target,
    seen: Vec<Option<Fingerprint>>,
}

impl Watched {
    fn complete(&self) -> bool {
        self.seen.iter().all(Option::is_some)
    }
}

/// The inotify watches for one set of targets.
struct Watcher {
    watched: Vec<Watched>,
    /// Directories watched now.
    dirs: BTreeSet<PathBuf>,
    /// Directories that should be watched but could not be (missing).
    unwatched: BTreeSet<PathBuf>,
    inner: Option<notify::RecommendedWatcher>,
    /// Signalled by the notify thread on every relevant event.
    wake: Arc<Notify>,
}

impl Watcher {
    fn new(targets: Vec<Target>) -> Watcher {
        let watched: Vec<Watched> = targets
            .into_iter()
            .map(|target| {
                let seen = targets::fingerprints(&target);
                Watched { target, seen }
            })
            .collect();
        let mut w = Watcher {
            watched,
            dirs: BTreeSet::new(),
            unwatched: BTreeSet::new(),
            inner: None,
            wake: Arc::new(Notify::new()),
        };
        if !w.watched.is_empty() {
            let list: Vec<String> = w.watched.iter().map(|w| describe(&w.target)).collect();
            tracing::info!("watching for changes: {}", list.join("; "));
        }
        w.watch();
        for w in w.watched.iter().filter(|w| !w.complete()) {
            tracing::warn!("{}: {}; waiting for it to appear", describe(&w.target), missing(&w.target));
        }
        w
    }

    /// (Re)creates the inotify watches on the directories the targets need now.
    fn watch(&mut self) {
        let targets: Vec<Target> = self.watched.iter().map(|w| w.target.clone()).collect();
        let wanted = directories(&targets);
        self.inner = None;
        self.dirs.clear();
        self.unwatched.clear();
        if wanted.is_empty() {
            return;
        }
        let wake = self.wake.clone();
        let mut inner = match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            match event {
                Ok(event) if ignored(&event) => return,
                Ok(event) => tracing::trace!("file event {:?} on {:?}", event.kind, event.paths),
                Err(e) => tracing::warn!("file watcher error: {e}"),
            }
            wake.notify_one();
        }) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(
                    "cannot watch files for changes (TLS certificates and RPZ files are not reloaded): {e}"
                );
                self.unwatched = wanted;
                return;
            }
        };
        for dir in wanted {
            match inner.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.dirs.insert(dir);
                }
                Err(e) => {
                    tracing::warn!("cannot watch the directory '{}' ({e}); looking for it again later", dir.display());
                    self.unwatched.insert(dir);
                }
            }
        }
        self.inner = Some(inner);
    }

    /// Whether some file is missing or some directory unwatched (then it is polled).
    fn incomplete(&self) -> bool {
        !self.unwatched.is_empty() || self.watched.iter().any(|w| !w.complete())
    }

    /// Compares fingerprints and reloads what changed.
    async fn check(&mut self, handle: &ManagerHandle) {
        let targets: Vec<Target> = self.watched.iter().map(|w| w.target.clone()).collect();
        let wanted = directories(&targets);
        let mut changed = Vec::new();
        let mut reappeared = false;
        for w in &mut self.watched {
            let now = targets::fingerprints(&w.target);
            if now == w.seen {
                continue;
            }
            let was_complete = w.complete();
            // The reference's lines for what its watchdog saw.
            for ((file, before), after) in w.target.files().into_iter().zip(&w.seen).zip(&now) {
                match (before, after) {
                    (None, Some(_)) => tracing::info!("Watched file '{}' has been created", file.display()),
                    (Some(_), None) => tracing::warn!("Watched file '{}' has been deleted", file.display()),
                    (Some(b), Some(a)) if a != b => {
                        tracing::info!("Watched file '{}' has been modified", file.display())
                    }
                    _ => {}
                }
            }
            w.seen = now;
            if !w.complete() {
                if was_complete {
                    tracing::warn!(
                        "{} changed, but {}; waiting for it to come back (kresd keeps what it has loaded)",
                        describe(&w.target),
                        missing(&w.target)
                    );
                }
                continue;
            }
            reappeared |= !was_complete;
            changed.push(w.target.clone());
        }
        // A re-pointed link or a re-created directory needs other (or fresh) watches.
        if reappeared || wanted.iter().any(|d| !self.dirs.contains(d)) || self.dirs.iter().any(|d| !wanted.contains(d))
        {
            self.watch();
        }
        let mut rpz = Vec::new();
        for target in changed {
            match target {
                Target::Tls { cert, key } => reload_tls(handle, &cert, &key).await,
                Target::Rpz { file } => rpz.push(file),
            }
        }
        if !rpz.is_empty() {
            renew_rules(handle, &rpz).await;
        }
    }
}

/// Events that cannot change a file: opening and reading it (kresd loading the file it was told to load).
fn ignored(event: &notify::Event) -> bool {
    !event.need_rescan()
        && matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
}

fn describe(target: &Target) -> String {
    match target {
        Target::Tls { cert, key } => {
            format!("TLS certificate files '{}' and '{}'", cert.display(), key.display())
        }
        Target::Rpz { file } => format!("RPZ file '{}'", file.display()),
    }
}

/// "'a' is missing", "'a' and 'b' are missing".
fn missing(target: &Target) -> String {
    let names: Vec<String> = target
        .files()
        .into_iter()
        .filter(|f| Fingerprint::of(f).is_none())
        .map(|f| format!("'{}'", f.display()))
        .collect();
    match names.len() {
        0 => "a file is missing".into(),
        1 => format!("{} is missing", names[0]),
        _ => format!("{} are missing", names.join(" and ")),
    }
}

/// Sends the new certificate files to every worker.
async fn reload_tls(handle: &ManagerHandle, cert: &Path, key: &Path) {
    tracing::info!("TLS cert files reload triggered");
    let command = kresd::Command::TlsReload { cert, key };
    let results = handle.command_workers(&command).await;
    let mut failed = 0;
    for (worker, result) in &results {
        if let Err(e) = result {
            failed += 1;
            // kresd answers with a Lua traceback ending in e.g. "ERROR: Invalid argument"; its own log names
            // the GnuTLS error (GNUTLS_E_CERTIFICATE_KEY_MISMATCH, GNUTLS_E_FILE_ERROR, ...).
            let e = match e {
                ControlError::Lua(text) => {
                    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(text);
                    format!("kresd: {} (the worker's log has the details)", last.trim())
                }
                other => other.to_string(),
            };
            tracing::error!(
                "worker {} (PID {}) did not load the new TLS certificate files '{}' and '{}' and keeps serving the \
                 certificate it had: {e}",
                worker.instance,
                worker.pid,
                cert.display(),
                key.display()
            );
        }
    }
    if failed == 0 {
        tracing::info!("Sending '{}' command to reload watched files has finished", command.lua());
    } else {
        tracing::error!(
            "{failed} of {} worker(s) refused the new TLS certificate files; fix the files (a certificate and its \
             key must match), they are reloaded when they change again",
            results.len()
        );
    }
}

/// Re-runs the policy-loader (which reads the RPZ files) and resets the workers' rules.
async fn renew_rules(handle: &ManagerHandle, files: &[PathBuf]) {
    let names: Vec<String> = files.iter().map(|f| format!("'{}'", f.display())).collect();
    tracing::info!("RPZ file {} changed; renewing configuration", names.join(", "));
    let path = files.first().map(|f| f.display().to_string()).unwrap_or_default();
    match handle.renew(false, crate::manager::handle::Source::Watcher { path }, None).await {
        Ok(_) => tracing::info!("Renewing configuration has finished"),
        Err(ApplyError::ShuttingDown) => tracing::debug!("not renewing: the manager is shutting down"),
        Err(e) => tracing::error!(
            "Renewing configuration after the change of RPZ file {} failed; the rules loaded before keep serving: {e}",
            names.join(", ")
        ),
    }
}
