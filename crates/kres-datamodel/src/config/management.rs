//! `/management`: where the HTTP API listens, and the manager's own state: the configuration history, the health
//! gate of applies, and where it starts from; and who may use the API: TLS on the TCP listener (mutual TLS with
//! a client CA), bearer tokens with a scope (argon2id hashes), the group allowed on the unix socket besides root
//! and the resolver's user, and unauthenticated Prometheus scrapers.

use crate::model::{Ctx, IntPositive, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::{
    DomainName, IpAddressPort, ReadableFile, SizeUnit, Text, TimeUnit, UncheckedPath, WritableFilePath, parsed_text,
    text_value,
};
use crate::{config_object, string_enum};
use serde_json::json;

/// The packaged default API socket.
pub const DEFAULT_API_SOCKET: &str = "/run/knot-resolver/kres-api.sock";
/// The packaged state directory (the configuration history lives in its `history/`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/knot-resolver";

string_enum! {
    /// Which configuration the manager applies when it starts.
    pub enum StartFrom {
        "file" => File, "last-generation" => LastGeneration,
    }
}

config_object! {
    /// How much configuration history is kept (the oldest generations are removed first; the newest applied one
    /// is always kept).
    pub struct HistorySchema {
        /// The most generations kept.
        "max-count" max_count: IntPositive = IntPositive::new(100),
        /// The most bytes the stored generations take.
        "max-size" max_size: SizeUnit = SizeUnit::from_static("64M"),
    }
}
impl ObjectHook for HistorySchema {}

string_enum! {
    /// What a token may do: 'read' is GET on the configuration, schema, metrics, processes, history and events
    /// (and the health routes); 'admin' is everything.
    pub enum TokenScope {
        "read" => Read, "admin" => Admin,
    }
}

/// The name of a token, recorded as the client of the changes made with it: 1 to 64 letters, digits and `.`,
/// `_`, `-`, `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&text.len())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok {
            Ok(TokenName(text.to_owned()))
        } else {
            Err(format!(
                "'{}' is not a valid token name: use 1 to 64 letters, digits, '.', '_', '-' or '@'",
                text.escape_debug()
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(TokenName);
parsed_text!(TokenName, json!({"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}));

/// An argon2id password hash in the PHC string format (`$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>`), as
/// `kresctl hash-token` prints it. Only the hash is configured, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn parse(text: &str) -> Result<Self, String> {
        let refused = |why: &str| {
            format!("not an argon2id hash ({why}); make one with 'kresctl hash-token' and paste its output here")
        };
        let hash = argon2::password_hash::PasswordHash::new(text).map_err(|e| refused(&e.to_string()))?;
        if hash.algorithm.as_str() != "argon2id" {
            return Err(refused(&format!("the algorithm is '{}'", hash.algorithm)));
        }
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err(refused("no salt or no hash"));
        }
        argon2::Params::try_from(&hash).map_err(|e| refused(&e.to_string()))?;
        Ok(TokenHash(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(TokenHash);
parsed_text!(TokenHash, json!({"type": "string", "pattern": "^\\$argon2id\\$"}));

config_object! {
    /// A bearer token of the management API: clients send `Authorization: Bearer <secret>`.
    pub struct TokenSchema {
        /// The token's name (logged and recorded in the history as the client of a change).
        "name" name: TokenName,
        /// What the token may do.
        "scope" scope: TokenScope,
        /// The argon2id hash of the secret ('kresctl hash-token' makes one).
        "hash" hash: TokenHash,
    }
}
impl ObjectHook for TokenSchema {}

config_object! {
    /// TLS on the management API's TCP listener ('interface'). The files are read again when they change.
    pub struct ManagementTlsSchema {
        /// The server's certificate chain (PEM).
        "cert-file" cert_file: ReadableFile,
        /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
        "key-file" key_file: ReadableFile,
        /// CA certificates (PEM) that client certificates must chain to: mutual TLS. A client without such a
        /// certificate is refused during the handshake.
        "client-ca-file" client_ca_file: Option<ReadableFile>,
    }
}
impl ObjectHook for ManagementTlsSchema {}

config_object! {
    /// Configuration of management HTTP API.
    pub struct ManagementSchema {
        /// Path to unix domain socket to listen to.
        "unix-socket" unix_socket: Option<WritableFilePath>,
        /// IP address and port number to listen to.
        "interface" interface: Option<IpAddressPort>,
        /// Directory of the manager's state: the configuration history (created when missing).
        "state-dir" state_dir: UncheckedPath = UncheckedPath::from_static(DEFAULT_STATE_DIR),
        /// How many configuration generations are kept.
        "history" history: HistorySchema,
        /// After a change has been rolled out, how long every worker must keep answering the health probes before
        /// the change counts as applied; a failure rolls back to the previous generation. '0s' turns the hold off.
        "health-hold" health_hold: TimeUnit = TimeUnit::from_static("3s"),
        /// The name (type A) of the DNS health probes sent to a canary and to the workers during the hold.
        "health-probe" health_probe: DomainName = localhost(),
        /// The configuration applied at start: the configuration files ('file'), or the last applied generation
        /// of the history ('last-generation'), so that changes made through the API survive a restart.
        "start-from" start_from: StartFrom = StartFrom::File,
        /// TLS for the TCP listener ('interface'): HTTPS instead of plain HTTP.
        "tls" tls: Option<ManagementTlsSchema>,
        /// Allows a TCP listener on an address other than loopback without TLS (tokens and the configuration then
        /// travel in clear text).
        "allow-insecure" allow_insecure: bool = false,
        /// Bearer tokens. Once one is configured, every request on the TCP listener needs a token (the unix
        /// socket checks the peer's credentials instead).
        "tokens" tokens: Vec<TokenSchema> = Vec::new(),
        /// A group (name or number) whose members may use the unix socket, besides root and the user the manager
        /// runs as; the socket file gets this group when it is created.
        "unix-socket-group" unix_socket_group: Option<Text>,
        /// Lets clients without a token GET the metrics routes (Prometheus scrapers) on the TCP listener.
        "metrics-unauthenticated" metrics_unauthenticated: bool = false,
    }
}

impl ManagementSchema {
    /// The default when `/management` is absent: the packaged API socket.
    pub fn default_socket() -> Self {
        ManagementSchema {
            unix_socket: Some(WritableFilePath::from_static(DEFAULT_API_SOCKET)),
            interface: None,
            state_dir: UncheckedPath::from_static(DEFAULT_STATE_DIR),
            history: HistorySchema { max_count: IntPositive::new(100), max_size: SizeUnit::from_static("64M") },
            health_hold: TimeUnit::from_static("3s"),
            health_probe: localhost(),
            start_from: StartFrom::File,
            tls: None,
            allow_insecure: false,
            tokens: Vec::new(),
            unix_socket_group: None,
            metrics_unauthenticated: false,
        }
    }
}

/// The default health-probe name: every configuration answers it (RFC 6761 special-use name, answered by kresd's
/// built-in rules).
fn localhost() -> DomainName {
    DomainName::parse("localhost.").expect("a valid name")
}

impl ObjectHook for ManagementSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.unix_socket.is_some() == self.interface.is_some() {
            cx.error(path, Some(node), "One of 'interface' or 'unix-socket' must be configured.");
        }
        if !self.state_dir.path().is_absolute() {
            cx.error(&path.key("state-dir"), None, "the state directory must be an absolute path");
        }
        if self.tls.is_some() && self.interface.is_none() {
            cx.error(
                &path.key("tls"),
                None,
                "TLS applies to the TCP listener: configure 'interface', not 'unix-socket'",
            );
        }
        if let Some(interface) = &self.interface
            && self.tls.is_none()
            && !interface.addr.is_loopback()
            && !self.allow_insecure
        {
            cx.error(
                &path.key("interface"),
                None,
                format!(
                    "the management API on {interface} (not a loopback address) needs TLS: configure \
                     /management/tls, or set /management/allow-insecure: true to accept clear text"
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if !seen.insert(token.name.as_str()) {
                cx.error(
                    &path.key("tokens").index(i).key("name"),
                    None,
                    format!("the token name '{}' is used twice; names must be unique", token.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_parse as parse;

    /// `kresctl hash-token`'s format (argon2id, PHC string).
    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$3x+7hYmHkrHu1VuTCZ9FNsNbeLd0Os+GXLOeiwdeM0U";

    fn errors(yaml: &str) -> Vec<(String, String)> {
        parse::<ManagementSchema>(yaml).expect_err(yaml)
    }

    #[test]
    fn tokens_and_tls() {
        let m = parse::<ManagementSchema>(&format!(
            "interface: 192.0.2.1@8453\ntls: {{cert-file: /c.pem, key-file: /k.pem, client-ca-file: /ca.pem}}\n\
             tokens:\n  - {{name: ops, scope: admin, hash: '{HASH}'}}\n  - {{name: grafana@lab, scope: read, hash: '{HASH}'}}\n\
             unix-socket-group: knot-resolver\nmetrics-unauthenticated: true\n"
        ))
        .unwrap();
        assert_eq!(m.tokens.len(), 2);
        assert_eq!((m.tokens[1].name.as_str(), m.tokens[1].scope), ("grafana@lab", TokenScope::Read));
        assert!(m.tls.unwrap().client_ca_file.is_some());
        assert!(m.metrics_unauthenticated);
        // The defaults: no tokens, no TLS, nothing unauthenticated.
        let d = parse::<ManagementSchema>("unix-socket: /run/api.sock\n").unwrap();
        assert!(d.tokens.is_empty() && d.tls.is_none() && !d.allow_insecure && !d.metrics_unauthenticated);
    }

    #[test]
    fn a_remote_listener_needs_tls() {
        let e = errors("interface: 0.0.0.0@8453\n");
        assert!(
            e.iter().any(|(p, m)| p == "/interface" && m.contains("needs TLS") && m.contains("allow-insecure")),
            "{e:?}"
        );
        parse::<ManagementSchema>("interface: 0.0.0.0@8453\nallow-insecure: true\n").unwrap();
        parse::<ManagementSchema>("interface: 127.0.0.1@8453\n").unwrap();
        parse::<ManagementSchema>("interface: '::1@8453'\n").unwrap();
        let e = errors("unix-socket: /run/api.sock\ntls: {cert-file: /c.pem, key-file: /k.pem}\n");
        assert!(e.iter().any(|(p, m)| p == "/tls" && m.contains("TCP listener")), "{e:?}");
    }

    #[test]
    fn bad_tokens() {
        let e = errors(&format!(
            "unix-socket: /a.sock\ntokens:\n  - {{name: ops, scope: admin, hash: '{HASH}'}}\n  - {{name: ops, scope: read, hash: '{HASH}'}}\n"
        ));
        assert!(e.iter().any(|(p, m)| p == "/tokens/1/name" && m.contains("used twice")), "{e:?}");
        for (token, what) in [
            (format!("{{name: ops, scope: root, hash: '{HASH}'}}"), "scope"),
            (format!("{{name: 'o p', scope: read, hash: '{HASH}'}}"), "name"),
            (format!("{{name: '', scope: read, hash: '{HASH}'}}"), "name"),
            ("{name: ops, scope: read, hash: secret}".to_owned(), "hash"),
            (
                "{name: ops, scope: read, hash: '$argon2i$v=19$m=16,t=2,p=1$MDEyMzQ1Njc4$aGFzaGhhc2g'}".to_owned(),
                "hash",
            ),
            (format!("{{name: ops, scope: read, hash: '{HASH}', secret: x}}"), "secret"),
        ] {
            let e = errors(&format!("unix-socket: /a.sock\ntokens: [{token}]\n"));
            assert!(e.iter().any(|(p, m)| p.contains(what) || m.contains(what)), "{token}: {e:?}");
        }
        assert!(TokenHash::parse("secret").unwrap_err().contains("kresctl hash-token"));
    }
}
