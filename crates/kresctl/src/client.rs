//! A small, blocking HTTP/1.1 client for the manager's API over a unix-domain socket or TCP: one request per
//! connection (`Connection: close`), bodies framed by `Content-Length`, chunked transfer coding or the end of the
//! connection, one deadline for the whole exchange.
//!
//! `kresctl` sends one request and exits, so a blocking client on std sockets is all it needs (no async runtime).
//! The deadline is generous ([`DEFAULT_TIMEOUT`], like the reference's 5 minutes): a configuration change answers
//! only after the rolling restart of every worker.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::socket::{ApiSocket, Endpoint};

/// How long one request may take, connection to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Response heads larger than this are refused (the manager's are a few hundred bytes).
const MAX_HEAD: usize = 64 * 1024;

/// A client of the API at one socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: ApiSocket,
    timeout: Duration,
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names as sent (compare them case-insensitively, see [`Response::header`]).
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

/// The manager answered with a failure status. Displayed like the reference's client does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status: {status}\nbody:\n{}", body.trim_end())]
pub struct StatusError {
    pub status: u16,
    pub body: String,
}

/// The request did not get an answer.
#[derive(Debug)]
pub enum ClientError {
    /// No connection (no socket file, nobody listening, unknown host, ...).
    Connect { socket: ApiSocket, url: String, source: io::Error },
    /// The answer did not come in time.
    Timeout { socket: ApiSocket, url: String, timeout: Duration },
    /// The connection broke or the answer is not HTTP.
    Protocol { socket: ApiSocket, url: String, message: String },
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
    };
    format!(
        "{what}\n\tURL:           {url}\n\tHost/Path:     {target}\n\tSourced from:  {}\n\
         Is the resolver running, and is this its management API? Give the socket with -s/--socket (a unix socket \
         path, http+unix://<url-encoded path> or http://<address>:<port>) or the resolver's configuration file with \
         -c/--config.",
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
        Client { socket, timeout: DEFAULT_TIMEOUT }
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
        self.request("POST", path, body.map(|b| ("application/json", b)))
    }

    /// Sends `method path` (`path` is the request target, starting with `/`, already percent-encoded) with an
    /// optional `(content type, body)`, and reads the whole answer.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Result<Response, ClientError> {
        let url = format!("{}{path}", self.socket.uri());
        let deadline = Instant::now() + self.timeout;
        let failed = |e: io::Error| self.error(&url, e);
        let mut conn = self.connect(deadline).map_err(|source| match source.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => self.timeout_error(&url),
            _ => ClientError::Connect { socket: self.socket.clone(), url: url.clone(), source },
        })?;

        let host = match &self.socket.endpoint {
            Endpoint::Unix(_) => "localhost".to_owned(),
            Endpoint::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kresctl/{}\r\nAccept: */*\r\n\
             Connection: close\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let payload = body.map_or(&[][..], |(_, b)| b);
        if let Some((content_type, _)) = body {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if body.is_some() || matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", payload.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(payload);
        conn.set_deadline(deadline).map_err(failed)?;
        if let Err(e) = conn.write_all(&request).and_then(|()| conn.flush()) {
            // The server may answer (an early 413, ...) and close before reading everything: read what it said.
            if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::ConnectionReset {
                return Err(failed(e));
            }
        }
        let mut reader = Reader { conn, buf: Vec::new(), pos: 0, deadline };
        read_response(&mut reader, method == "HEAD").map_err(failed)
    }

    fn connect(&self, deadline: Instant) -> io::Result<Conn> {
        match &self.socket.endpoint {
            Endpoint::Unix(path) => Ok(Conn::Unix(UnixStream::connect(path)?)),
            Endpoint::Tcp { host, port } => {
                let mut last = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    match TcpStream::connect_timeout(&addr, left) {
                        Ok(stream) => return Ok(Conn::Tcp(stream)),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("'{host}' has no address"))))
            }
        }
    }

    fn error(&self, url: &str, e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => self.timeout_error(url),
            _ => ClientError::Protocol { socket: self.socket.clone(), url: url.to_owned(), message: e.to_string() },
        }
    }

    fn timeout_error(&self, url: &str) -> ClientError {
        ClientError::Timeout { socket: self.socket.clone(), url: url.to_owned(), timeout: self.timeout }
    }
}

/// Percent-encodes a JSON pointer for the request path: everything but the characters a path segment may hold
/// as they are (RFC 3986 `pchar` and `/`), so that the server's percent-decoding gives the pointer back.
pub fn encode_path(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    /// Makes the next reads and writes give up at `deadline`.
    fn set_deadline(&self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match self {
            Conn::Unix(s) => s.set_read_timeout(Some(left)).and_then(|()| s.set_write_timeout(Some(left))),
            Conn::Tcp(s) => s.set_read_timeout(Some(left)).and_then(|()| s.set_write_timeout(Some(left))),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// Buffered reading from the connection with one deadline.
struct Reader<R> {
    conn: R,
    buf: Vec<u8>,
    pos: usize,
    deadline: Instant,
}

trait Deadline {
    fn set_deadline(&self, deadline: Instant) -> io::Result<()>;
}

impl Deadline for Conn {
    fn set_deadline(&self, deadline: Instant) -> io::Result<()> {
        Conn::set_deadline(self, deadline)
    }
}

impl<R: Read + Deadline> Reader<R> {
    /// Reads more bytes into the buffer; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.conn.set_deadline(self.deadline)?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.conn.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// One line without its CRLF (or LF).
    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.available().iter().position(|b| *b == b'\n') {
                let line = &self.available()[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8_lossy(line).into_owned();
                self.pos += i + 1;
                return Ok(text);
            }
            if self.available().len() > MAX_HEAD {
                return Err(invalid("a line of the answer is too long"));
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed in the middle of the answer",
                ));
            }
        }
    }

    /// Exactly `n` bytes.
    fn exact(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        while self.available().len() < n {
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the connection closed after {} of {n} body bytes", self.available().len()),
                ));
            }
        }
        out.extend_from_slice(&self.available()[..n]);
        self.pos += n;
        Ok(())
    }

    /// Everything until the end of the stream.
    fn rest(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            out.extend_from_slice(self.available());
            self.pos = self.buf.len();
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one response (skipping interim 1xx ones).
fn read_response<R: Read + Deadline>(reader: &mut Reader<R>, head_request: bool) -> io::Result<Response> {
    loop {
        let status_line = reader.line()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status = parts.next().and_then(|s| s.parse::<u16>().ok()).filter(|s| (100..1000).contains(s));
        let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
            return Err(invalid(format!("not an HTTP/1.x status line: {:?}", truncate(&status_line, 200))));
        };
        let mut headers = Vec::new();
        let mut head_size = status_line.len();
        loop {
            let line = reader.line()?;
            if line.is_empty() {
                break;
            }
            head_size += line.len();
            if head_size > MAX_HEAD {
                return Err(invalid("the answer's header is too large"));
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid(format!("malformed header line: {:?}", truncate(&line, 200))));
            };
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut response = Response { status, headers, body: Vec::new() };
        if head_request || status == 204 || status == 304 {
            return Ok(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.split(',').any(|c| c.trim().eq_ignore_ascii_case("chunked")));
        if chunked {
            read_chunked(reader, &mut response.body)?;
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().map_err(|_| invalid(format!("invalid Content-Length: {length:?}")))?;
            reader.exact(length, &mut response.body)?;
        } else {
            reader.rest(&mut response.body)?;
        }
        return Ok(response);
    }
}

/// The chunked transfer coding (RFC 9112 §7.1): `<hex size>[;ext]` CRLF, data CRLF, ..., `0` CRLF, trailers, CRLF.
fn read_chunked<R: Read + Deadline>(reader: &mut Reader<R>, out: &mut Vec<u8>) -> io::Result<()> {
    loop {
        let line = reader.line()?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid(format!("invalid chunk size: {line:?}")))?;
        if size == 0 {
            // Trailer fields until the empty line.
            while !reader.line()?.is_empty() {}
            return Ok(());
        }
        reader.exact(size, out)?;
        if !reader.line()?.is_empty() {
            return Err(invalid("a chunk is longer than its size"));
        }
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status: {}\nbody:\n{}", self.status, self.text())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::thread;

    use super::*;

    /// Parses `raw` as the answer to a GET.
    fn parse(raw: &[u8]) -> io::Result<Response> {
        struct Bytes(io::Cursor<Vec<u8>>, usize);
        impl Read for Bytes {
            // Hand out a few bytes at a time to exercise the buffering.
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1);
                self.0.read(&mut buf[..n])
            }
        }
        impl Deadline for Bytes {
            fn set_deadline(&self, _: Instant) -> io::Result<()> {
                Ok(())
            }
        }
        let mut last = None;
        for step in [1, 3, 7, 4096] {
            let mut reader = Reader {
                conn: Bytes(io::Cursor::new(raw.to_vec()), step),
                buf: Vec::new(),
                pos: 0,
                deadline: Instant::now() + Duration::from_secs(5),
            };
            let result = read_response(&mut reader, false);
            if let (Some(Ok(a)), Ok(b)) = (&last, &result) {
                assert_eq!(a, b, "the same answer in steps of {step}");
            }
            last = Some(result);
        }
        last.unwrap()
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
        assert_eq!(parse(short).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
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

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(encode_path("/network/listen/0/interface"), "/network/listen/0/interface");
        assert_eq!(encode_path("/a b/c%d/e?f#g/~1h"), "/a%20b/c%25d/e%3Ff%23g/~1h");
        assert_eq!(encode_path("/ü"), "/%C3%BC");
    }

    fn api(endpoint: Endpoint) -> Client {
        Client::new(ApiSocket { endpoint, source: "test".into() })
    }

    /// Serves one connection: returns what the client sent, answers `answer`.
    fn serve_once<L, S>(listener: L, answer: &'static [u8]) -> thread::JoinHandle<String>
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
            stream.write_all(answer).unwrap();
            String::from_utf8(request).unwrap()
        })
    }

    fn temp_socket(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kresctl-client-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("api.sock")
    }

    #[test]
    fn request_over_a_unix_socket() {
        let path = temp_socket("unix");
        let listener = UnixListener::bind(&path).unwrap();
        let server =
            serve_once(move || listener.accept().unwrap().0, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let client = api(Endpoint::Unix(path.clone()));
        let r = client.request("PUT", "/v1/config/workers", Some(("application/json", b"3"))).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        let sent = server.join().unwrap();
        assert!(sent.starts_with("PUT /v1/config/workers HTTP/1.1\r\nHost: localhost\r\n"), "{sent}");
        assert!(sent.contains("\r\nContent-Type: application/json\r\nContent-Length: 1\r\n\r\n3"), "{sent}");
        assert!(sent.contains("\r\nConnection: close\r\n"), "{sent}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn request_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(
            move || listener.accept().unwrap().0,
            b"HTTP/1.1 412 Precondition Failed\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nstop\r\n0\r\n\r\n",
        );
        let client = api(Endpoint::Tcp { host: "127.0.0.1".into(), port });
        let r = client.post("/stop", None).unwrap();
        assert_eq!((r.status, r.text().as_str()), (412, "stop"));
        let sent = server.join().unwrap();
        assert!(sent.starts_with(&format!("POST /stop HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")), "{sent}");
        assert!(sent.ends_with("Content-Length: 0\r\n\r\n"), "{sent}");
    }

    #[test]
    fn connection_errors_name_the_socket_and_its_source() {
        let path = temp_socket("missing");
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
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_silent_server_times_out() {
        let path = temp_socket("silent");
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
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
