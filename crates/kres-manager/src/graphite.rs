//! The Graphite bridge (`/monitoring/graphite`, reference-manager.md §6): every `interval`, the manager collects
//! the same metrics as `/metrics/prometheus` and pushes them to a Graphite server in the plaintext protocol, one
//! line per sample: `<prefix>.<name>[.<label>.<value>]... <value> <unix seconds>\n`.
//!
//! Names follow the reference's bridge (prometheus_client's `GraphiteBridge`): labels sorted by name and
//! appended as `.name.value`, every character outside `[A-Za-z0-9_-]` of a name, label or value replaced by
//! `_` (so `instance_id="kresd:kresd0"` becomes `.instance_id.kresd_kresd0` and `le="0.001"` becomes
//! `.le.0_001`), the prefix used as written followed by a dot (none when empty), values printed like Python
//! floats (`12.0`).
//!
//! Transport: the reference always pushes over TCP and ignores the `tcp` option, whose documentation says
//! "Use TCP instead of UDP" and whose default is `false`. Sending UDP by default would silently lose metrics for
//! every user of the reference (carbon's UDP listener is off by default), so:
//! * `tcp` not written, or `tcp: true` → TCP (one connection per push, like the reference);
//! * `tcp: false` written explicitly → UDP datagrams of whole lines, at most [`UDP_PAYLOAD`] bytes each.
//!
//! The bridge starts with the manager when enabled, or as soon as a configuration enabling it is applied
//! (changing or disabling it at runtime is refused by the apply pipeline, so it never has to stop). A push that
//! fails is logged once (then at debug level until one works again) and retried at the next interval.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kres_datamodel::config::GraphiteSchema;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::manager::handle::{ManagerHandle, Snapshot};

/// The largest UDP datagram sent (fits a 1500-byte MTU with IPv6 and UDP headers).
pub const UDP_PAYLOAD: usize = 1400;
/// The longest a push may take (connect and send), at most.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// How the lines travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// TCP unless the document says `tcp: false` explicitly (see the module documentation).
    pub fn of(snapshot: &Snapshot) -> Transport {
        let explicit = snapshot.raw.pointer("/monitoring/graphite/tcp").is_some();
        if explicit && !snapshot.config.monitoring.graphite.tcp { Transport::Udp } else { Transport::Tcp }
    }
}

/// The running bridge; it ends when the manager's shutdown token is cancelled (or [`GraphiteTask::stop`]), or when
/// the manager's snapshots end.
pub struct GraphiteTask {
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl GraphiteTask {
    /// Cancels the task (if the shutdown token has not) and waits for it to end.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts the bridge task: it waits until Graphite is enabled, then pushes every interval, until `shutdown` is
/// cancelled.
pub fn spawn(handle: ManagerHandle, shutdown: CancellationToken) -> GraphiteTask {
    let stop = shutdown.child_token();
    let until = stop.clone();
    GraphiteTask { task: tokio::spawn(async move { until.run_until_cancelled(run(handle)).await.unwrap_or(()) }), stop }
}

async fn run(handle: ManagerHandle) {
    let mut snapshots = handle.subscribe();
    let Ok(snapshot) = snapshots.wait_for(|s| s.config.monitoring.graphite.enable).await.map(|s| s.clone()) else {
        return;
    };
    let config = snapshot.config.monitoring.graphite.clone();
    let transport = Transport::of(&snapshot);
    let Some(host) = config.host.as_ref().map(|h| h.as_str().to_owned()) else {
        return; // validation requires a host when enabled
    };
    let port = u16::try_from(config.port.get()).unwrap_or(2003);
    let interval = Duration::from_millis(config.interval.millis().max(1));
    tracing::info!(
        "pushing metrics to Graphite at {host} port {port} over {} every {}",
        if transport == Transport::Tcp { "TCP" } else { "UDP" },
        config.interval.as_str()
    );
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let text = render(&handle, &config).await;
        let result = tokio::time::timeout(PUSH_TIMEOUT.min(interval.max(Duration::from_secs(1))), async {
            match transport {
                Transport::Tcp => send_tcp(&host, port, &text).await,
                Transport::Udp => send_udp(&host, port, &text).await,
            }
        })
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out")));
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("pushing metrics to Graphite at {host} port {port} works again");
            }
            Ok(()) => {}
            Err(e) if failing => tracing::debug!("cannot push metrics to Graphite at {host} port {port}: {e}"),
            Err(e) => {
                failing = true;
                tracing::warn!("cannot push metrics to Graphite at {host} port {port}: {e}; retrying every interval");
            }
        }
    }
}

/// Collects the metrics now and renders them as Graphite lines.
async fn render(handle: &ManagerHandle, config: &GraphiteSchema) -> String {
    let stats = crate::metrics::collect(handle).await;
    let prometheus = crate::metrics::to_prometheus(&stats, &handle.snapshot());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    to_graphite(&prometheus, config.prefix.as_str(), now)
}

async fn send_tcp(host: &str, port: u16, text: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect((host, port)).await?;
    stream.write_all(text.as_bytes()).await?;
    stream.shutdown().await
}

async fn send_udp(host: &str, port: u16, text: &str) -> std::io::Result<()> {
    let target = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "the host name has no address"))?;
    let local: std::net::SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    for datagram in datagrams(text, UDP_PAYLOAD) {
        socket.send(datagram.as_bytes()).await?;
    }
    Ok(())
}

/// Splits lines into datagrams of at most `limit` bytes (a longer line goes alone).
pub fn datagrams(text: &str, limit: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if end > start && end - start + line.len() > limit {
            out.push(&text[start..end]);
            start = end;
        }
        end += line.len();
    }
    if end > start {
        out.push(&text[start..end]);
    }
    out
}

/// Converts Prometheus text exposition (as rendered by [`crate::metrics::to_prometheus`]) into Graphite
/// plaintext lines with timestamp `now`.
pub fn to_graphite(prometheus: &str, prefix: &str, now: u64) -> String {
    let mut out = String::with_capacity(prometheus.len());
    let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
    for line in prometheus.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, labels, value)) = parse_sample(line) else {
            tracing::debug!("graphite: skipping a sample that cannot be parsed: {line}");
            continue;
        };
        let Ok(number) = value.parse::<f64>() else { continue };
        if !number.is_finite() {
            continue;
        }
        let _ = write!(out, "{prefix}{}", sanitize(name));
        for (k, v) in labels {
            let _ = write!(out, ".{}.{}", sanitize(&k), sanitize(&v));
        }
        let _ = writeln!(out, " {} {now}", python_float(number));
    }
    out
}

/// Label (name, value) pairs.
type Labels = Vec<(String, String)>;

/// `name{k="v",...} value [timestamp]` → (name, labels sorted by name, value).
fn parse_sample(line: &str) -> Option<(&str, Labels, &str)> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, rest) = parse_labels(&line[open + 1..])?;
            (&line[..open], labels, rest)
        }
        None => {
            let (name, rest) = line.split_once(char::is_whitespace)?;
            (name, Vec::new(), rest)
        }
    };
    let value = rest.split_whitespace().next()?;
    let mut labels = labels;
    labels.sort();
    Some((name.trim(), labels, value))
}

/// Parses `k="v",k2="v2"}` (after the `{`); returns the labels and the text after the `}`.
fn parse_labels(mut s: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, rest) = s.split_once('=')?;
        let mut chars = rest.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        s = &rest[1 + end + 1..];
    }
}

/// Graphite path components may hold only `[A-Za-z0-9_-]` (dots separate components).
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// Like Python's `str(float)` for the values metrics have: `3.0`, `0.25`.
fn python_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 { format!("{v:.1}") } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_become_lines_with_sorted_sanitized_labels() {
        let text = "# HELP resolver_request_total total\n# TYPE resolver_request_total counter\n\
                    resolver_request_total{instance_id=\"kresd:kresd0\"} 12\n\
                    resolver_response_latency_bucket{le=\"0.001\",instance_id=\"kresd:kresd1\"} 3\n\
                    kres_manager_apply_duration_seconds 0.25\n\
                    weird{a=\"x\\\"y\\\\z\\n\"} 1e3\n\
                    inf_metric +Inf\n";
        let out = to_graphite(text, "kres.prod", 1700000000);
        assert_eq!(
            out,
            "kres.prod.resolver_request_total.instance_id.kresd_kresd0 12.0 1700000000\n\
             kres.prod.resolver_response_latency_bucket.instance_id.kresd_kresd1.le.0_001 3.0 1700000000\n\
             kres.prod.kres_manager_apply_duration_seconds 0.25 1700000000\n\
             kres.prod.weird.a.x_y_z_ 1000.0 1700000000\n"
        );
        assert_eq!(to_graphite("m 1\n", "", 5), "m 1.0 5\n", "no prefix, no leading dot");
    }

    #[test]
    fn real_prometheus_output_converts_completely() {
        use crate::metrics::WorkerStats;
        let stats = serde_json::json!({
            "answer": {"total": 5, "noerror": 5, "1ms": 4, "10ms": 1, "sum_ms": 7},
            "request": {"total": 5, "udp": 5},
            "query": {"edns": 1, "dnssec": 0}
        });
        let workers = vec![WorkerStats { instance: 0, stats: Some(stats) }, WorkerStats { instance: 1, stats: None }];
        let snapshot = snapshot("{}");
        let prometheus = crate::metrics::to_prometheus(&workers, &snapshot);
        let samples = prometheus.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
        let out = to_graphite(&prometheus, "p", 1);
        assert_eq!(out.lines().count(), samples, "one line per sample:\n{prometheus}\n{out}");
        for line in out.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "{line}");
            assert!(
                parts[0].starts_with("p.")
                    && parts[0].bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            );
            assert!(parts[1].parse::<f64>().is_ok() && parts[2] == "1", "{line}");
        }
        assert!(out.contains("p.resolver_request_total.instance_id.kresd_kresd0 5.0 1\n"), "{out}");
    }

    fn snapshot(yaml: &str) -> Snapshot {
        use std::sync::Arc;
        let node = kres_datamodel::parse::parse_yaml(yaml, "test").unwrap();
        let config = kres_datamodel::validate(&node, &kres_datamodel::ValidationOptions::lenient()).unwrap();
        Snapshot {
            raw: Arc::new(node.to_json()),
            etag: "x".into(),
            config: Arc::new(config),
            generation: 1,
            workers: vec![],
            gc_pid: None,
            metrics: Default::default(),
        }
    }

    #[test]
    fn udp_only_when_tcp_false_is_written() {
        let base = "monitoring:\n  graphite:\n    enable: true\n    host: 127.0.0.1\n";
        assert_eq!(Transport::of(&snapshot(base)), Transport::Tcp, "the reference's default");
        assert_eq!(Transport::of(&snapshot(&format!("{base}    tcp: true\n"))), Transport::Tcp);
        assert_eq!(Transport::of(&snapshot(&format!("{base}    tcp: false\n"))), Transport::Udp);
    }

    #[test]
    fn datagrams_hold_whole_lines() {
        let text = "aaaa 1 1\nbbbb 2 2\ncccc 3 3\n";
        assert_eq!(datagrams(text, 18), vec!["aaaa 1 1\nbbbb 2 2\n", "cccc 3 3\n"]);
        assert_eq!(datagrams(text, 4), vec!["aaaa 1 1\n", "bbbb 2 2\n", "cccc 3 3\n"], "long lines go alone");
        assert!(datagrams("", 100).is_empty());
    }
}
