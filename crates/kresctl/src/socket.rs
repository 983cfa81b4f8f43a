//! Where the manager's HTTP API is: socket discovery for the online commands (the reference's
//! `determine_socket`), in this order:
//! 1. `--socket X`: a URI if `X` contains `:` (`http+unix://<url-encoded path>`, `http://<host>:<port>`,
//!    `https://<host>:<port>`), else a unix socket path;
//! 2. `--config FILE`: `/management/unix-socket` or `/management/interface` of that file (which must exist;
//!    https when it has `/management/tls`);
//! 3. the default configuration file, `/etc/knot-resolver/config.yaml`, when it can be read (skipped silently
//!    otherwise);
//! 4. the default socket, `/run/knot-resolver/kres-api.sock`.
//!
//! Relative unix socket paths (from `--socket` or a config file) are resolved against the current directory, as
//! the reference does. A configuration without `/management` means the manager uses the default socket.

use std::fmt;
use std::path::{Path, PathBuf};

use kres_datamodel::node::{Node, Value};
use kres_datamodel::types::IpAddressPort;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::DEFAULT_CONFIG_FILE;

/// The manager's default API socket.
pub const DEFAULT_API_SOCKET: &str = kres_datamodel::config::DEFAULT_API_SOCKET;

/// How to connect to the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// HTTP over a unix-domain stream socket.
    Unix(PathBuf),
    /// HTTP over TCP. `host` is an address or a name, without brackets.
    Tcp { host: String, port: u16 },
    /// HTTP over TLS over TCP; the certificate must be valid for `host`.
    Https { host: String, port: u16 },
}

impl Endpoint {
    /// The `host:port` of a TCP endpoint (IPv6 addresses in brackets).
    pub fn authority(&self) -> Option<String> {
        match self {
            Endpoint::Unix(_) => None,
            Endpoint::Tcp { host, port } | Endpoint::Https { host, port } if host.contains(':') => {
                Some(format!("[{host}]:{port}"))
            }
            Endpoint::Tcp { host, port } | Endpoint::Https { host, port } => Some(format!("{host}:{port}")),
        }
    }
}

/// The API endpoint and where it was found (for connection error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSocket {
    pub endpoint: Endpoint,
    /// E.g. `--socket argument '/x.sock'`, `default value '/run/knot-resolver/kres-api.sock'`.
    pub source: String,
}

impl ApiSocket {
    /// The endpoint as a URI: `http+unix://<url-encoded path>`, `http://<host>:<port>` or `https://<host>:<port>`.
    pub fn uri(&self) -> String {
        match &self.endpoint {
            Endpoint::Unix(path) => format!("http+unix://{}", percent_encode(&path.to_string_lossy())),
            Endpoint::Tcp { .. } => format!("http://{}", self.endpoint.authority().unwrap_or_default()),
            Endpoint::Https { .. } => format!("https://{}", self.endpoint.authority().unwrap_or_default()),
        }
    }
}

impl fmt::Display for ApiSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (sourced from {})", self.uri(), self.source)
    }
}

/// Why the API socket could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("can't get the management API socket: '{}' config file doesn't exist", .0.display())]
    ConfigMissing(PathBuf),
    #[error("can't get the management API socket: {0}")]
    Config(#[from] kres_datamodel::ConfigError),
    #[error("can't get the management API socket from '{}': [{pointer}] {message}", file.display())]
    InvalidManagement { file: PathBuf, pointer: &'static str, message: String },
    #[error(
        "invalid --socket '{uri}': {reason}; give a unix socket path, http+unix://<url-encoded path>, \
         http://<address>:<port> or https://<host>:<port>"
    )]
    InvalidUri { uri: String, reason: String },
}

/// The inputs of socket discovery; [`Discovery::from_args`] fills in the defaults and the current directory.
#[derive(Debug, Clone)]
pub struct Discovery<'a> {
    /// `-s/--socket`.
    pub socket: Option<&'a str>,
    /// `-c/--config`.
    pub config: Option<&'a Path>,
    /// The configuration file looked at when neither is given.
    pub default_config: &'a Path,
    /// The socket used when nothing else names one.
    pub default_socket: &'a Path,
    /// Relative unix socket paths are resolved against this directory.
    pub cwd: PathBuf,
}

impl<'a> Discovery<'a> {
    /// Discovery with the packaged defaults and the process's current directory.
    pub fn from_args(socket: Option<&'a str>, config: Option<&'a Path>) -> Self {
        Discovery {
            socket,
            config,
            default_config: Path::new(DEFAULT_CONFIG_FILE),
            default_socket: Path::new(DEFAULT_API_SOCKET),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    /// Determines the API socket (see the module documentation for the order).
    pub fn determine(&self) -> Result<ApiSocket, SocketError> {
        if let Some(socket) = self.socket {
            let source = format!("--socket argument '{socket}'");
            let endpoint =
                if socket.contains(':') { parse_uri(socket)? } else { Endpoint::Unix(self.cwd.join(socket)) };
            return Ok(ApiSocket { endpoint, source });
        }
        if let Some(config) = self.config {
            if !config.exists() {
                return Err(SocketError::ConfigMissing(config.to_path_buf()));
            }
            if let Some(found) = self.socket_in_config(config, "--config argument")? {
                return Ok(found);
            }
        } else if std::fs::File::open(self.default_config).is_ok()
            && let Some(found) = self.socket_in_config(self.default_config, "default config file")?
        {
            return Ok(found);
        }
        Ok(ApiSocket {
            endpoint: Endpoint::Unix(self.default_socket.to_path_buf()),
            source: format!("default value '{}'", self.default_socket.display()),
        })
    }

    /// `/management/unix-socket` or `/management/interface` of a configuration file, if it has either.
    fn socket_in_config(&self, file: &Path, how: &str) -> Result<Option<ApiSocket>, SocketError> {
        let doc = kres_datamodel::read_files(&[file])?;
        let Some(management) = doc.get("management") else { return Ok(None) };
        let invalid = |pointer: &'static str, node: &Node, message: String| SocketError::InvalidManagement {
            file: file.to_path_buf(),
            pointer,
            message: match &node.mark {
                Some(mark) => format!("{message} ({mark})"),
                None => message,
            },
        };
        let source = |pointer: &str| format!("{pointer} from '{}' config file ({how})", file.display());
        if let Some(node) = management.get("unix-socket") {
            const POINTER: &str = "/management/unix-socket";
            let Value::Str(path) = &node.value else {
                return Err(invalid(POINTER, node, format!("expected a path, got {}", node.kind())));
            };
            if path.is_empty() {
                return Err(invalid(POINTER, node, "expected a path, got an empty string".into()));
            }
            return Ok(Some(ApiSocket { endpoint: Endpoint::Unix(self.cwd.join(path)), source: source(POINTER) }));
        }
        if let Some(node) = management.get("interface") {
            const POINTER: &str = "/management/interface";
            let Value::Str(text) = &node.value else {
                return Err(invalid(POINTER, node, format!("expected '<ip-address>@<port>', got {}", node.kind())));
            };
            let ip = IpAddressPort::parse(text).map_err(|e| invalid(POINTER, node, e))?;
            let (host, port) = (ip.addr.to_string(), ip.port);
            let endpoint = if management.get("tls").is_some() {
                Endpoint::Https { host, port }
            } else {
                Endpoint::Tcp { host, port }
            };
            return Ok(Some(ApiSocket { endpoint, source: source(POINTER) }));
        }
        Ok(None)
    }
}

/// Determines the API socket from `-s/--socket` and `-c/--config` with the packaged defaults.
pub fn determine_socket(socket: Option<&str>, config: Option<&Path>) -> Result<ApiSocket, SocketError> {
    Discovery::from_args(socket, config).determine()
}

/// Parses an `http+unix://`, `http://` or `https://` URI given to `--socket`.
fn parse_uri(uri: &str) -> Result<Endpoint, SocketError> {
    let bad = |reason: &str| SocketError::InvalidUri { uri: uri.to_owned(), reason: reason.to_owned() };
    if let Some(rest) = uri.strip_prefix("http+unix://") {
        let encoded = rest.trim_end_matches('/');
        if encoded.is_empty() {
            return Err(bad("no socket path after http+unix://"));
        }
        let path = percent_decode(encoded).ok_or_else(|| bad("invalid %-escape in the socket path"))?;
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    let (rest, https) = match (uri.strip_prefix("http://"), uri.strip_prefix("https://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return Err(bad("unsupported scheme (only http+unix://, http:// and https:// are supported)")),
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        return Err(bad("a path after the address is not supported"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("missing ']' after an IPv6 address"))?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("expected ':<port>' after ']'"))?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None if https => 443,
        None => 80,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("invalid port"))?,
    };
    let host = host.to_owned();
    Ok(if https { Endpoint::Https { host, port } } else { Endpoint::Tcp { host, port } })
}

/// Python's `urllib.parse.quote(s, safe="")`: everything but `A-Za-z0-9_.-~` is %-encoded (as UTF-8).
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-').remove(b'~');

fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, QUOTE).to_string()
}

/// Strict percent-decoding, as the manager does it.
fn percent_decode(s: &str) -> Option<String> {
    kres_datamodel::api::routes::percent_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(kres_test_support::TempDir);

    impl Dir {
        fn new(name: &str) -> Dir {
            Dir(kres_test_support::TempDir::new(&format!("kresctl-socket-{name}")))
        }
        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    fn discovery<'a>(socket: Option<&'a str>, config: Option<&'a Path>, default_config: &'a Path) -> Discovery<'a> {
        Discovery {
            socket,
            config,
            default_config,
            default_socket: Path::new("/run/knot-resolver/kres-api.sock"),
            cwd: PathBuf::from("/work/dir"),
        }
    }

    fn unix(path: &str) -> Endpoint {
        Endpoint::Unix(PathBuf::from(path))
    }

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp { host: host.into(), port }
    }

    #[test]
    fn socket_argument_path() {
        let none = Path::new("/nonexistent/config.yaml");
        let s = discovery(Some("/tmp/api.sock"), None, none).determine().unwrap();
        assert_eq!(s.endpoint, unix("/tmp/api.sock"));
        assert_eq!(s.source, "--socket argument '/tmp/api.sock'");
        assert_eq!(s.uri(), "http+unix://%2Ftmp%2Fapi.sock");
        let s = discovery(Some("rel/api.sock"), None, none).determine().unwrap();
        assert_eq!(s.endpoint, unix("/work/dir/rel/api.sock"));
    }

    #[test]
    fn socket_argument_uris() {
        let none = Path::new("/nonexistent/config.yaml");
        let cases = [
            ("http+unix://%2Frun%2Fkr%20x.sock", unix("/run/kr x.sock")),
            ("http+unix://%2Frun%2Fk.sock/", unix("/run/k.sock")),
            ("http://127.0.0.1:5000", tcp("127.0.0.1", 5000)),
            ("http://localhost:5000/", tcp("localhost", 5000)),
            ("http://[::1]:8453", tcp("::1", 8453)),
            ("http://127.0.0.1", tcp("127.0.0.1", 80)),
            ("https://api.example:8453", Endpoint::Https { host: "api.example".into(), port: 8453 }),
            ("https://[::1]:8453/", Endpoint::Https { host: "::1".into(), port: 8453 }),
            ("https://127.0.0.1", Endpoint::Https { host: "127.0.0.1".into(), port: 443 }),
        ];
        for (uri, endpoint) in cases {
            let s = discovery(Some(uri), None, none).determine().unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(s.endpoint, endpoint, "{uri}");
        }
        for bad in [
            "ftp://x:1",
            "https://",
            "https://x:1/v1",
            "http://",
            "http://x:0",
            "http://x:70000",
            "http://x:1/api",
            "http+unix://",
            "http+unix://%zz",
        ] {
            let err = discovery(Some(bad), None, none).determine().unwrap_err();
            assert!(matches!(err, SocketError::InvalidUri { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn uri_round_trip() {
        let https = Endpoint::Https { host: "::1".into(), port: 443 };
        for endpoint in [unix("/run/a b/ü.sock"), tcp("::1", 53), tcp("10.0.0.1", 5000), https] {
            let s = ApiSocket { endpoint: endpoint.clone(), source: String::new() };
            assert_eq!(parse_uri(&s.uri()).unwrap(), endpoint);
        }
        let s = ApiSocket { endpoint: tcp("::1", 53), source: String::new() };
        assert_eq!(s.uri(), "http://[::1]:53");
    }

    #[test]
    fn config_argument() {
        let dir = Dir::new("config-arg");
        let none = Path::new("/nonexistent/config.yaml");
        let abs = dir.file("abs.yaml", "management:\n  unix-socket: /run/x/api.sock\n");
        let s = discovery(None, Some(&abs), none).determine().unwrap();
        assert_eq!(s.endpoint, unix("/run/x/api.sock"));
        assert_eq!(
            s.source,
            format!("/management/unix-socket from '{}' config file (--config argument)", abs.display())
        );

        let rel = dir.file("rel.json", r#"{"management": {"unix-socket": "api.sock"}}"#);
        let s = discovery(None, Some(&rel), none).determine().unwrap();
        assert_eq!(s.endpoint, unix("/work/dir/api.sock"), "relative to the current directory");

        let iface = dir.file("iface.yaml", "management:\n  interface: 127.0.0.1@5000\n");
        let s = discovery(None, Some(&iface), none).determine().unwrap();
        assert_eq!(s.endpoint, tcp("127.0.0.1", 5000));
        assert_eq!(s.uri(), "http://127.0.0.1:5000");
        let iface6 = dir.file("iface6.yaml", "management:\n  interface: '::1@5000'\n");
        assert_eq!(discovery(None, Some(&iface6), none).determine().unwrap().uri(), "http://[::1]:5000");
        let tls = dir
            .file("tls.yaml", "management:\n  interface: 127.0.0.1@5000\n  tls: {cert-file: c.pem, key-file: k.pem}\n");
        assert_eq!(discovery(None, Some(&tls), none).determine().unwrap().uri(), "https://127.0.0.1:5000");

        // No /management: the manager listens on the default socket.
        let plain = dir.file("plain.yaml", "workers: 2\n");
        let s = discovery(None, Some(&plain), none).determine().unwrap();
        assert_eq!(s.endpoint, unix("/run/knot-resolver/kres-api.sock"));
        assert_eq!(s.source, "default value '/run/knot-resolver/kres-api.sock'");
    }

    #[test]
    fn config_argument_errors() {
        let dir = Dir::new("config-errors");
        let none = Path::new("/nonexistent/config.yaml");
        let missing = dir.0.path().join("missing.yaml");
        let err = discovery(None, Some(&missing), none).determine().unwrap_err();
        assert!(matches!(err, SocketError::ConfigMissing(_)), "{err}");
        assert!(err.to_string().contains("missing.yaml"), "{err}");

        let bad_yaml = dir.file("bad.yaml", "management: [\n");
        let err = discovery(None, Some(&bad_yaml), none).determine().unwrap_err();
        assert!(matches!(err, SocketError::Config(_)), "{err}");

        let bad_iface = dir.file("bad-iface.yaml", "management:\n  interface: 127.0.0.1\n");
        let err = discovery(None, Some(&bad_iface), none).determine().unwrap_err().to_string();
        assert!(err.contains("[/management/interface]") && err.contains("bad-iface.yaml:2:"), "{err}");

        let bad_sock = dir.file("bad-sock.yaml", "management:\n  unix-socket: 5\n");
        let err = discovery(None, Some(&bad_sock), none).determine().unwrap_err().to_string();
        assert!(err.contains("[/management/unix-socket]"), "{err}");
    }

    #[test]
    fn default_config_then_default_socket() {
        let dir = Dir::new("defaults");
        let default_config = dir.file("config.yaml", "management:\n  interface: 127.0.0.1@5001\n");
        let s = discovery(None, None, &default_config).determine().unwrap();
        assert_eq!(s.endpoint, tcp("127.0.0.1", 5001));
        assert!(s.source.contains("(default config file)"), "{}", s.source);

        // Missing default config: silently skipped.
        let missing = dir.0.path().join("nothing.yaml");
        let s = discovery(None, None, &missing).determine().unwrap();
        assert_eq!(s.endpoint, unix("/run/knot-resolver/kres-api.sock"));

        // --socket wins over everything.
        let s = discovery(Some("/a.sock"), None, &default_config).determine().unwrap();
        assert_eq!(s.endpoint, unix("/a.sock"));
    }
}
