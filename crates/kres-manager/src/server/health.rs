//! `GET /healthz` (the manager answers) and `GET /readyz`: every configured worker runs and answers a probe on
//! its control socket, and the resolver answers a DNS query (`localhost. A`, which kresd answers from its built-in
//! local data, with no upstream) on the first plain-DNS address listener; 503 with the reasons otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kres_datamodel::KresConfig;
use kres_datamodel::api::http::content_type;
use kres_datamodel::api::status::{self, DnsProbe, Readiness, WorkerProbe};
use kres_datamodel::config::{Endpoint, ListenKind};
use tokio::net::UdpSocket;

use super::AppState;

/// How long a worker may take to answer the readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn healthz(State(app): State<AppState>) -> Response {
    let generation = app.handle().snapshot().generation;
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type::TEXT)], status::alive(generation)).into_response()
}

pub(super) async fn readyz(State(app): State<AppState>) -> Response {
    let snapshot = app.handle().snapshot();
    let configured = snapshot.config.workers.count;
    let mut reasons = Vec::new();
    if snapshot.workers.len() < configured {
        reasons.push(format!("only {} of {configured} configured workers are running", snapshot.workers.len()));
    }
    // The worker probes and the DNS probe run concurrently.
    let dns = async {
        let target = dns_target(&snapshot.config)?;
        Some(match dns_probe(target).await {
            Ok(rcode) => {
                DnsProbe { target: target.to_string(), ready: true, rcode: Some(rcode.to_owned()), reason: None }
            }
            Err(reason) => DnsProbe { target: target.to_string(), ready: false, rcode: None, reason: Some(reason) },
        })
    };
    let (results, dns) = tokio::join!(app.handle().command_workers(&crate::manager::kresd::Command::WorkerId), dns);
    let mut workers: Vec<WorkerProbe> = results
        .into_iter()
        .map(|(worker, result)| {
            let expected = worker.instance.to_string();
            let reason = match result {
                Ok(serde_json::Value::String(id)) if id == expected => None,
                Ok(other) => Some(format!("answered worker.id = {other}, expected '{expected}'")),
                Err(e) => Some(e.to_string()),
            };
            WorkerProbe {
                id: crate::metrics::instance_id(worker.instance),
                pid: worker.pid,
                ready: reason.is_none(),
                reason,
            }
        })
        .collect();
    workers.sort_by(|a, b| a.id.cmp(&b.id));
    let ready = reasons.is_empty() && workers.iter().all(|w| w.ready) && dns.as_ref().is_none_or(|d| d.ready);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = super::pretty_json(&Readiness { ready, configured, workers, dns, reasons });
    (status, [(header::CONTENT_TYPE, content_type::JSON)], body).into_response()
}

/// The first plain-DNS listener with an IP address (a wildcard address is probed on loopback).
fn dns_target(config: &KresConfig) -> Option<SocketAddr> {
    config.network.listen.iter().filter(|l| l.kind == ListenKind::Dns).flat_map(|l| l.endpoints()).find_map(|e| match e
    {
        Endpoint::Address { addr, port } => Some(SocketAddr::new(
            match addr {
                IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                other => other,
            },
            port,
        )),
        _ => None,
    })
}

/// Sends `localhost. A` over UDP and returns the answer's RCODE name; any answer means the resolver serves.
async fn dns_probe(target: SocketAddr) -> Result<&'static str, String> {
    let local: SocketAddr =
        if target.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket.connect(target).await.map_err(|e| format!("cannot reach {target}: {e}"))?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let mut query = id.to_be_bytes().to_vec();
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 9]);
    query.extend_from_slice(b"localhost");
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let exchange = async {
        socket.send(&query).await?;
        let mut buf = [0u8; 1500];
        loop {
            let n = socket.recv(&mut buf).await?;
            if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
                return Ok::<u8, std::io::Error>(buf[3] & 0x0f);
            }
        }
    };
    match tokio::time::timeout(PROBE_TIMEOUT, exchange).await {
        Ok(Ok(rcode)) => Ok(rcode_name(rcode)),
        Ok(Err(e)) => Err(format!("DNS query to {target} failed: {e}")),
        Err(_) => Err(format!("no DNS answer from {target} within {PROBE_TIMEOUT:?}")),
    }
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "other",
    }
}
