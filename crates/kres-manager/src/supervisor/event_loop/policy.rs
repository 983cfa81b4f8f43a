//! The restart policy as pure decisions, without I/O or a clock (the caller passes `now`):
//! * [`classify_exit`]: what the exit of a child's instance means (stopped, awaited, FATAL, or a crash);
//! * [`after_failure`]: after a crash, restart at once, restart after a backoff, or give up (FATAL).
//!
//! The manager child is restarted by the same [`after_failure`], with its own limit.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Failures (of a child or of the manager) older than this are forgotten.
pub(super) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// What is known about a child when one of its instances has exited.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ExitFacts {
    /// The manager asked to stop it.
    pub stopping: bool,
    /// The supervisor is shutting down.
    pub shutting_down: bool,
    /// The supervisor killed it for not becoming ready (or not exiting) in time.
    pub killed: bool,
    /// A spawn request waits for this exit.
    pub exit_awaited: bool,
    /// A spawn request still waits for its `READY=1`: it exited before it was ready.
    pub ready_awaited: bool,
}

/// What an exit means, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExitKind {
    /// Stopped on request: answer the stop and forget the child.
    Stopped,
    /// Exited during shutdown: never restarted.
    ShuttingDown,
    /// Killed by the supervisor after a timeout: FATAL, not restarted.
    Killed,
    /// The exit a spawn request waited for: answer it, not restarted.
    Awaited,
    /// Exited before `READY=1` while its spawn waits: FATAL, not restarted; the manager is told and decides.
    NotReady,
    /// Exited on its own (after `READY=1`, or a restarted instance): the restart policy applies.
    Crashed,
}

pub(super) fn classify_exit(facts: ExitFacts) -> ExitKind {
    if facts.stopping {
        ExitKind::Stopped
    } else if facts.shutting_down {
        ExitKind::ShuttingDown
    } else if facts.killed {
        ExitKind::Killed
    } else if facts.exit_awaited {
        ExitKind::Awaited
    } else if facts.ready_awaited {
        ExitKind::NotReady
    } else {
        ExitKind::Crashed
    }
}

/// Times of one process's recent failures (within [`FAILURE_WINDOW`]).
#[derive(Debug, Default)]
pub(super) struct Failures(VecDeque<Instant>);

impl Failures {
    /// Records a failure at `now`, forgets those more than [`FAILURE_WINDOW`] older, and returns how many are left.
    pub(super) fn record(&mut self, now: Instant) -> usize {
        while self.0.front().is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW) {
            self.0.pop_front();
        }
        self.0.push_back(now);
        self.0.len()
    }
}

/// What to do after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    RestartNow,
    RestartAfter(Duration),
    /// Too many failures within [`FAILURE_WINDOW`] (`failures` of them): FATAL.
    GiveUp {
        failures: usize,
    },
}

/// Records a crash at `now` in `failures` and decides: more than `max_retries` failures within
/// [`FAILURE_WINDOW`] give up, otherwise the restart waits [`backoff`].
pub(super) fn after_failure(max_retries: u32, failures: &mut Failures, now: Instant) -> Decision {
    let count = failures.record(now);
    if count > max_retries as usize {
        return Decision::GiveUp { failures: count };
    }
    match backoff(count) {
        Duration::ZERO => Decision::RestartNow,
        delay => Decision::RestartAfter(delay),
    }
}

/// The wait before the restart after the `failures`-th failure in a row: none for the first one (a killed worker
/// must be answering again at once), then 0.5 s, 1 s, 2 s, ... up to [`MAX_BACKOFF`].
fn backoff(failures: usize) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let exponent = u32::try_from(failures - 2).unwrap_or(u32::MAX).min(10);
    (Duration::from_millis(500) * 2u32.pow(exponent)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: f64) -> Instant {
        start + Duration::from_secs_f64(secs)
    }

    /// The decisions for crashes at the given seconds after a start.
    fn decisions(max_retries: u32, times: &[f64]) -> Vec<Decision> {
        let start = Instant::now();
        let mut failures = Failures::default();
        times.iter().map(|&t| after_failure(max_retries, &mut failures, at(start, t))).collect()
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let secs: Vec<f64> = (1..=8).map(|n| backoff(n).as_secs_f64()).collect();
        assert_eq!(secs, [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }

    #[test]
    fn first_crash_restarts_at_once_then_backs_off() {
        let ms = Duration::from_millis;
        assert_eq!(
            decisions(10, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            [
                Decision::RestartNow,
                Decision::RestartAfter(ms(500)),
                Decision::RestartAfter(ms(1000)),
                Decision::RestartAfter(ms(2000)),
                Decision::RestartAfter(ms(4000)),
                Decision::RestartAfter(ms(8000)),
                Decision::RestartAfter(ms(8000)),
            ]
        );
    }

    #[test]
    fn gives_up_after_more_than_max_retries_within_the_window() {
        let d = decisions(3, &[0.0, 10.0, 20.0, 30.0, 40.0]);
        let ms = Duration::from_millis;
        assert_eq!(d[..3], [Decision::RestartNow, Decision::RestartAfter(ms(500)), Decision::RestartAfter(ms(1000))]);
        assert_eq!(d[3], Decision::GiveUp { failures: 4 });
        assert_eq!(d[4], Decision::GiveUp { failures: 5 });
        // No retries allowed: the first crash is fatal.
        assert_eq!(decisions(0, &[0.0]), [Decision::GiveUp { failures: 1 }]);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_minute() {
        // Three quick crashes, then one 61 s after the last: the count starts again, the restart is immediate.
        assert_eq!(decisions(3, &[0.0, 0.1, 0.2, 61.3])[3], Decision::RestartNow);
        // Only the failures older than the window go: two of three are still within it.
        assert_eq!(decisions(3, &[0.0, 30.0, 40.0, 70.0])[3], Decision::RestartAfter(Duration::from_secs(1)));
        // Exactly one window old still counts.
        assert_eq!(decisions(1, &[0.0, 60.0])[1], Decision::GiveUp { failures: 2 });
        // Crashes spread out by more than the window never give up, even with a limit of one.
        assert!(decisions(1, &[0.0, 61.0, 122.0, 183.0]).iter().all(|d| *d == Decision::RestartNow));
    }

    #[test]
    fn exit_before_ready_is_fatal_after_ready_is_a_crash() {
        let before = ExitFacts { ready_awaited: true, ..ExitFacts::default() };
        assert_eq!(classify_exit(before), ExitKind::NotReady);
        // After READY=1 nobody waits any more: the restart policy applies.
        assert_eq!(classify_exit(ExitFacts::default()), ExitKind::Crashed);
    }

    #[test]
    fn exit_kinds_take_precedence_in_order() {
        let all =
            ExitFacts { stopping: true, shutting_down: true, killed: true, exit_awaited: true, ready_awaited: true };
        assert_eq!(classify_exit(all), ExitKind::Stopped);
        let f = ExitFacts { stopping: false, ..all };
        assert_eq!(classify_exit(f), ExitKind::ShuttingDown);
        let f = ExitFacts { shutting_down: false, ..f };
        // Killed for a ready timeout while the spawn waits: FATAL through the kill, not "exited before ready".
        assert_eq!(classify_exit(f), ExitKind::Killed);
        let f = ExitFacts { killed: false, ..f };
        assert_eq!(classify_exit(f), ExitKind::Awaited);
        let f = ExitFacts { exit_awaited: false, ..f };
        assert_eq!(classify_exit(f), ExitKind::NotReady);
    }
}
