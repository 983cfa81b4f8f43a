//! systemd's watchdog (`WatchdogSec=`): `WATCHDOG=1` is sent only while the manager is connected and pings, and
//! no kresd worker is FATAL after failing on its own.

use std::time::Duration;

use tokio::time::Instant;

use super::{EventLoop, secs};
use crate::protocol::{ProcKind, ProcStatus};

/// systemd's watchdog (`WatchdogSec=`), fed only while the resolver is healthy.
#[derive(Debug)]
pub(super) struct Watchdog {
    /// How often `WATCHDOG=1` is sent (half of `WATCHDOG_USEC`); the manager must have sent a line within it.
    pub(super) period: Duration,
    /// When the connected manager last sent a line (or connected).
    pub(super) last_seen: Option<Instant>,
    /// Why the watchdog was not fed at the last tick (for logging changes only).
    pub(super) unhealthy: Option<String>,
}

impl EventLoop {
    /// The connected manager showed a sign of life.
    pub(super) fn manager_seen(&mut self) {
        if let Some(w) = &mut self.watchdog {
            w.last_seen = Some(Instant::now());
        }
    }

    /// Why systemd's watchdog must not be fed now, if it must not.
    fn unhealthy(&self, period: Duration) -> Option<String> {
        if !self.is_running() {
            return Some("shutting down".into());
        }
        if self.conn.is_none() {
            return Some("the manager is not connected".into());
        }
        let since = self.watchdog.as_ref().and_then(|w| w.last_seen).map(|t| t.elapsed());
        if since.is_none_or(|s| s > period) {
            return Some(format!("the manager has sent nothing for {}", secs(since.unwrap_or_default())));
        }
        let fatal: Vec<&str> = self
            .children
            .iter()
            .filter(|(_, c)| c.spec.kind == ProcKind::Kresd && c.status == ProcStatus::Fatal && c.gave_up)
            .map(|(id, _)| id.as_str())
            .collect();
        if !fatal.is_empty() {
            return Some(format!("{} {} FATAL", fatal.join(", "), if fatal.len() == 1 { "is" } else { "are" }));
        }
        None
    }

    pub(super) fn on_watchdog_tick(&mut self) {
        let Some(period) = self.watchdog.as_ref().map(|w| w.period) else { return };
        let unhealthy = self.unhealthy(period);
        match &unhealthy {
            None => self.notify_systemd("WATCHDOG=1"),
            Some(reason) if self.is_running() => {
                if self.watchdog.as_ref().is_some_and(|w| w.unhealthy.as_ref() != Some(reason)) {
                    tracing::warn!("not feeding the systemd watchdog: {reason}");
                }
            }
            Some(_) => {}
        }
        if let Some(w) = &mut self.watchdog {
            if unhealthy.is_none() && w.unhealthy.is_some() {
                tracing::info!("healthy again; feeding the systemd watchdog");
            }
            w.unhealthy = unhealthy;
        }
    }
}
