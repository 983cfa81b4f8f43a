//! The HTTP client of the manager's API over a unix-domain socket, TCP or TLS (rustls: the server's certificate
//! checked against `--cacert` or the system's CAs, and a client certificate for mutual TLS): hyper's HTTP/1.1
//! client connection (the same HTTP stack as the manager's server), one request per connection
//! (`Connection: close`), one deadline for the whole exchange. Over TCP a bearer token is sent when one is given;
//! never over the unix socket, where the manager checks the peer's credentials instead.
//!
//! `kresctl` sends one request and exits, so the API stays blocking: each request runs on a current-thread tokio
//! runtime created for it. Only the online commands build one; the offline ones (validate, convert, schema,
//! migrate) never start a runtime. The deadline is generous ([`DEFAULT_TIMEOUT`], like the reference's 5 minutes):
//! a configuration change answers only after the rolling restart of every worker.

use std::fmt;
use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use kres_datamodel::api::errors::ErrorResponse;
use kres_datamodel::api::http::content_type;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::socket::{ApiSocket, Endpoint};

/// How long one request may take, connection to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A client of the API at one socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: ApiSocket,
    timeout: Duration,
    /// Sent with every request besides the usual ones (`If-Match`).
    extra_headers: Vec<(String, String)>,
    token: Option<Secret>,
    tls: TlsOptions,
}

/// A bearer token's secret; never shown by `Debug`.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The files of an `https://` connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates (PEM) the manager's certificate must chain to; the system's CAs when `None`.
    pub cacert: Option<PathBuf>,
    /// A client certificate chain and its key (PEM), for mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// The system's CA bundle (Debian's ca-certificates), used without `--cacert`.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case (look them up with [`Response::header`]).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Ok(self)` for a 2xx status, else the [`StatusError`] (`status: N`, `body:`, the body, like the reference).
    pub fn success(self) -> Result<Response, StatusError> {
        if self.is_success() { Ok(self) } else { Err(StatusError { status: self.status, body: self.text() }) }
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            anyhow::anyhow!("the manager answered with invalid JSON ({e}):\n{}", truncate(&self.text(), 2000))
        })
    }
}

/// The manager answered with a failure status (the contract's error answer). Displayed like the reference's client
/// does: `status: N`, `body:`, the body.
pub type StatusError = ErrorResponse;

/// The request did not get an answer.
#[derive(Debug)]
pub enum ClientError {
    /// No connection (no socket file, nobody listening, unknown host, ...).
    Connect { socket: ApiSocket, url: String, source: io::Error },
    /// The answer did not come in time.
    Timeout { socket: ApiSocket, url: String, timeout: Duration },
    /// The connection broke or the answer is not HTTP.
    Protocol { socket: ApiSocket, url: String, message: String },
    /// TLS failed: the manager's certificate is not trusted or not valid for the name, the client certificate was
    /// refused, or the TLS files could not be read.
    Tls { socket: ApiSocket, url: String, message: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, socket, url) = match self {
            ClientError::Connect { socket, url, source } => {
                (format!("cannot connect to the management API: {source}"), socket, url)
            }
            ClientError::Timeout { socket, url, timeout } => (
                format!(
                    "the management API did not answer within {timeout:?}. It does not mean that the operation \
                     failed; see the resolver's log"
                ),
                socket,
                url,
            ),
            ClientError::Protocol { socket, url, message } => {
                (format!("communication with the management API failed: {message}"), socket, url)
            }
            ClientError::Tls { socket, url, message } => {
                (format!("TLS with the management API failed: {message}"), socket, url)
            }
        };
        f.write_str(&diagnostic(&what, socket, url))
    }
}

/// The I/O error is part of the message, not a `source`: `{:#}` would print it a second time.
impl std::error::Error for ClientError {}

/// The reference's connection diagnostic: what failed, the URL, the socket path or host, where it came from.
fn diagnostic(what: &str, socket: &ApiSocket, url: &str) -> String {
    let target = match &socket.endpoint {
        Endpoint::Unix(path) => format!("unix socket {}", path.display()),
        Endpoint::Tcp { host, port } => format!("TCP {host} port {port}"),
        Endpoint::Https { host, port } => format!("TLS over TCP {host} port {port}"),
    };
    format!(
        "{what}\n\tURL:           {url}\n\tHost/Path:     {target}\n\tSourced from:  {}\n\
         Is the resolver running, and is this its management API? Give the socket with -s/--socket (a unix socket \
         path, http+unix://<url-encoded path>, http://<address>:<port> or https://<host>:<port>) or the resolver's \
         configuration file with -c/--config.",
        socket.source
    )
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl Client {
    pub fn new(socket: ApiSocket) -> Client {
        Client { socket, timeout: DEFAULT_TIMEOUT, extra_headers: Vec::new(), token: None, tls: TlsOptions::default() }
    }

    /// Sends `Authorization: Bearer <token>` on TCP and TLS connections.
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token.map(Secret);
        self
    }

    /// The CA and client certificate of `https://` connections.
    pub fn with_tls(mut self, tls: TlsOptions) -> Client {
        self.tls = tls;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    pub fn socket(&self) -> &ApiSocket {
        &self.socket
    }

    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Option<&[u8]>) -> Result<Response, ClientError> {
        self.request("POST", path, body.map(|b| (content_type::JSON, b)))
    }

    /// Sends `method path` (`path` is the request target, starting with `/`, already percent-encoded) with an
    /// optional `(content type, body)`, and reads the whole answer.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Result<Response, ClientError> {
        let url = format!("{}{path}", self.socket.uri());
        let protocol =
            |message: String| ClientError::Protocol { socket: self.socket.clone(), url: url.clone(), message };
        let request = self.build_request(method, path, body).map_err(|e| protocol(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| protocol(format!("cannot start the I/O runtime: {e}")))?;
        let outcome = runtime.block_on(async {
            tokio::time::timeout(self.timeout, async {
                let stream = self.connect().await?;
                exchange(stream, request, &self.tls, self.tls_host()).await
            })
            .await
        });
        // Do not wait for a name lookup still running on the blocking pool after a timeout.
        runtime.shutdown_background();
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(Failure::Connect(source))) if source.kind() == io::ErrorKind::TimedOut => {
                Err(self.timeout_error(&url))
            }
            Ok(Err(Failure::Connect(source))) => Err(ClientError::Connect { socket: self.socket.clone(), url, source }),
            Ok(Err(Failure::Protocol(message))) => Err(protocol(message)),
            Ok(Err(Failure::Tls(message))) => Err(ClientError::Tls { socket: self.socket.clone(), url, message }),
            Err(_elapsed) => Err(self.timeout_error(&url)),
        }
    }

    /// The request as the manager expects it: `Host`, `User-Agent`, `Connection: close`, and `Content-Length`
    /// whenever there is a body or the method usually has one (`POST` without a body says `Content-Length: 0`).
    fn build_request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
        let host = self.socket.endpoint.authority().unwrap_or_else(|| "localhost".to_owned());
        let method = Method::from_bytes(method.as_bytes())?;
        let payload = body.map_or(&[][..], |(_, b)| b);
        let mut builder = Request::builder()
            .method(&method)
            .uri(path)
            .header(header::HOST, host)
            .header(header::USER_AGENT, concat!("kresctl/", env!("CARGO_PKG_VERSION")))
            .header(header::ACCEPT, "*/*")
            .header(header::CONNECTION, "close");
        if let Some((content_type, _)) = body {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        if let (Some(Secret(token)), Endpoint::Tcp { .. } | Endpoint::Https { .. }) =
            (&self.token, &self.socket.endpoint)
        {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        for (name, value) in &self.extra_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if body.is_some() || [Method::POST, Method::PUT, Method::PATCH].contains(&method) {
            builder = builder.header(header::CONTENT_LENGTH, HeaderValue::from(payload.len()));
        }
        builder.body(Full::new(Bytes::copy_from_slice(payload)))
    }

    async fn connect(&self) -> Result<Stream, Failure> {
        match &self.socket.endpoint {
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await.map_err(Failure::Connect)?)),
            Endpoint::Tcp { host, port } => Ok(Stream::Tcp(tcp_connect(host, *port).await.map_err(Failure::Connect)?)),
            Endpoint::Https { host, port } => {
                let config = tls_config(&self.tls).map_err(Failure::Tls)?;
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| Failure::Tls(format!("'{host}' is not a valid server name: {e}")))?;
                let tcp = tcp_connect(host, *port).await.map_err(Failure::Connect)?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Failure::Tls(tls_reason(&e, &self.tls, host).unwrap_or_else(|| e.to_string())))?;
                Ok(Stream::Tls(Box::new(stream)))
            }
        }
    }

    /// The host name the certificate must be valid for.
    fn tls_host(&self) -> &str {
        match &self.socket.endpoint {
            Endpoint::Https { host, .. } | Endpoint::Tcp { host, .. } => host,
            Endpoint::Unix(_) => "localhost",
        }
    }

    fn timeout_error(&self, url: &str) -> ClientError {
        ClientError::Timeout { socket: self.socket.clone(), url: url.to_owned(), timeout: self.timeout }
    }
}

/// Why an exchange failed, before it becomes a [`ClientError`] (which also names the socket and the URL).
enum Failure {
    Connect(io::Error),
    Protocol(String),
    Tls(String),
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn tcp_connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("'{host}' has no address"))))
}

/// The rustls client configuration: the trusted CAs and, for mutual TLS, the client certificate.
fn tls_config(options: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_certs = |path: &std::path::Path, what: &str| {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read the {what} '{}': {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("the {what} '{}' holds no PEM certificate", path.display()));
        }
        Ok(certs)
    };
    let mut roots = rustls::RootCertStore::empty();
    match &options.cacert {
        Some(path) => {
            for cert in read_certs(path, "--cacert file")? {
                roots.add(cert).map_err(|e| format!("'{}': not a usable CA certificate: {e}", path.display()))?;
            }
        }
        None => {
            // Certificates of the system bundle that rustls cannot use are skipped.
            if let Ok(certs) = read_certs(std::path::Path::new(SYSTEM_CA_BUNDLE), "system CA bundle") {
                roots.add_parsable_certificates(certs);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert, "--cert file")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read a private key from the --key file '{}': {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("the --cert and --key files do not go together: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--cert and --key must be given together".into()),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The rustls error anywhere in `error`'s chain (rustls errors travel inside I/O errors, whose `source` skips
/// them).
fn rustls_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref());
        if let Some(tls) = inner.and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// A clear explanation of a TLS failure in `error`, or `None` when it is not a TLS failure.
fn tls_reason(error: &(dyn std::error::Error + 'static), options: &TlsOptions, host: &str) -> Option<String> {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    let trusted = match &options.cacert {
        Some(path) => format!("a CA of --cacert '{}'", path.display()),
        None => format!("a CA of the system's ({SYSTEM_CA_BUNDLE}); give the manager's CA with --cacert FILE"),
    };
    Some(match rustls_error(error)? {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer) => {
            format!("the manager's certificate is not trusted: it is not signed by {trusted}")
        }
        rustls::Error::InvalidCertificate(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => format!(
            "name mismatch: the manager's certificate is not valid for '{host}'; connect to a name or address that \
             the certificate lists"
        ),
        rustls::Error::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            "the manager's certificate has expired".to_owned()
        }
        rustls::Error::InvalidCertificate(other) => format!("the manager's certificate is not valid: {other:?}"),
        rustls::Error::AlertReceived(Alert::CertificateRequired | Alert::HandshakeFailure)
            if options.cert.is_none() =>
        {
            "the manager requires a client certificate (mutual TLS): give --cert FILE --key FILE".to_owned()
        }
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::DecryptError
            | Alert::CertificateRequired
            | Alert::HandshakeFailure,
        ) => "the manager refused the client certificate of --cert (mutual TLS): it is not signed by the manager's \
              client CA (/management/tls/client-ca-file), or it has expired"
            .to_owned(),
        other => other.to_string(),
    })
}

/// Sends the request over a fresh connection and reads the whole answer. hyper frames the body
/// (`Content-Length`, chunked or until the connection closes) and skips interim 1xx answers.
async fn exchange(
    stream: Stream,
    request: Request<Full<Bytes>>,
    tls: &TlsOptions,
    host: &str,
) -> Result<Response, Failure> {
    match stream {
        Stream::Unix(s) => exchange_over(s, request, tls, host).await,
        Stream::Tcp(s) => exchange_over(s, request, tls, host).await,
        Stream::Tls(s) => exchange_over(s, request, tls, host).await,
    }
}

async fn exchange_over<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    tls: &TlsOptions,
    host: &str,
) -> Result<Response, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer_gone = Arc::new(AtomicBool::new(false));
    let io = EarlyAnswer { inner: stream, peer_gone: peer_gone.clone() };
    let failed = |e: hyper::Error| {
        // A client certificate refused after a TLS 1.3 handshake shows up at the first read.
        if let Some(reason) = tls_reason(&e, tls, host) {
            return Failure::Tls(reason);
        }
        let mut message = error_chain(&e);
        if peer_gone.load(Ordering::Relaxed) {
            message.push_str(" (the manager closed the connection before reading the whole request)");
        }
        Failure::Protocol(message)
    };

    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        // Header names on the wire as kresctl has always sent them (`Content-Length`, not `content-length`).
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(failed)?;
    // The connection does the I/O while this task waits for the answer; an I/O failure there fails the request
    // (and the body) below, so the task's own result adds nothing.
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(failed)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(failed)?.to_bytes();
    driver.abort();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    Ok(Response { status: parts.status.as_u16(), headers, body: body.to_vec() })
}

/// The connection as hyper sees it. The manager may answer (413 for a too large body) and close before it has
/// read the whole request; writing to it then fails, and hyper would give up without reading the answer waiting
/// in the socket. So once the peer is gone, writes pretend to succeed (the rest of the request is dropped) and
/// the answer is read; if there is none, reading fails and `peer_gone` says why.
struct EarlyAnswer<S> {
    inner: S,
    peer_gone: Arc<AtomicBool>,
}

impl<S> EarlyAnswer<S> {
    /// `Ok(written)` for a write to a peer that went away (remembered), the result as it is otherwise.
    fn written(&self, result: Poll<io::Result<usize>>, len: usize) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Err(e)) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
                self.peer_gone.store(true, Ordering::Relaxed);
                Poll::Ready(Ok(len))
            }
            other => other,
        }
    }

    fn gone(&self) -> bool {
        self.peer_gone.load(Ordering::Relaxed)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EarlyAnswer<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EarlyAnswer<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.gone() {
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(result, buf.len())
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        if self.gone() {
            return Poll::Ready(Ok(len));
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(result, len)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.gone() { Poll::Ready(Ok(())) } else { Pin::new(&mut self.inner).poll_flush(cx) }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.gone() { Poll::Ready(Ok(())) } else { Pin::new(&mut self.inner).poll_shutdown(cx) }
    }
}

/// An error and its causes on one line (hyper's own message rarely says what the underlying I/O error was).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Streaming answers (`GET /v1/events`) and extra request headers.
impl Client {
    /// The same client, sending `name: value` with every request as well (`If-Match`).
    pub fn with_header(mut self, name: &str, value: &str) -> Client {
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends `GET path` and returns as soon as the answer's head has arrived (within the client's timeout); the
    /// body is then read piece by piece, as it comes, with [`Streaming::next`]. A thread of its own reads the
    /// connection; it ends with the body, or at the first piece after the [`Streaming`] is dropped, or with the
    /// process.
    pub fn get_stream(&self, path: &str) -> Result<Streaming, ClientError> {
        let url = format!("{}{path}", self.socket.uri());
        let protocol =
            |message: String| ClientError::Protocol { socket: self.socket.clone(), url: url.clone(), message };
        let request = self.build_request("GET", path, None).map_err(|e| protocol(e.to_string()))?;
        let (head_tx, head_rx) = std::sync::mpsc::channel();
        let (piece_tx, piece_rx) = std::sync::mpsc::channel();
        let client = self.clone();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = head_tx.send(Err(Failure::Protocol(format!("cannot start the I/O runtime: {e}"))));
                    return;
                }
            };
            runtime.block_on(async move {
                let stream = match client.connect().await {
                    Ok(stream) => stream,
                    Err(e) => {
                        let _ = head_tx.send(Err(e));
                        return;
                    }
                };
                match stream {
                    Stream::Unix(s) => stream_over(s, request, head_tx, piece_tx).await,
                    Stream::Tcp(s) => stream_over(s, request, head_tx, piece_tx).await,
                    Stream::Tls(s) => stream_over(s, request, head_tx, piece_tx).await,
                }
            });
            runtime.shutdown_background();
        });
        match head_rx.recv_timeout(self.timeout) {
            Ok(Ok((status, headers))) => Ok(Streaming { status, headers, pieces: piece_rx }),
            Ok(Err(Failure::Connect(source))) => Err(ClientError::Connect { socket: self.socket.clone(), url, source }),
            Ok(Err(Failure::Protocol(message))) => Err(protocol(message)),
            Ok(Err(Failure::Tls(message))) => Err(ClientError::Tls { socket: self.socket.clone(), url, message }),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(self.timeout_error(&url)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(protocol("the connection's reader stopped before the answer arrived".into()))
            }
        }
    }
}

/// An answer whose body is read as it arrives ([`Client::get_stream`]).
#[derive(Debug)]
pub struct Streaming {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pieces: std::sync::mpsc::Receiver<Result<Vec<u8>, String>>,
}

/// What [`Streaming::next`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// The next bytes of the body.
    Data(Vec<u8>),
    /// Nothing came within the time given.
    Idle,
    /// The body ended (the server closed the stream).
    End,
    /// The connection broke.
    Failed(String),
}

impl Streaming {
    /// The next piece of the body, waiting at most `wait`.
    pub fn next(&self, wait: Duration) -> Piece {
        match self.pieces.recv_timeout(wait) {
            Ok(Ok(data)) => Piece::Data(data),
            Ok(Err(message)) => Piece::Failed(message),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Piece::Idle,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Piece::End,
        }
    }

    /// The rest of the body (read for at most `wait`) as a whole [`Response`]: for a failure status.
    pub fn into_response(self, wait: Duration) -> Response {
        let deadline = std::time::Instant::now() + wait;
        let mut body = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.next(left) {
                Piece::Data(data) => body.extend_from_slice(&data),
                _ => break,
            }
        }
        Response { status: self.status, headers: self.headers, body }
    }
}

/// An answer's status and headers.
type Head = (u16, Vec<(String, String)>);

/// Sends the request, hands the answer's head to `head`, then every piece of its body to `pieces` until the body
/// ends, the connection fails or nobody reads `pieces` any more.
async fn stream_over<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    head: std::sync::mpsc::Sender<Result<Head, Failure>>,
    pieces: std::sync::mpsc::Sender<Result<Vec<u8>, String>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| Failure::Protocol(error_chain(&e));
    let exchange = async {
        let (mut sender, connection) =
            hyper::client::conn::http1::Builder::new().title_case_headers(true).handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        Ok::<_, hyper::Error>((driver, response))
    };
    let (driver, response) = match exchange.await {
        Ok(answer) => answer,
        Err(e) => {
            let _ = head.send(Err(failed(e)));
            return;
        }
    };
    let (parts, mut body) = response.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    if head.send(Ok((parts.status.as_u16(), headers))).is_err() {
        driver.abort();
        return;
    }
    while let Some(frame) = body.frame().await {
        let piece = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => Ok(data.to_vec()),
                Err(_trailers) => continue,
            },
            Err(e) => Err(error_chain(&e)),
        };
        let failed = piece.is_err();
        if pieces.send(piece).is_err() || failed {
            break;
        }
    }
    driver.abort();
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status: {}\nbody:\n{}", self.status, self.text())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::thread;

    use super::*;

    /// Serves `raw` as the answer to a GET over a unix socket, in pieces of `step` bytes; the client's result.
    fn answer_in_steps(name: &str, raw: &'static [u8], step: usize) -> Result<Response, ClientError> {
        let (_dir, path) = temp_socket(name);
        let listener = UnixListener::bind(&path).unwrap();
        let server = serve_once(move || listener.accept().unwrap().0, raw, step);
        let result = api(Endpoint::Unix(path.clone())).with_timeout(Duration::from_secs(10)).get("/");
        server.join().unwrap();
        result
    }

    /// `raw` as the answer to a GET, served whole and in small pieces (the same result both ways).
    fn parse(raw: &'static [u8]) -> Result<Response, ClientError> {
        let whole = answer_in_steps("parse-whole", raw, raw.len().max(1));
        let pieces = answer_in_steps("parse-pieces", raw, 3);
        match (&whole, &pieces) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the same answer in pieces"),
            (Err(_), Err(_)) => {}
            _ => panic!("whole: {whole:?}, in pieces: {pieces:?}"),
        }
        whole
    }

    #[test]
    fn content_length_body() {
        let r =
            parse(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}trailing")
                .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, b"{\"a\":1}");
        assert_eq!(r.json().unwrap(), serde_json::json!({"a": 1}));
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(parse(raw).unwrap().text(), "hello world");
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
        assert!(parse(bad).is_err());
        let short = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello";
        let e = parse(short).unwrap_err();
        assert!(matches!(e, ClientError::Protocol { .. }), "{e}");
        assert!(e.to_string().contains("communication with the management API failed"), "{e}");
    }

    #[test]
    fn body_until_close_and_interim_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 500 Internal Server Error\nX: y\n\nsomething broke";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 500);
        assert_eq!(r.text(), "something broke");
        let e = r.success().unwrap_err();
        assert_eq!(e.to_string(), "status: 500\nbody:\nsomething broke");
    }

    #[test]
    fn no_body_statuses() {
        let r = parse(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (304, 0));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").is_err());
        assert!(parse(b"").is_err());
    }

    fn api(endpoint: Endpoint) -> Client {
        Client::new(ApiSocket { endpoint, source: "test".into() })
    }

    /// Serves one connection: returns what the client sent, answers `answer` in pieces of `step` bytes, closes.
    fn serve_once<L, S>(listener: L, answer: &'static [u8], step: usize) -> thread::JoinHandle<String>
    where
        L: FnOnce() -> S + Send + 'static,
        S: Read + Write,
    {
        thread::spawn(move || {
            let mut stream = listener();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body announced by Content-Length.
            loop {
                let n = stream.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .map_or(0, |l| l.parse::<usize>().unwrap());
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            for piece in answer.chunks(step) {
                // The client may stop reading once it has the answer it wanted.
                if stream.write_all(piece).and_then(|()| stream.flush()).is_err() {
                    break;
                }
            }
            String::from_utf8(request).unwrap()
        })
    }

    /// A socket path in a fresh temporary directory (removed when the guard is dropped).
    fn temp_socket(name: &str) -> (kres_test_support::TempDir, PathBuf) {
        let dir = kres_test_support::TempDir::new(&format!("kresctl-client-{name}"));
        let path = dir.path().join("api.sock");
        (dir, path)
    }

    #[test]
    fn request_over_a_unix_socket() {
        let (_dir, path) = temp_socket("unix");
        let listener = UnixListener::bind(&path).unwrap();
        let server =
            serve_once(move || listener.accept().unwrap().0, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 64);
        let client = api(Endpoint::Unix(path.clone()));
        let r = client.request("PUT", "/v1/config/workers", Some(("application/json", b"3"))).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        let sent = server.join().unwrap();
        assert!(sent.starts_with("PUT /v1/config/workers HTTP/1.1\r\nHost: localhost\r\n"), "{sent}");
        assert!(sent.contains("\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n3"), "{sent}");
        assert!(sent.contains("\r\nConnection: close\r\n"), "{sent}");
    }

    #[test]
    fn request_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(
            move || listener.accept().unwrap().0,
            b"HTTP/1.1 412 Precondition Failed\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nstop\r\n0\r\n\r\n",
            64,
        );
        let client = api(Endpoint::Tcp { host: "127.0.0.1".into(), port });
        let r = client.post("/stop", None).unwrap();
        assert_eq!((r.status, r.text().as_str()), (412, "stop"));
        let sent = server.join().unwrap();
        assert!(sent.starts_with(&format!("POST /stop HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")), "{sent}");
        assert!(sent.ends_with("Content-Length: 0\r\n\r\n"), "{sent}");
    }

    #[test]
    fn an_answer_before_the_whole_body_is_read() {
        // The manager refuses a too large body (413) as soon as it sees its Content-Length, and closes.
        let (_dir, path) = temp_socket("early");
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            stream.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!").unwrap();
            // Closing with unread data sends a reset: the client's write fails after the answer arrived.
            drop(stream);
            String::from_utf8(head).unwrap()
        });
        let body = vec![b'x'; 8 << 20];
        let client = api(Endpoint::Unix(path.clone())).with_timeout(Duration::from_secs(30));
        let r = client.request("PUT", "/v1/config/lua/script", Some(("application/json", &body)));
        let head = server.join().unwrap();
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())), "{head}");
        let r = r.unwrap();
        assert_eq!((r.status, r.text().as_str()), (413, "too big!"));
    }

    #[test]
    fn connection_errors_name_the_socket_and_its_source() {
        let (_dir, path) = temp_socket("missing");
        let client = api(Endpoint::Unix(path.clone()));
        let e = client.get("/v1/config").unwrap_err();
        assert!(matches!(e, ClientError::Connect { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()) && text.contains("Sourced from:  test"), "{text}");
        assert!(text.contains("/v1/config") && text.contains("No such file"), "{text}");

        // A port nobody listens on (bound, then closed).
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = api(Endpoint::Tcp { host: "127.0.0.1".into(), port }).get("/").unwrap_err();
        assert!(e.to_string().contains(&format!("TCP 127.0.0.1 port {port}")), "{e}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let (_dir, path) = temp_socket("silent");
        let listener = UnixListener::bind(&path).unwrap();
        let keep = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            thread::sleep(Duration::from_millis(500));
            drop(stream);
        });
        let client = api(Endpoint::Unix(path.clone())).with_timeout(Duration::from_millis(100));
        let e = client.get("/").unwrap_err();
        assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
        keep.join().unwrap();
    }
}
