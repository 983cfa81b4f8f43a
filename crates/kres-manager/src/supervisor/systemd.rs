//! Notifications to systemd (`Type=notify`): the supervisor is the service's main process, so it is the one that
//! talks to `$NOTIFY_SOCKET`. The variable never reaches the children (see [`super::process`]), nor do
//! `WATCHDOG_USEC`/`WATCHDOG_PID`: the supervisor alone feeds systemd's watchdog ([`watchdog_period`]).

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The variable systemd sets for `Type=notify` services.
pub const ENV_NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// Set by systemd when the unit has `WatchdogSec=`: `WATCHDOG=1` is expected more often than this (µs).
pub const ENV_WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// Set by systemd with `WATCHDOG_USEC`: the PID the watchdog is meant for.
pub const ENV_WATCHDOG_PID: &str = "WATCHDOG_PID";

/// How often to send `WATCHDOG=1` when systemd's watchdog is enabled for this process: half of `WATCHDOG_USEC`
/// (as `sd_watchdog_enabled(3)` recommends). `None` when it is not set, not a positive number, or meant for another
/// PID (`WATCHDOG_PID`).
pub fn watchdog_period() -> Option<Duration> {
    let usec = std::env::var(ENV_WATCHDOG_USEC).ok();
    let pid = std::env::var(ENV_WATCHDOG_PID).ok();
    parse_watchdog(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec = usec?.trim().parse::<u64>().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid.filter(|p| !p.is_empty())
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

#[derive(Debug)]
pub struct Systemd {
    socket: UnixDatagram,
    addr: SocketAddr,
    name: String,
}

impl Systemd {
    /// The notifier for `$NOTIFY_SOCKET`, or `None` when not started by systemd (or the address is unusable,
    /// which is logged).
    pub fn from_env() -> Option<Systemd> {
        let name = std::env::var(ENV_NOTIFY_SOCKET).ok().filter(|s| !s.is_empty())?;
        match Systemd::connect(&name) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot use {ENV_NOTIFY_SOCKET}={name}: {e}; systemd will not be notified");
                None
            }
        }
    }

    fn connect(name: &str) -> io::Result<Systemd> {
        let addr = if let Some(abstract_name) = name.strip_prefix('@') {
            SocketAddr::from_abstract_name(abstract_name.as_bytes())?
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(name)?
        } else {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "only unix socket paths and @abstract names"));
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Systemd { socket, addr, name: name.to_string() })
    }

    /// Sends `state` (newline-separated `KEY=value` assignments) as one datagram. Failures are logged only:
    /// systemd being unreachable must not stop the resolver.
    pub fn notify(&self, state: &str) {
        tracing::debug!("notifying systemd: {}", state.replace('\n', ", "));
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.addr) {
            tracing::warn!("cannot notify systemd at {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_paths_and_abstract_sockets() {
        let dir = kres_test_support::TempDir::new("systemd");
        let path = dir.join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        Systemd::connect(path.to_str().unwrap()).unwrap().notify("READY=1\nSTATUS=Ready");
        let mut buf = [0u8; 100];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=Ready");
        std::fs::remove_file(&path).unwrap();

        let name = format!("kres-systemd-test-{}", std::process::id());
        let server = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        Systemd::connect(&format!("@{name}")).unwrap().notify("STOPPING=1");
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        assert!(Systemd::connect("vsock:2:1").is_err());
    }

    #[test]
    fn watchdog_period_is_half_of_watchdog_usec_for_this_pid() {
        assert_eq!(parse_watchdog(Some("30000000"), None, 7), Some(Duration::from_secs(15)));
        assert_eq!(parse_watchdog(Some("1000000"), Some("7"), 7), Some(Duration::from_millis(500)));
        assert_eq!(parse_watchdog(Some("1000000"), Some(""), 7), Some(Duration::from_millis(500)));
        assert_eq!(parse_watchdog(Some("1000000"), Some("8"), 7), None);
        assert_eq!(parse_watchdog(Some("0"), None, 7), None);
        assert_eq!(parse_watchdog(Some("soon"), None, 7), None);
        assert_eq!(parse_watchdog(None, Some("7"), 7), None);
    }
}
