//! Draining a kresd worker before it is stopped, so that no query sent to it is lost (rolling restarts,
//! scaling down). The replacement workers already listen on the same ports (SO_REUSEPORT groups).
//!
//! 1. **Out of load balancing** ([`DRAIN_LUA`], over the worker's control socket, Lua FFI):
//!    * UDP: every listening socket is connected to the discard port of its own address. The kernel then skips
//!      it when it spreads datagrams over the group, while the worker still reads what is already queued.
//!    * TCP (plain DNS, DoT, DoH): every listening socket is closed, so new connections go to the other
//!      workers. With `net.ipv4.tcp_migrate_req = 1` ([`check_tcp_migration`]) the kernel moves the
//!      connections queued on it (handshake done or in progress, not yet accepted) to another listener of the
//!      group instead of resetting them. kresd 6.5 has no way to stop listening (`net.close` crashes it), and
//!      closing the fd under libuv would free its number for reuse while libuv still watches it; so the
//!      listening socket is replaced in place with `dup2` by an idle, non-blocking unix listening socket: the
//!      TCP listener is closed (its last reference), the fd number stays valid, the old socket leaves epoll by
//!      itself, and if libuv still calls `accept` on that fd it gets `EAGAIN`.
//! 2. **Wait** ([`DRAIN_POLL_LUA`]) until the worker has no query in flight and none of its client TCP
//!    connections is busy: a connection is busy while it has unread bytes or has received data in the last
//!    [`STREAM_QUIET_MS`] ms (a connection still in its TLS handshake, or whose query is on its way, is busy).
//!    Idle connections are left for kresd to close when it exits, which RFC 7766 clients handle.
//!
//! The waits are bounded: [`DRAIN_TIMEOUT`] for queries in flight (and less once their count stops dropping:
//! [`DRAIN_PLATEAU`]; kresd's own probes to a dead upstream count too), [`STREAM_DRAIN_TIMEOUT`] for busy
//! connections (a client that never pauses on a kept-open connection).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Command;

/// How long a drained worker may take to finish the queries it has in flight before it is stopped. Queued
/// datagrams are read within microseconds; this covers answers that wait for an upstream. kresd's own internal
/// queries (e.g. the time-skew probe) also count as in flight, so the wait is capped short.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(250);
/// A drained worker is stopped early when its number of queries in flight has not dropped for this long.
pub const DRAIN_PLATEAU: Duration = Duration::from_millis(25);
/// How long a drained worker may keep busy client TCP connections (see [`STREAM_QUIET_MS`]) before it is
/// stopped anyway.
pub const STREAM_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// A client TCP connection that received no data for this long (and has none unread) is idle.
pub const STREAM_QUIET_MS: u32 = 500;

/// Lua (a fragment of the snippets below, which declare `ffi` and `C`): `fds()` lists the worker's open file
/// descriptors from `/proc/self/fd` (3 to 4095 if that cannot be read; kresd raises its limit far above that).
macro_rules! fds_lua {
    () => {
        "for _, d in ipairs({'void *opendir(const char *);', 'void *readdir64(void *);', 'int closedir(void *);'}) \
do pcall(ffi.cdef, d) end \
local function fds() local t = {} local dir = C.opendir('/proc/self/fd') \
if dir == nil then for fd = 3, 4095 do t[#t + 1] = fd end return t end \
while true do local e = C.readdir64(dir) if e == nil then break end \
local n = tonumber(ffi.string(ffi.cast('char *', e) + 19)) if n and n >= 3 then t[#t + 1] = n end end \
C.closedir(dir) return t end "
    };
}

/// Lua run in a worker before it is stopped (see the module documentation): connects its listening UDP
/// sockets to the discard port (9) of their own address (loopback for wildcard binds) and replaces its
/// listening TCP sockets with an idle unix listening socket, remembering their ports in `kres_drain_ports` for
/// [`DRAIN_POLL_LUA`]. Returns `{udp = N, tcp = M}`: how many sockets of each it took out.
pub const DRAIN_LUA: &str = concat!(
    "(function() local ffi = require('ffi') local C = ffi.C ",
    fds_lua!(),
    "\
for _, d in ipairs({'int getsockopt(int, int, int, void *, unsigned int *);', \
'int getsockname(int, void *, unsigned int *);', 'int getpeername(int, void *, unsigned int *);', \
'int connect(int, const void *, unsigned int);', 'int socket(int, int, int);', \
'int bind(int, const void *, unsigned int);', 'int listen(int, int);', 'int dup2(int, int);', \
'int close(int);'}) do pcall(ffi.cdef, d) end \
local udp, tcp, ports = 0, 0, {} \
local function opt(fd, o) local v, l = ffi.new('int[1]'), ffi.new('unsigned int[1]', 4) \
if C.getsockopt(fd, 1, o, v, l) == 0 then return v[0] end end \
local ph = C.socket(1, 1 + 2048 + 524288, 0) \
if ph >= 0 and (C.bind(ph, ffi.new('uint16_t[1]', 1), 2) ~= 0 or C.listen(ph, 1) ~= 0) then C.close(ph); ph = -1 end \
for _, fd in ipairs(fds()) do local ty = opt(fd, 3) local dom = ty and opt(fd, 39) \
if dom == 2 or dom == 10 then \
local sa, sl = ffi.new('uint8_t[128]'), ffi.new('unsigned int[1]', 128) \
if C.getsockname(fd, sa, sl) == 0 and (sa[2] ~= 0 or sa[3] ~= 0) then \
if ty == 1 and opt(fd, 30) == 1 and ph >= 0 then \
ports[sa[2] * 256 + sa[3]] = true \
if C.dup2(ph, fd) == fd then tcp = tcp + 1 end \
elseif ty == 2 then \
local pa, pl = ffi.new('uint8_t[128]'), ffi.new('unsigned int[1]', 128) \
if C.getpeername(fd, pa, pl) ~= 0 then \
local len = 0 \
if dom == 2 then len = 16 \
if sa[4] == 0 and sa[5] == 0 and sa[6] == 0 and sa[7] == 0 then sa[4] = 127; sa[7] = 1 end \
else len = 28 \
local any = true for i = 8, 23 do if sa[i] ~= 0 then any = false end end \
if any then sa[23] = 1 end end \
sa[2] = 0; sa[3] = 9 \
if C.connect(fd, sa, len) == 0 then udp = udp + 1 end end end end end end \
if ph >= 0 then C.close(ph) end \
kres_drain_ports = ports \
return {udp = udp, tcp = tcp} end)()"
);

/// Lua polled while a worker drains: `{inflight = <queries in flight>, busy = <busy client TCP connections>}`.
/// A client connection is a TCP socket whose local port is one of the closed listeners' (`kres_drain_ports`);
/// it is busy when it has unread bytes (FIONREAD) or received data less than [`STREAM_QUIET_MS`] ms ago
/// (`tcpi_last_data_recv` of TCP_INFO, at byte 52; counted from the handshake while nothing came).
pub const DRAIN_POLL_LUA: &str = concat!(
    "(function() local ffi = require('ffi') local C = ffi.C ",
    fds_lua!(),
    "\
for _, d in ipairs({'int getsockopt(int, int, int, void *, unsigned int *);', \
'int getsockname(int, void *, unsigned int *);', 'int ioctl(int, unsigned long, ...);'}) \
do pcall(ffi.cdef, d) end \
local busy, ports = 0, kres_drain_ports or {} \
if next(ports) then \
local v, l = ffi.new('int[1]'), ffi.new('unsigned int[1]', 4) \
for _, fd in ipairs(fds()) do l[0] = 4 \
if C.getsockopt(fd, 1, 3, v, l) == 0 and v[0] == 1 then l[0] = 4 \
if C.getsockopt(fd, 1, 39, v, l) == 0 and (v[0] == 2 or v[0] == 10) then \
local sa, sl = ffi.new('uint8_t[128]'), ffi.new('unsigned int[1]', 128) \
if C.getsockname(fd, sa, sl) == 0 and ports[sa[2] * 256 + sa[3]] then \
local ti, tl = ffi.new('uint8_t[256]'), ffi.new('unsigned int[1]', 256) \
local inq = ffi.new('int[1]') \
if C.getsockopt(fd, 6, 11, ti, tl) == 0 and tl[0] >= 56 and ti[0] ~= 10 and ti[0] ~= 7 then \
local quiet = ffi.cast('uint32_t *', ti + 52)[0] \
if C.ioctl(fd, 0x541B, inq) ~= 0 then inq[0] = 0 end \
if inq[0] > 0 or quiet < QUIET then busy = busy + 1 end end end end end end end \
return {inflight = worker.stats().concurrent, busy = busy} end)()"
);

/// [`DRAIN_POLL_LUA`] with the quiet time filled in.
pub fn poll_lua() -> String {
    DRAIN_POLL_LUA.replace("QUIET", &STREAM_QUIET_MS.to_string())
}

const TCP_MIGRATE_REQ: &str = "/proc/sys/net/ipv4/tcp_migrate_req";
static MIGRATION_CHECKED: AtomicBool = AtomicBool::new(false);

/// Checks once per manager process that `net.ipv4.tcp_migrate_req` is 1 in the workers' network namespace (the
/// manager's), so that closing a draining worker's TCP listener hands its queued connections to another worker
/// instead of resetting them. The manager never changes a kernel setting itself: the package ships
/// `/usr/lib/sysctl.d/60-knot-resolver-manager-rs.conf`; elsewhere the operator sets it. Warns when it is off.
pub fn check_tcp_migration() {
    if MIGRATION_CHECKED.swap(true, Ordering::Relaxed) {
        return;
    }
    match std::fs::read_to_string(TCP_MIGRATE_REQ) {
        Ok(v) if v.trim() == "1" => {}
        Ok(_) => tracing::warn!(
            "net.ipv4.tcp_migrate_req is 0: TCP/DoT/DoH connections not yet accepted by a worker that a rolling \
             restart stops are reset; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1, and in /etc/sysctl.d/)"
        ),
        Err(e) => tracing::debug!("cannot read {TCP_MIGRATE_REQ}: {e}"),
    }
}

/// What the drain does after a poll of the worker.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Poll again shortly.
    Poll,
    /// The worker has finished what it can: stop it.
    Stop,
    /// Client connections are still busy after [`STREAM_DRAIN_TIMEOUT`]: stop it anyway.
    Timeout,
}

/// The drain's decision, from the polls so far (`elapsed` since the drain began).
#[derive(Debug, Default)]
struct Progress {
    /// The lowest count of queries in flight seen and when it was first seen.
    last: Option<(u64, Duration)>,
}

impl Progress {
    fn next(&mut self, elapsed: Duration, inflight: Option<u64>, busy: u64) -> Next {
        // Queries still in flight either finish soon (an upstream answers) or wait for long timeouts (a dead
        // upstream; kresd's own probes): stop waiting for them once the count has not dropped for DRAIN_PLATEAU.
        let settled = match (inflight, self.last) {
            (Some(0) | None, _) => true,
            (Some(n), Some((prev, since))) if n >= prev => elapsed.saturating_sub(since) >= DRAIN_PLATEAU,
            (Some(n), _) => {
                self.last = Some((n, elapsed));
                false
            }
        } || elapsed >= DRAIN_TIMEOUT;
        if settled && busy == 0 {
            Next::Stop
        } else if elapsed >= STREAM_DRAIN_TIMEOUT {
            Next::Timeout
        } else {
            Next::Poll
        }
    }
}

/// Takes worker `instance` of `rundir` out of the load balancing and waits until it has finished what it was
/// sent (bounded; see the module documentation). Never fails: a worker that cannot be drained is stopped as
/// before.
pub async fn drain(rundir: &Path, instance: u32) {
    check_tcp_migration();
    match super::run(rundir, instance, &Command::Drain).await {
        Ok(n) => tracing::debug!("worker {instance}: listening sockets taken out of load balancing: {n}"),
        Err(e) => {
            tracing::warn!("worker {instance}: cannot drain before stopping: {e}");
            return;
        }
    }
    let started = tokio::time::Instant::now();
    let mut progress = Progress::default();
    loop {
        let (inflight, busy) = match super::run(rundir, instance, &Command::DrainPoll).await {
            Ok(v) => (v["inflight"].as_u64(), v["busy"].as_u64().unwrap_or(0)),
            Err(e) => {
                tracing::debug!("worker {instance}: cannot read its queries in flight: {e}");
                break;
            }
        };
        match progress.next(started.elapsed(), inflight, busy) {
            Next::Poll => tokio::time::sleep(Duration::from_millis(5)).await,
            Next::Stop => {
                if let Some(n) = inflight.filter(|&n| n > 0) {
                    tracing::debug!("worker {instance}: stopping with {n} queries in flight that are not finishing");
                }
                break;
            }
            Next::Timeout => {
                tracing::info!(
                    "worker {instance}: stopping with {busy} client TCP connection(s) still busy after \
                     {STREAM_DRAIN_TIMEOUT:?}; queries in flight on them are lost"
                );
                break;
            }
        }
    }
    tracing::debug!("worker {instance}: drained in {:?}", started.elapsed());
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_idle_worker_stops_at_once() {
        assert_eq!(Progress::default().next(Duration::ZERO, Some(0), 0), Next::Stop);
        assert_eq!(Progress::default().next(Duration::ZERO, None, 0), Next::Stop, "no count: nothing to wait for");
    }

    #[test]
    fn busy_connections_hold_the_worker_until_the_stream_timeout() {
        let mut p = Progress::default();
        assert_eq!(p.next(Duration::ZERO, Some(0), 2), Next::Poll);
        assert_eq!(p.next(DRAIN_TIMEOUT, Some(0), 1), Next::Poll, "queries settled, a connection still busy");
        assert_eq!(p.next(STREAM_DRAIN_TIMEOUT - MS, Some(0), 1), Next::Poll);
        assert_eq!(p.next(STREAM_DRAIN_TIMEOUT, Some(0), 1), Next::Timeout);
        assert_eq!(p.next(STREAM_DRAIN_TIMEOUT, Some(0), 0), Next::Stop, "quiet in the end");
    }

    #[test]
    fn queries_that_stop_finishing_end_the_wait_after_the_plateau() {
        let mut p = Progress::default();
        assert_eq!(p.next(Duration::ZERO, Some(3), 0), Next::Poll);
        assert_eq!(p.next(20 * MS, Some(2), 0), Next::Poll, "dropping: the plateau starts again");
        assert_eq!(p.next(40 * MS, Some(2), 0), Next::Poll);
        assert_eq!(p.next(20 * MS + DRAIN_PLATEAU, Some(2), 0), Next::Stop);
    }

    #[test]
    fn queries_in_flight_are_waited_for_at_most_the_drain_timeout() {
        let mut p = Progress::default();
        let mut t = Duration::ZERO;
        let mut n = 1000;
        while t < DRAIN_TIMEOUT {
            assert_eq!(p.next(t, Some(n), 0), Next::Poll, "still dropping at {t:?}");
            t += 10 * MS;
            n -= 1;
        }
        assert_eq!(p.next(t, Some(n), 0), Next::Stop);
    }

    #[test]
    fn the_poll_lua_is_one_line_with_the_quiet_time() {
        for lua in [DRAIN_LUA.to_owned(), poll_lua()] {
            assert!(!lua.contains('\n'), "the control socket reads one command per line");
        }
        assert!(poll_lua().contains(&format!("quiet < {STREAM_QUIET_MS}")));
    }
}
