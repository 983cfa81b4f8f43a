//! The health probe of a kresd worker (health-gated applies): a DNS query for `/management/health-probe` (type
//! A, recursion desired) sent over UDP to the worker's own probe listener on 127.0.0.1 — a canary has it in its Lua,
//! a worker gets it at runtime ([`Command::ProbeListen`](super::Command::ProbeListen), [`listen`]) — and a trivial
//! command over its control socket. The DNS message is built and parsed here: a probe needs its ID, RD, one
//! question and the answer's RCODE, nothing more.
//!
//! A probe answered NOERROR or NXDOMAIN with the right ID passes; SERVFAIL, REFUSED (or any other RCODE) fails at
//! once; no answer within [`PROBE_TRIES`] tries ([`TRY_TIMEOUTS`], about a second in all) fails. The same query
//! (same ID) is re-sent on each try, so a late answer to an earlier try still counts.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::{Command, ControlError};

/// How many times an unanswered probe query is sent.
pub const PROBE_TRIES: usize = 3;
/// How long each try waits for the answer (about a second in all).
pub const TRY_TIMEOUTS: [Duration; PROBE_TRIES] =
    [Duration::from_millis(300), Duration::from_millis(300), Duration::from_millis(400)];
/// How many free ports a runtime probe listener tries before it gives up.
const LISTEN_ATTEMPTS: usize = 3;

/// RCODEs by name, for messages.
fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE {n}"),
    }
}

/// Why a probe query could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{name}' cannot be sent as a probe query: {why}")]
pub struct NameError {
    name: String,
    why: &'static str,
}

/// The probe query: header (ID, RD, one question), QNAME `name` (absolute or not; `.` is the root), QTYPE A,
/// QCLASS IN.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, NameError> {
    let error = |why| NameError { name: name.to_owned(), why };
    let mut msg = Vec::with_capacity(17 + name.len() + 1);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0x01, 0x00]); // QR=0, OPCODE=QUERY, RD=1
    msg.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT=1, AN/NS/AR=0
    let body = name.strip_suffix('.').unwrap_or(name);
    let mut wire = 1; // the root label
    if !body.is_empty() {
        for label in body.split('.') {
            if label.is_empty() {
                return Err(error("it has an empty label"));
            }
            if label.len() > 63 {
                return Err(error("a label is longer than 63 bytes"));
            }
            wire += 1 + label.len();
            msg.push(label.len() as u8);
            msg.extend_from_slice(label.as_bytes());
        }
    }
    if wire > 255 {
        return Err(error("it is longer than 255 bytes in wire format"));
    }
    msg.push(0);
    msg.extend_from_slice(&[0, 1, 0, 1]); // QTYPE=A, QCLASS=IN
    Ok(msg)
}

/// What a datagram received on the probe socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// An answer to the query with this ID: its RCODE (the 4-bit header RCODE).
    Answer { rcode: u8 },
    /// Not an answer to it (too short, a query, another ID, another opcode): ignored.
    Other,
}

/// Classifies `msg` as the answer to the query `id` or not. Never panics, whatever the bytes.
pub fn parse(msg: &[u8], id: u16) -> Reply {
    let [id_hi, id_lo, flags_hi, flags_lo, ..] = *msg else { return Reply::Other };
    let is_response = flags_hi & 0x80 != 0;
    let opcode = (flags_hi >> 3) & 0x0f;
    if msg.len() < 12 || u16::from_be_bytes([id_hi, id_lo]) != id || !is_response || opcode != 0 {
        return Reply::Other;
    }
    Reply::Answer { rcode: flags_lo & 0x0f }
}

/// Why a worker failed its probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the DNS probe '{name}' to {addr} got no answer ({tries} tries within {seconds:.1} s)")]
    NoAnswer { name: String, addr: SocketAddr, tries: usize, seconds: f64 },
    #[error("the DNS probe '{name}' to {addr} was answered {rcode}")]
    Rcode { name: String, addr: SocketAddr, rcode: String },
    #[error("the DNS probe '{name}' to {addr} could not be sent: {source}")]
    Io { name: String, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("its control socket did not answer: {0}")]
    Control(#[from] ControlError),
}

/// One probe of one worker: the queries sent and those that failed, and the verdict.
#[derive(Debug)]
pub struct ProbeOutcome {
    /// DNS queries sent (tries).
    pub sent: u64,
    /// Queries that failed: no answer in their time, or a failure answer (SERVFAIL, REFUSED, ...).
    pub failed: u64,
    pub result: Result<(), ProbeError>,
}

impl ProbeOutcome {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Sends the probe query for `name` to `addr`: up to [`PROBE_TRIES`] tries; see the module documentation.
pub async fn dns(addr: SocketAddr, name: &str) -> ProbeOutcome {
    dns_with(addr, name, &TRY_TIMEOUTS).await
}

/// [`dns`] with explicit per-try timeouts (one try each).
pub async fn dns_with(addr: SocketAddr, name: &str, tries: &[Duration]) -> ProbeOutcome {
    let id: u16 = rand_id();
    let (mut sent, mut unanswered) = (0, 0);
    let fail = |sent, failed, e| ProbeOutcome { sent, failed, result: Err(e) };
    let msg = match query(id, name) {
        Ok(msg) => msg,
        Err(e) => return fail(0, 0, e.into()),
    };
    let io = |source| ProbeError::Io { name: name.to_owned(), addr, source };
    let local = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let socket = match UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => return fail(0, 0, io(e)),
    };
    let started = Instant::now();
    let mut buf = [0u8; 512];
    for timeout in tries {
        if let Err(e) = socket.send_to(&msg, addr).await {
            return fail(sent, unanswered, io(e));
        }
        sent += 1;
        let deadline = tokio::time::Instant::now() + *timeout;
        loop {
            match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
                Err(_) => break,
                // ICMP port unreachable (nobody listens) surfaces as a receive error: wait out the try.
                Ok(Err(_)) => {
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(Ok((n, from))) if from == addr => match parse(&buf[..n], id) {
                    Reply::Answer { rcode: 0 | 3 } => return ProbeOutcome { sent, failed: unanswered, result: Ok(()) },
                    Reply::Answer { rcode } => {
                        let rcode = rcode_name(rcode);
                        return fail(sent, unanswered + 1, ProbeError::Rcode { name: name.to_owned(), addr, rcode });
                    }
                    Reply::Other => {}
                },
                Ok(Ok(_)) => {}
            }
        }
        unanswered += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    fail(sent, unanswered, ProbeError::NoAnswer { name: name.to_owned(), addr, tries: tries.len(), seconds })
}

/// A query ID that differs between probes (no need for more: the probe socket is new and bound to loopback).
fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16) ^ std::process::id()) as u16
}

/// Probes a worker: its DNS probe listener on 127.0.0.1@`port` when it has one (see the module documentation),
/// then `worker.id` over its control socket `control`.
pub async fn check(control: &Path, port: Option<u16>, name: &str) -> ProbeOutcome {
    let mut outcome = ProbeOutcome { sent: 0, failed: 0, result: Ok(()) };
    if let Some(port) = port {
        outcome = dns(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)), name).await;
        if outcome.result.is_err() {
            return outcome;
        }
    }
    let command = Command::WorkerId;
    if let Err(e) = super::control::command(control, &command.lua(), command.timeout()).await {
        outcome.result = Err(e.into());
    }
    outcome
}

/// A loopback port that is free for both UDP and TCP right now (kresd's DNS listener binds both).
pub fn free_port() -> std::io::Result<u16> {
    let mut last = None;
    for _ in 0..10 {
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = udp.local_addr()?.port();
        match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(_) => return Ok(port),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free loopback port")))
}

/// Whether kresd's output (or error text) says it could not bind the probe listener on `port`.
pub fn bind_failed(text: &str, port: u16) -> bool {
    text.contains(&format!("127.0.0.1@{port}'")) || text.contains("failed to bind")
}

/// Gives the running worker behind the control socket `control` a probe listener on a free loopback port (a
/// runtime `net.listen`; kresd 6.5 accepts it, and the listener goes with the process). Returns its port, or
/// `None` (logged) when none could be bound: the worker is then probed through its control socket only.
pub async fn listen(control: &Path) -> Option<u16> {
    for _ in 0..LISTEN_ATTEMPTS {
        let port = match free_port() {
            Ok(port) => port,
            Err(e) => {
                tracing::warn!("no free loopback port for a probe listener: {e}");
                return None;
            }
        };
        let command = Command::ProbeListen { port };
        match super::control::command(control, &command.lua(), command.timeout()).await {
            Ok(_) => return Some(port),
            // Taken between our check and kresd's bind: try another.
            Err(ControlError::Lua(text)) if bind_failed(&text, port) => continue,
            Err(e) => {
                tracing::warn!("cannot give the worker at '{}' a probe listener: {e}", control.display());
                return None;
            }
        }
    }
    tracing::warn!("cannot give the worker at '{}' a probe listener: every port tried was taken", control.display());
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_query_is_id_rd_one_question_type_a() {
        let q = query(0xbeef, "localhost.").unwrap();
        assert_eq!(
            q,
            [
                0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's',
                b't', 0, 0, 1, 0, 1
            ]
        );
        assert_eq!(query(1, "a.b").unwrap()[12..], [1, b'a', 1, b'b', 0, 0, 1, 0, 1], "relative names too");
        assert_eq!(query(1, ".").unwrap()[12..], [0, 0, 1, 0, 1], "the root");
        assert!(query(1, "a..b").is_err());
        assert!(query(1, &"x".repeat(64)).is_err());
        let long = vec!["x".repeat(63); 4].join(".");
        assert!(query(1, &long).is_err(), "256 bytes in wire format");
        assert!(query(1, &long[2..]).is_ok());
    }

    /// A header with `id`, the flags and RCODE given.
    fn answer(id: u16, flags_hi: u8, rcode: u8) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[flags_hi, 0x80 | rcode, 0, 1, 0, 1, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn answers_are_matched_by_id_and_read_for_their_rcode() {
        assert_eq!(parse(&answer(7, 0x81, 0), 7), Reply::Answer { rcode: 0 });
        assert_eq!(parse(&answer(7, 0x81, 3), 7), Reply::Answer { rcode: 3 });
        assert_eq!(parse(&answer(7, 0x81, 2), 7), Reply::Answer { rcode: 2 });
        assert_eq!(parse(&answer(7, 0x85, 5), 7), Reply::Answer { rcode: 5 }, "AA set");
        assert_eq!(parse(&answer(8, 0x81, 0), 7), Reply::Other, "another ID");
        assert_eq!(parse(&answer(7, 0x01, 0), 7), Reply::Other, "a query, not an answer");
        assert_eq!(parse(&answer(7, 0x81 | (2 << 3), 0), 7), Reply::Other, "another opcode");
        assert_eq!(parse(&answer(7, 0x81, 0)[..11], 7), Reply::Other, "truncated header");
        assert_eq!(parse(&[], 7), Reply::Other);
        assert_eq!(rcode_name(2), "SERVFAIL");
        assert_eq!(rcode_name(9), "RCODE 9");
    }

    proptest! {
        #[test]
        fn the_parser_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), id in any::<u16>()) {
            match parse(&bytes, id) {
                Reply::Answer { rcode } => {
                    prop_assert!(bytes.len() >= 12 && bytes[0..2] == id.to_be_bytes() && bytes[2] & 0x80 != 0);
                    prop_assert_eq!(rcode, bytes[3] & 0x0f);
                }
                Reply::Other => {}
            }
        }

        #[test]
        fn built_queries_are_not_answers_to_themselves(id in any::<u16>(), name in "[a-z0-9-]{1,20}(\\.[a-z]{1,10}){0,3}\\.?") {
            let q = query(id, &name).unwrap();
            prop_assert_eq!(parse(&q, id), Reply::Other);
            prop_assert_eq!(u16::from_be_bytes([q[4], q[5]]), 1);
        }
    }

    /// A one-shot UDP responder on loopback answering with `reply(query)`.
    async fn responder(reply: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            for _ in 0..PROBE_TRIES {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else { return };
                if let Some(answer) = reply(&buf[..n]) {
                    let _ = socket.send_to(&answer, from).await;
                }
            }
        });
        addr
    }

    /// The query turned into an answer with `rcode`.
    fn echo(rcode: u8) -> impl Fn(&[u8]) -> Option<Vec<u8>> {
        move |q| {
            let mut a = q.to_vec();
            a[2] |= 0x80;
            a[3] = 0x80 | rcode;
            Some(a)
        }
    }

    #[tokio::test]
    async fn a_probe_passes_on_noerror_and_nxdomain_and_fails_on_servfail_refused_or_silence() {
        let short = [Duration::from_millis(100); PROBE_TRIES];
        for rcode in [0, 3] {
            let outcome = dns_with(responder(echo(rcode)).await, "localhost.", &short).await;
            assert!(outcome.is_ok() && outcome.sent == 1 && outcome.failed == 0, "{outcome:?}");
        }
        for (rcode, name) in [(2, "SERVFAIL"), (5, "REFUSED")] {
            let outcome = dns_with(responder(echo(rcode)).await, "localhost.", &short).await;
            assert_eq!((outcome.sent, outcome.failed), (1, 1), "a failure answer is a failed query");
            let e = outcome.result.unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
        let silent = dns_with(responder(|_| None).await, "localhost.", &short).await;
        assert_eq!((silent.sent, silent.failed), (3, 3));
        assert!(matches!(silent.result, Err(ProbeError::NoAnswer { tries: 3, .. })), "{:?}", silent.result);
        // Wrong IDs are ignored; the second try is answered.
        let first = std::sync::atomic::AtomicBool::new(true);
        let late = responder(move |q| {
            let mut a = echo(0)(q)?;
            if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                a[0] ^= 0xff;
            }
            Some(a)
        })
        .await;
        let outcome = dns_with(late, "localhost.", &short).await;
        assert!(outcome.is_ok() && outcome.sent == 2 && outcome.failed == 1, "{outcome:?}");
    }
}
