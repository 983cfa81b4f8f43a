//! Who may use the API, checked before any handler runs (a middleware over the whole router).
//!
//! * **Unix socket**: the socket file is mode 0660; the peer's credentials (`SO_PEERCRED`) must be uid 0, the
//!   user the manager runs as, or a member of `/management/unix-socket-group` (primary group from `SO_PEERCRED`,
//!   supplementary groups from `/proc/<pid>/status`). Anyone else gets 403 with the reason. No token is needed;
//!   the identity recorded for a change is the peer's uid and pid.
//! * **TCP** (plain or TLS): with no `/management/tokens`, everything is allowed, as in the reference. Once a
//!   token is configured, every request needs `Authorization: Bearer <secret>` (401 with `WWW-Authenticate`
//!   otherwise), except GETs of the metrics routes when `/management/metrics-unauthenticated` is set. A `read`
//!   token may GET the configuration, schema, metrics, processes, history, events and the health routes; anything
//!   else needs an `admin` token (403). The identity recorded for a change is the token's name.
//!
//! Tokens are read from the configuration in force at each request, so a change of `/management/tokens` applies
//! to the next request. A secret is checked against the argon2id hashes (tens of milliseconds, at most
//! [`VERIFYING`] at once, on the blocking pool); a verified secret is remembered under a keyed BLAKE2b MAC of it
//! (a random key per process; the secret itself is never stored or logged) together with the hash it matched,
//! and is valid only while a token of that name still has that hash. The remembered MACs are compared in constant
//! time. Repeated failures from one address wait longer and longer before their secret is even looked at
//! ([`Failures`]).

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::PasswordVerifier;
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use blake2::digest::{KeyInit, Mac};
use kres_datamodel::api::routes;
use kres_datamodel::config::{ManagementSchema, TokenScope};
use tokio::sync::Semaphore;

use super::errors::ApiError;
use crate::manager::handle::{Client, ManagerHandle};

/// The `WWW-Authenticate` challenge of a 401.
pub(crate) const CHALLENGE: &str = "Bearer realm=\"knot-resolver\"";

/// At most this many argon2 verifications run at once (each takes ~19 MiB with the default parameters).
const VERIFYING: usize = 2;

/// At most this many verified secrets are remembered.
const VERIFIED_MAX: usize = 256;

/// How a connection reached the API; every request of the connection carries it as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    /// The unix socket, with the peer's credentials (`None` when `SO_PEERCRED` failed).
    Unix(Option<PeerCred>),
    /// TCP (after the TLS handshake when TLS is on).
    Tcp { peer: SocketAddr },
}

/// `SO_PEERCRED` of a unix socket peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
}

type MacKey = blake2::Blake2bMac<blake2::digest::consts::U32>;

/// The access checks' state (shared by every connection).
#[derive(Clone)]
pub(crate) struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    handle: ManagerHandle,
    /// The uid the manager runs as (the resolver's user).
    own_uid: u32,
    mac_key: [u8; 32],
    verified: Mutex<Vec<Verified>>,
    failures: Mutex<Failures>,
    verifying: Semaphore,
}

/// A secret that matched a token: its MAC, and the token's name and hash at the time.
struct Verified {
    mac: [u8; 32],
    name: String,
    hash: String,
}

impl Auth {
    pub fn new(handle: ManagerHandle) -> Self {
        let mut mac_key = [0u8; 32];
        // The key only has to be unpredictable to clients; if the kernel's random source cannot be read, a
        // time-and-pid based key is still a keyed hash nobody outside knows.
        if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut mac_key)).is_err() {
            let seed = format!("{:?}{}", Instant::now(), std::process::id());
            mac_key.copy_from_slice(<blake2::Blake2s256 as blake2::Digest>::digest(seed.as_bytes()).as_slice());
        }
        Auth {
            inner: Arc::new(Inner {
                handle,
                own_uid: rustix::process::geteuid().as_raw(),
                mac_key,
                verified: Mutex::new(Vec::new()),
                failures: Mutex::new(Failures::default()),
                verifying: Semaphore::new(VERIFYING),
            }),
        }
    }

    fn mac(&self, secret: &str) -> [u8; 32] {
        let mut mac = <MacKey as KeyInit>::new_from_slice(&self.inner.mac_key).expect("a 32-byte key fits BLAKE2b");
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The token `secret` belongs to, among `management`'s tokens.
    async fn token_of(&self, secret: &str, management: &ManagementSchema) -> Option<(String, TokenScope)> {
        let mac = self.mac(secret);
        let remembered = {
            let verified = lock(&self.inner.verified);
            // Every entry is compared, each in constant time.
            let mut found = None;
            for entry in verified.iter() {
                if constant_time_eq(&entry.mac, &mac) {
                    found = Some((entry.name.clone(), entry.hash.clone()));
                }
            }
            found
        };
        if let Some((name, hash)) = remembered {
            let current = management.tokens.iter().find(|t| t.name.as_str() == name && t.hash.as_str() == hash);
            if let Some(token) = current {
                return Some((name, token.scope));
            }
            // The token was removed or hashed again (the same secret may have a new hash): check from scratch.
            lock(&self.inner.verified).retain(|e| e.mac != mac);
        }
        let hashes: Vec<(String, String, TokenScope)> =
            management.tokens.iter().map(|t| (t.name.to_string(), t.hash.to_string(), t.scope)).collect();
        let secret = secret.to_owned();
        let _permit = self.inner.verifying.acquire().await.ok()?;
        let matched =
            tokio::task::spawn_blocking(move || hashes.into_iter().find(|(_, hash, _)| verify(&secret, hash)))
                .await
                .ok()??;
        let (name, hash, scope) = matched;
        let mut verified = lock(&self.inner.verified);
        verified.retain(|e| e.mac != mac);
        if verified.len() >= VERIFIED_MAX {
            verified.remove(0);
        }
        verified.push(Verified { mac, name: name.clone(), hash });
        Some((name, scope))
    }
}

/// Whether `secret` matches the argon2 PHC `hash` (its own constant-time comparison).
fn verify(secret: &str, hash: &str) -> bool {
    argon2::password_hash::PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2::Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why an `Authorization` header is not a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BearerError {
    NotBearer,
    Malformed,
}

/// The secret of `Authorization: Bearer <secret>` (RFC 6750 §2.1: the scheme in any case, one or more spaces,
/// a token68: letters, digits, `-._~+/`, then `=` padding only; surrounding spaces are ignored).
pub(crate) fn parse_bearer(value: &[u8]) -> Result<&str, BearerError> {
    let value = std::str::from_utf8(value).map_err(|_| BearerError::Malformed)?.trim_matches(' ');
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let secret = rest.trim_start_matches(' ');
    let body = secret.trim_end_matches('=');
    let ok = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'));
    if ok { Ok(secret) } else { Err(BearerError::Malformed) }
}

/// Whether a `read` token may do `method path`.
pub(crate) fn is_read(method: &Method, path: &str) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    path == routes::INDEX
        || path == routes::HEALTHZ
        || path == routes::READYZ
        || [routes::CONFIG, routes::SCHEMA, routes::METRICS, routes::PROCESSES, routes::HISTORY, routes::EVENTS]
            .into_iter()
            .any(under)
}

fn is_metrics(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && (path == routes::METRICS || path == routes::METRICS_JSON || path == routes::METRICS_PROMETHEUS)
}

/// The middleware: lets a request through (with the client's identity) or answers 401/403.
pub(crate) async fn check(
    State(auth): State<Auth>,
    transport: Option<Extension<Transport>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(Extension(transport)) = transport else { return next.run(request).await };
    let snapshot = auth.inner.handle.snapshot();
    let management = &snapshot.config.management;
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let who = match transport {
        Transport::Unix(cred) => match unix_peer_allowed(cred, auth.inner.own_uid, management) {
            Ok(who) => who,
            Err(reason) => {
                tracing::warn!("management API: refused {method} {path} on the unix socket: {reason}");
                return ApiError::new(StatusCode::FORBIDDEN, reason).into_response();
            }
        },
        Transport::Tcp { peer } => {
            if management.tokens.is_empty() {
                format!("{peer} (no tokens configured)")
            } else if management.metrics_unauthenticated && is_metrics(&method, &path) {
                format!("{peer} (metrics without a token)")
            } else {
                let header = request.headers().get(header::AUTHORIZATION).cloned();
                match authenticate(&auth, header, peer.ip(), management).await {
                    Err(response) => return response,
                    Ok((name, scope)) => {
                        if scope == TokenScope::Read && !is_read(&method, &path) {
                            tracing::warn!(
                                "management API: refused {method} {path} from {peer}: token '{name}' has the read scope"
                            );
                            return ApiError::new(
                                StatusCode::FORBIDDEN,
                                format!(
                                    "the token '{name}' has the 'read' scope; {method} {path} needs a token with the \
                                     'admin' scope"
                                ),
                            )
                            .into_response();
                        }
                        let who = format!("token '{name}' from {peer}");
                        request.extensions_mut().insert(Client::Token { name });
                        who
                    }
                }
            }
        }
    };
    if method != Method::GET && method != Method::HEAD {
        tracing::info!("management API: {method} {path} by {who}");
    }
    next.run(request).await
}

/// The token of a TCP request, or the 401 to answer.
async fn authenticate(
    auth: &Auth,
    header: Option<HeaderValue>,
    ip: IpAddr,
    management: &ManagementSchema,
) -> Result<(String, TokenScope), Response> {
    let unauthorized = |message: &str, error: Option<&str>| {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
        let challenge = match error {
            Some(error) => format!("{CHALLENGE}, error=\"{error}\""),
            None => CHALLENGE.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    };
    let Some(value) = header else {
        return Err(unauthorized(
            "a token is required: send 'Authorization: Bearer <secret>' (kresctl --token, --token-file or \
             KRES_API_TOKEN)",
            None,
        ));
    };
    let secret = match parse_bearer(value.as_bytes()) {
        Ok(secret) => secret,
        Err(BearerError::NotBearer) => {
            return Err(unauthorized("only 'Authorization: Bearer <secret>' is accepted", Some("invalid_request")));
        }
        Err(BearerError::Malformed) => {
            return Err(unauthorized(
                "the Authorization header is not a well-formed bearer token",
                Some("invalid_request"),
            ));
        }
    };
    let delay = lock(&auth.inner.failures).delay(ip, Instant::now());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match auth.token_of(secret, management).await {
        Some(found) => {
            lock(&auth.inner.failures).succeeded(ip);
            Ok(found)
        }
        None => {
            let count = lock(&auth.inner.failures).failed(ip, Instant::now());
            tracing::warn!("management API: a wrong token from {ip} ({count} failure(s) in a row)");
            Err(unauthorized("the token is not valid", Some("invalid_token")))
        }
    }
}

/// Whether a unix socket peer may use the API: `Ok(who)` or `Err(reason)`.
fn unix_peer_allowed(cred: Option<PeerCred>, own_uid: u32, management: &ManagementSchema) -> Result<String, String> {
    let Some(cred) = cred else {
        return Err("the peer's credentials (SO_PEERCRED) could not be read".into());
    };
    let who = format!("uid {} (pid {})", cred.uid, cred.pid);
    if cred.uid == 0 || cred.uid == own_uid {
        return Ok(who);
    }
    let group = management.unix_socket_group.as_ref().map(|g| g.as_str());
    if let Some(name) = group
        && let Some(gid) = group_id(name)
        && (cred.gid == gid || supplementary_groups(cred.pid).contains(&gid))
    {
        return Ok(format!("{who}, member of group '{name}'"));
    }
    let allowed = match group {
        Some(name) => format!("uid 0, the resolver's user (uid {own_uid}) and members of the group '{name}'"),
        None => format!(
            "uid 0 and the resolver's user (uid {own_uid}); set /management/unix-socket-group to let a group in"
        ),
    };
    Err(format!(
        "the management socket accepts {allowed}; the peer is uid {} gid {} (pid {})",
        cred.uid, cred.gid, cred.pid
    ))
}

/// The gid of a group given by name (from `/etc/group`) or number.
fn group_id(name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name)).then(|| fields.nth(1)?.parse().ok()).flatten()
    })
}

/// The supplementary groups of a process (`Groups:` of `/proc/<pid>/status`); empty if it is gone.
fn supplementary_groups(pid: u32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return Vec::new() };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|groups| groups.split_whitespace().filter_map(|g| g.parse().ok()).collect())
        .unwrap_or_default()
}

/// The socket file's group, set when it is created (`/management/unix-socket-group`).
pub(crate) fn socket_group(management: &ManagementSchema) -> Option<(String, Option<u32>)> {
    let name = management.unix_socket_group.as_ref()?.as_str().to_owned();
    let gid = group_id(&name);
    Some((name, gid))
}

/// Failed token checks per client address: after the first few failures in a row, each check of a secret from
/// that address first waits, doubling from [`Failures::FIRST_DELAY`] up to [`Failures::MAX_DELAY`]. A success
/// clears the address; an address quiet for [`Failures::FORGET`] starts again from zero. At most
/// [`Failures::MAX_ADDRESSES`] addresses are tracked (the one failing longest ago is forgotten first).
#[derive(Debug, Default)]
pub(crate) struct Failures {
    by_address: HashMap<IpAddr, (u32, Instant)>,
}

impl Failures {
    pub const FREE: u32 = 3;
    pub const FIRST_DELAY: Duration = Duration::from_millis(100);
    pub const MAX_DELAY: Duration = Duration::from_secs(10);
    pub const FORGET: Duration = Duration::from_secs(600);
    pub const MAX_ADDRESSES: usize = 4096;

    /// How long a check from `ip` waits now.
    pub fn delay(&self, ip: IpAddr, now: Instant) -> Duration {
        match self.by_address.get(&ip) {
            Some(&(count, last)) if now.duration_since(last) < Self::FORGET && count >= Self::FREE => {
                let doublings = (count - Self::FREE).min(16);
                (Self::FIRST_DELAY * 2u32.pow(doublings)).min(Self::MAX_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    /// Records a failure; the number of failures in a row from `ip`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> u32 {
        if !self.by_address.contains_key(&ip) && self.by_address.len() >= Self::MAX_ADDRESSES {
            self.by_address.retain(|_, (_, last)| now.duration_since(*last) < Self::FORGET);
            if self.by_address.len() >= Self::MAX_ADDRESSES
                && let Some(oldest) = self.by_address.iter().min_by_key(|(_, (_, last))| *last).map(|(ip, _)| *ip)
            {
                self.by_address.remove(&oldest);
            }
        }
        let entry = self.by_address.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= Self::FORGET {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        entry.0
    }

    pub fn succeeded(&mut self, ip: IpAddr) {
        self.by_address.remove(&ip);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_address.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bearer_headers() {
        assert_eq!(parse_bearer(b"Bearer abc"), Ok("abc"));
        assert_eq!(parse_bearer(b"bearer   a-b.c_d~e+f/g=="), Ok("a-b.c_d~e+f/g=="));
        assert_eq!(parse_bearer(b" BEARER x "), Ok("x"));
        assert_eq!(parse_bearer(b"Basic dXNlcjpwYXNz"), Err(BearerError::NotBearer));
        assert_eq!(parse_bearer(b"Bearerabc"), Err(BearerError::NotBearer));
        for bad in
            [&b"Bearer"[..], b"Bearer ", b"Bearer a b", b"Bearer ==", b"Bearer a=b", b"Bearer \xff", b"Bearer a\tb"]
        {
            assert_eq!(parse_bearer(bad), Err(BearerError::Malformed), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    const TOKEN68: &str = "[A-Za-z0-9._~+/-]{1,80}=*";

    proptest! {
        /// Every well-formed header gives back its secret, whatever the scheme's case and the spaces.
        #[test]
        fn bearer_round_trip(secret in TOKEN68, upper in proptest::collection::vec(any::<bool>(), 6), lead in 0usize..3, gap in 1usize..4, tail in 0usize..3) {
            let scheme: String = "bearer".chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect();
            let header = format!("{}{scheme}{}{secret}{}", " ".repeat(lead), " ".repeat(gap), " ".repeat(tail));
            prop_assert_eq!(parse_bearer(header.as_bytes()), Ok(secret.as_str()));
        }

        /// Any bytes: no panic, and an accepted secret is a token68 found verbatim in the header.
        #[test]
        fn bearer_never_accepts_garbage(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(secret) = parse_bearer(&value) {
                let text = String::from_utf8(value.clone()).unwrap();
                prop_assert!(text.contains(secret));
                prop_assert!(text.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer")));
                prop_assert!(!secret.is_empty() && !secret.starts_with('='));
                prop_assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)));
            }
        }

        /// A secret with anything outside token68 (a space, a control character, a quote) is refused.
        #[test]
        fn bearer_refuses_other_characters(head in TOKEN68, bad in "[ \t\"',;\\\\\u{0}-\u{1f}\u{80}-\u{ff}]", tail in "[A-Za-z0-9]{1,4}") {
            let header = format!("Bearer {head}{bad}{tail}");
            prop_assert!(parse_bearer(header.as_bytes()).is_err());
        }
    }

    #[test]
    fn read_scope_routes() {
        for (method, path) in [
            (Method::GET, "/"),
            (Method::GET, "/v1/config"),
            (Method::GET, "/v1/config/workers"),
            (Method::GET, "/schema"),
            (Method::GET, "/metrics/prometheus"),
            (Method::GET, "/processes/kresd"),
            (Method::GET, "/v1/history"),
            (Method::GET, "/v1/history/3/diff/4"),
            (Method::GET, "/v1/events"),
            (Method::GET, "/healthz"),
            (Method::HEAD, "/readyz"),
        ] {
            assert!(is_read(&method, path), "{method} {path}");
        }
        for (method, path) in [
            (Method::PUT, "/v1/config/workers"),
            (Method::POST, "/stop"),
            (Method::POST, "/reload"),
            (Method::POST, "/cache/clear"),
            (Method::POST, "/v1/history/3/rollback"),
            (Method::DELETE, "/v1/config"),
            (Method::GET, "/v1/configs"),
            (Method::GET, "/stop"),
        ] {
            assert!(!is_read(&method, path), "{method} {path}");
        }
    }

    #[test]
    fn failures_slow_down_and_forget() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let start = Instant::now();
        let mut f = Failures::default();
        let mut delays = Vec::new();
        for i in 0..12 {
            delays.push(f.delay(ip, start));
            assert_eq!(f.failed(ip, start), i + 1);
        }
        assert_eq!(&delays[..3], &[Duration::ZERO; 3], "the first failures are free");
        assert_eq!(delays[3], Failures::FIRST_DELAY);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert_eq!(f.delay(ip, start), Failures::MAX_DELAY, "capped");
        assert_eq!(f.delay(other, start), Duration::ZERO, "per address");
        assert_eq!(f.delay(ip, start + Failures::FORGET), Duration::ZERO, "forgotten when quiet");
        assert_eq!(f.failed(ip, start + Failures::FORGET), 1);
        f.failed(ip, start);
        f.succeeded(ip);
        assert_eq!(f.delay(ip, start), Duration::ZERO, "a success clears the address");
    }

    #[test]
    fn failures_use_bounded_memory() {
        let start = Instant::now();
        let mut f = Failures::default();
        for i in 0..(Failures::MAX_ADDRESSES as u32 + 500) {
            let ip = IpAddr::from(std::net::Ipv6Addr::from(u128::from(i)));
            f.failed(ip, start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(f.len(), Failures::MAX_ADDRESSES);
        // The newest address is still tracked, the oldest was dropped.
        let newest = IpAddr::from(std::net::Ipv6Addr::from(u128::from(Failures::MAX_ADDRESSES as u32 + 499)));
        assert!(f.by_address.contains_key(&newest));
        assert!(!f.by_address.contains_key(&IpAddr::from(std::net::Ipv6Addr::from(0u128))));
    }

    #[test]
    fn unix_peers() {
        let mut management = ManagementSchema::default_socket();
        let cred = |uid, gid| Some(PeerCred { uid, gid, pid: std::process::id() });
        assert!(unix_peer_allowed(cred(0, 0), 1000, &management).is_ok());
        assert!(unix_peer_allowed(cred(1000, 1000), 1000, &management).is_ok());
        let refused = unix_peer_allowed(cred(4242, 4242), 1000, &management).unwrap_err();
        assert!(refused.contains("uid 4242") && refused.contains("unix-socket-group"), "{refused}");
        assert!(unix_peer_allowed(None, 1000, &management).is_err());
        management.unix_socket_group = Some(kres_datamodel::types::Text::new("4242"));
        assert!(unix_peer_allowed(cred(4242, 4242), 1000, &management).is_ok(), "primary group");
        let refused = unix_peer_allowed(cred(4243, 4243), 1000, &management).unwrap_err();
        assert!(refused.contains("members of the group '4242'"), "{refused}");
    }

    #[test]
    fn group_ids() {
        assert_eq!(group_id("0"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("no-such-group-here"), None);
    }

    /// The MAC depends on the key; the comparison sees every byte.
    #[test]
    fn mac_is_keyed() {
        let key_a = [1u8; 32];
        let mut a = <MacKey as KeyInit>::new_from_slice(&key_a).unwrap();
        a.update(b"secret");
        let mut b = <MacKey as KeyInit>::new_from_slice(&[2u8; 32]).unwrap();
        b.update(b"secret");
        assert_ne!(a.finalize().into_bytes(), b.finalize().into_bytes());
        assert!(constant_time_eq(&[7; 32], &[7; 32]));
        let mut c = [7; 32];
        c[31] = 8;
        assert!(!constant_time_eq(&[7; 32], &c));
    }
}
