//! Starting one process and watching it: cwd = rundir, a clean environment (none of systemd's variables), the
//! parent-death signal, output re-emitted line by line with the last lines kept, and a watcher task that reaps
//! the process, delivers signals to it while it is still unreaped (so a signal never hits a recycled PID) and
//! reports its exit once its output is drained.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::systemd::ENV_NOTIFY_SOCKET;
use crate::logging;

/// How many lines of a child's output are kept for error reports.
pub const TAIL_LINES: usize = 30;
/// Longer output lines are split.
const MAX_LINE: u64 = 8192;
/// How long the watcher waits for the output pipes to reach EOF after the process exited.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

/// Variables of the supervisor's own environment that describe the supervisor's relation to systemd and must not
/// be inherited (a child would otherwise notify systemd directly or think it was socket-activated).
const SYSTEMD_VARS: [&str; 6] =
    [ENV_NOTIFY_SOCKET, "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// The last [`TAIL_LINES`] output lines of one process (stdout and stderr interleaved as they arrived).
#[derive(Debug, Clone, Default)]
pub struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    pub fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(-1),
        }
    }

    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(code) => Some(code),
            Exit::Signal(_) => None,
        }
    }
}

impl fmt::Display for Exit {
    /// `exit code 1` / `signal 9` (what `ProcInfo::last_exit` holds).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => write!(f, "signal {signal}"),
        }
    }
}

/// What to do with a child's stdout and stderr.
pub enum Output {
    /// Share the supervisor's (the manager logs by itself).
    Inherit,
    /// Pipe them, re-emit every line as `name[pid]: line` and keep the last lines in `tail`.
    Capture { name: String, tail: Tail },
}

/// How to start a process.
pub struct Launch<'a> {
    pub argv: &'a [String],
    /// Added to the supervisor's environment (minus systemd's variables).
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    /// Set as the child's `NOTIFY_SOCKET`.
    pub notify_socket: Option<&'a Path>,
    pub output: Output,
}

/// A started process. Dropping it does not stop the process.
#[derive(Debug)]
pub struct ProcHandle {
    pub pid: u32,
    signals: mpsc::UnboundedSender<Signal>,
}

impl ProcHandle {
    /// Sends `signal` unless the process has been reaped already (then it is a no-op).
    pub fn signal(&self, signal: Signal) {
        let _ = self.signals.send(signal);
    }
}

/// Spawns the process and its watcher; `on_exit` runs once the process has been reaped and its output drained.
pub fn spawn(launch: Launch<'_>, on_exit: impl FnOnce(Exit) + Send + 'static) -> io::Result<ProcHandle> {
    let (program, args) = launch.argv.split_first().ok_or_else(|| io::Error::other("empty command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(launch.cwd).stdin(Stdio::null());
    for var in SYSTEMD_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(launch.env.iter().map(|(k, v)| (k, v)));
    if let Some(socket) = launch.notify_socket {
        cmd.env(ENV_NOTIFY_SOCKET, socket);
    }
    let capture = matches!(launch.output, Output::Capture { .. });
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    die_with_parent(&mut cmd);

    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or_else(|| io::Error::other("the process vanished right after the start"))?;
    let mut readers = Vec::new();
    if let Output::Capture { name, tail } = launch.output {
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(forward_lines(name.clone(), pid, false, stdout, tail.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(forward_lines(name, pid, true, stderr, tail)));
        }
    }

    let (signals, mut signal_rx) = mpsc::unbounded_channel::<Signal>();
    tokio::spawn(async move {
        let status = loop {
            tokio::select! {
                biased;
                status = child.wait() => break status,
                Some(signal) = signal_rx.recv() => {
                    // `wait` has not returned, so the process is not reaped and the PID is still this one.
                    if let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                        let _ = rustix::process::kill_process(raw, signal);
                    }
                }
            }
        };
        let exit = match status {
            Ok(status) => Exit::from_status(status),
            Err(e) => {
                tracing::error!("cannot wait for process {pid}: {e}");
                Exit::Code(-1)
            }
        };
        for reader in readers {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, reader).await;
        }
        on_exit(exit);
    });
    Ok(ProcHandle { pid, signals })
}

/// Reads `stream` line by line: each line is logged as the child's and kept in `tail`.
async fn forward_lines(name: String, pid: u32, is_stderr: bool, stream: impl AsyncRead + Unpin, tail: Tail) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        logging::child_line(&name, pid, is_stderr, text);
        tail.push(text.to_string());
    }
}

/// Makes the child receive SIGKILL when the supervisor dies, so no kresd outlives it (even after `kill -9`).
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: `pre_exec` runs the closure in the forked child before `exec`, where only async-signal-safe
    // operations are allowed. The closure only makes two raw system calls through rustix's linux_raw backend:
    // `prctl(PR_SET_PDEATHSIG, SIGKILL)` and `getppid()`; neither allocates, takes a lock or touches state shared
    // with other threads. On error it converts an errno into an `io::Error` (`from_raw_os_error`, no allocation).
    // It captures only a `Pid`, which is `Copy`. The `getppid` check closes the race where the supervisor died
    // between `fork` and `prctl`: the child then has a new parent and fails instead of running orphaned.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// The signal with number `raw`, if it is one a process may sensibly be sent.
pub fn signal_from_raw(raw: i32) -> Option<Signal> {
    const SIGNALS: [Signal; 16] = [
        Signal::HUP,
        Signal::INT,
        Signal::QUIT,
        Signal::ABORT,
        Signal::KILL,
        Signal::USR1,
        Signal::USR2,
        Signal::PIPE,
        Signal::ALARM,
        Signal::TERM,
        Signal::CONT,
        Signal::STOP,
        Signal::TSTP,
        Signal::TTIN,
        Signal::TTOU,
        Signal::WINCH,
    ];
    SIGNALS.into_iter().find(|s| s.as_raw() == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let tail = Tail::default();
        for i in 0..(TAIL_LINES + 5) {
            tail.push(i.to_string());
        }
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "5");
        assert_eq!(lines.last().unwrap(), &(TAIL_LINES + 4).to_string());
    }

    #[test]
    fn signals_and_exits() {
        assert_eq!(signal_from_raw(15), Some(Signal::TERM));
        assert_eq!(signal_from_raw(1), Some(Signal::HUP));
        assert_eq!(signal_from_raw(0), None);
        assert_eq!(signal_from_raw(11), None);
        assert_eq!(Exit::Code(1).to_string(), "exit code 1");
        assert_eq!(Exit::Signal(9).to_string(), "signal 9");
        assert_eq!(Exit::from_status(ExitStatus::from_raw(9)), Exit::Signal(9));
        assert_eq!(Exit::from_status(ExitStatus::from_raw(2 << 8)), Exit::Code(2));
    }

    #[test]
    fn spawn_capture_signal_and_exit() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let tail = Tail::default();
            let argv: Vec<String> =
                ["/bin/sh", "-c", "echo out; echo err >&2; echo \"$NOTIFY_SOCKET $X\"; exec sleep 100"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let handle = spawn(
                Launch {
                    argv: &argv,
                    env: &[("X".into(), "y".into())],
                    cwd: Path::new("/"),
                    notify_socket: Some(Path::new("/n.sock")),
                    output: Output::Capture { name: "t".into(), tail: tail.clone() },
                },
                move |exit| {
                    let _ = tx.send(exit);
                },
            )
            .unwrap();
            while tail.lines().len() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            handle.signal(Signal::TERM);
            assert_eq!(rx.await.unwrap(), Exit::Signal(15));
            let mut lines = tail.lines();
            lines.sort();
            assert_eq!(lines, ["/n.sock y", "err", "out"]);
        });
    }
}
