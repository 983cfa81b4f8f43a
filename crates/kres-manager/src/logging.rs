//! Logging for both processes: `tracing` to stdout, stderr or syslog per `/logging`, switchable at runtime,
//! plus [`child_line`] for re-emitting the output of supervised processes (`kresd0[1234]: ...`).
//!
//! Like the reference, messages logged before the configuration is loaded are buffered (at debug level) and
//! written to the configured target once [`apply`] runs, filtered by the configured level. An error before that
//! flushes the buffer to the start-up target (`--logtarget`, filtered by `--loglevel`) at once, so a failing
//! start is never silent.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use kres_datamodel::config::{LogLevel, LogTarget, LoggingSchema};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter};

const TARGET_STDOUT: u8 = 0;
const TARGET_STDERR: u8 = 1;
const TARGET_SYSLOG: u8 = 2;

static TARGET: AtomicU8 = AtomicU8::new(TARGET_STDERR);
/// Most verbose level let through: 0 error .. 4 trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(3);
static IDENT: OnceLock<String> = OnceLock::new();
static SYSLOG: Mutex<Option<UnixDatagram>> = Mutex::new(None);
/// Lines logged before the configuration was applied: (level rank, formatted line). `None` once flushed.
static BUFFER: Mutex<Option<Vec<(u8, String)>>> = Mutex::new(None);
/// The `--loglevel` rank used when the buffer is flushed before the configuration is applied.
static STARTUP_LEVEL: AtomicU8 = AtomicU8::new(2);

/// Logging settings from the command line, in force until the configuration is loaded.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// Most verbose level: 0 error, 1 warning, 2 info/notice, 3 debug.
    pub level: u8,
    pub target: StartupTarget,
}

/// Where start-up messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupTarget {
    Stdout,
    Stderr,
    Syslog,
}

impl Default for Startup {
    fn default() -> Self {
        Startup { level: 2, target: StartupTarget::Stderr }
    }
}

fn level_rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// Maps the configuration's level to the manager's: crit/err → error, warning → warn, notice/info → info.
fn max_rank(level: LogLevel, debug_manager: bool) -> u8 {
    if debug_manager {
        return 3;
    }
    match level {
        LogLevel::Crit | LogLevel::Err => 0,
        LogLevel::Warning => 1,
        LogLevel::Notice | LogLevel::Info => 2,
        LogLevel::Debug => 3,
    }
}

/// Installs the global subscriber and starts buffering (see the module documentation). `ident` names the
/// process in every line (`supervisor`, `manager`).
/// Also records the start-up target as what `logging/target: from-arg` means in this process.
pub fn init(ident: &str, startup: Startup) {
    let _ = IDENT.set(ident.to_owned());
    kres_datamodel::SystemFacts::set_logtarget_arg(match startup.target {
        StartupTarget::Stdout => "stdout",
        StartupTarget::Stderr => "stderr",
        StartupTarget::Syslog => "syslog",
    });
    STARTUP_LEVEL.store(startup.level, Ordering::Relaxed);
    TARGET.store(
        match startup.target {
            StartupTarget::Stdout => TARGET_STDOUT,
            StartupTarget::Stderr => TARGET_STDERR,
            StartupTarget::Syslog => TARGET_SYSLOG,
        },
        Ordering::Relaxed,
    );
    *BUFFER.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    MAX_LEVEL.store(3, Ordering::Relaxed);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(MakeLogWriter)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter::filter_fn(|meta| level_rank(meta.level()) <= MAX_LEVEL.load(Ordering::Relaxed)));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Writes buffered start-up messages to the current target, filtered by `max_rank`, and stops buffering.
fn flush_buffer(max_rank: u8) {
    let lines = BUFFER.lock().unwrap_or_else(|e| e.into_inner()).take();
    for (rank, line) in lines.into_iter().flatten() {
        if rank <= max_rank {
            emit(&line);
        }
    }
}

/// Flushes start-up messages that were never written (the process ends before the configuration was applied).
pub fn flush() {
    flush_buffer(STARTUP_LEVEL.load(Ordering::Relaxed));
}

/// Applies `/logging` (level, target, the `manager` debug group); may be called again at runtime.
pub fn apply(logging: &LoggingSchema) {
    let target = match logging.target {
        LogTarget::Stdout | LogTarget::FromArg => TARGET_STDOUT,
        LogTarget::Stderr => TARGET_STDERR,
        LogTarget::Syslog => TARGET_SYSLOG,
    };
    let debug_manager = logging.debug_for(kres_datamodel::config::LogGroup::Manager);
    let rank = max_rank(logging.level, debug_manager);
    TARGET.store(target, Ordering::Relaxed);
    flush_buffer(rank);
    MAX_LEVEL.store(rank, Ordering::Relaxed);
}

/// Re-emits one line of a supervised process's output, whatever the level (like the reference, which logs
/// children's output at CRIT so it is always shown).
pub fn child_line(name: &str, pid: u32, stderr: bool, line: &str) {
    let stream = if stderr { " (stderr)" } else { "" };
    write_line(&format!("{name}[{pid}]{stream}: {line}"), true);
}

fn write_line(line: &str, raw: bool) {
    match TARGET.load(Ordering::Relaxed) {
        TARGET_SYSLOG => syslog(line),
        t => {
            let text = if raw { format!("{line}\n") } else { line.to_owned() };
            if t == TARGET_STDOUT {
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            } else {
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
        }
    }
}

/// Sends one message to the local syslog daemon (`/dev/log`, facility daemon, severity notice).
fn syslog(line: &str) {
    let ident = IDENT.get().map_or("knot-resolver", String::as_str);
    let msg = format!("<29>{ident}[{}]: {}", std::process::id(), line.trim_end());
    let mut guard = SYSLOG.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = UnixDatagram::unbound().ok().filter(|s| s.connect("/dev/log").is_ok());
    }
    let sent = guard.as_ref().is_some_and(|s| s.send(msg.as_bytes()).is_ok());
    if !sent {
        *guard = None;
        let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
    }
}

struct MakeLogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeLogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter { rank: 2 }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogWriter {
        LogWriter { rank: level_rank(meta.level()) }
    }
}

/// Writes one formatted event, tagged with its level rank (for the start-up buffer).
struct LogWriter {
    rank: u8,
}

/// Writes a formatted line to the current target.
fn emit(text: &str) {
    if TARGET.load(Ordering::Relaxed) == TARGET_SYSLOG {
        syslog(text);
    } else {
        let ident = IDENT.get().map_or("knot-resolver", String::as_str);
        write_line(&format!("{ident}[{}]: {text}", std::process::id()), false);
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf).into_owned();
        {
            let mut buffer = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(lines) = buffer.as_mut() {
                lines.push((self.rank, text));
                if self.rank > 0 {
                    return Ok(buf.len());
                }
            } else {
                drop(buffer);
                emit(&text);
                return Ok(buf.len());
            }
        }
        // An error before the configuration is applied: show everything now, on the start-up target.
        flush();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
