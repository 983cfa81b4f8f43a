//! `/fleet`: fleet mode (docs/fleet.md). The node takes its configuration from generations published in etcd,
//! rolled out node by node by a coordinator elected among the managers; the local file keeps only what is
//! node-specific (network/listen, rundir, management, fleet). Refused at runtime: a restart changes it.

use crate::config_object;
use crate::model::{Ctx, IntPositive, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::{ReadableFile, Text, TimeUnit, parsed_text, text_value};
use serde_json::json;

/// The default key prefix of a fleet in etcd.
pub const DEFAULT_FLEET_PREFIX: &str = "/knot-resolver";

/// A node's name in the fleet: 1 to 253 letters, digits, `-`, `_` and `.` (one etcd key segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FleetNodeName(String);

impl FleetNodeName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=253).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(FleetNodeName(text.to_owned()))
        } else {
            Err(format!(
                "'{}' is not a valid node name: use 1 to 253 letters, digits, '-', '_' or '.'",
                text.escape_debug()
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(FleetNodeName);
parsed_text!(FleetNodeName, json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,253}$"}));

/// An etcd member's client address: `host:port`, the host a name, an IPv4 address or a bracketed IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EtcdEndpoint(String);

impl EtcdEndpoint {
    pub fn parse(text: &str) -> Result<Self, String> {
        let refused = |why: &str| {
            format!("'{}' is not an etcd endpoint ({why}); write host:port, e.g. 192.0.2.1:2379", text.escape_debug())
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(|| refused("no port"))?;
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(refused("the port must be 1 to 65535")),
        }
        let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        };
        if !host_ok {
            return Err(refused("the host must be a name, an IPv4 address or [an IPv6 address]"));
        }
        Ok(EtcdEndpoint(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(EtcdEndpoint);
parsed_text!(EtcdEndpoint, json!({"type": "string", "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$"}));

config_object! {
    /// TLS to etcd: the CA that signed the members' certificates, and this node's client certificate.
    pub struct FleetEtcdTlsSchema {
        /// CA certificates (PEM) the members' certificates must chain to.
        "ca-file" ca_file: Option<ReadableFile>,
        /// This node's client certificate (PEM), for etcd's client-certificate authentication.
        "cert-file" cert_file: Option<ReadableFile>,
        /// The client certificate's private key (PEM).
        "key-file" key_file: Option<ReadableFile>,
    }
}

impl ObjectHook for FleetEtcdTlsSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.cert_file.is_some() != self.key_file.is_some() {
            cx.error(path, Some(node), "'cert-file' and 'key-file' go together: configure both or neither");
        }
    }
}

config_object! {
    /// The etcd cluster the fleet lives in.
    pub struct FleetEtcdSchema {
        /// The members' client addresses (host:port); the manager fails over between them.
        "endpoints" endpoints: Vec<EtcdEndpoint> = Vec::new(),
        /// The key prefix of this fleet in etcd (several fleets can share a cluster).
        "prefix" prefix: Text = Text::new(DEFAULT_FLEET_PREFIX),
        /// TLS to the members (https); without it the connection is in clear text.
        "tls" tls: Option<FleetEtcdTlsSchema>,
        /// etcd user name (etcd's own authentication), with 'password-file'.
        "username" username: Option<Text>,
        /// A file holding the etcd user's password (its first line).
        "password-file" password_file: Option<ReadableFile>,
    }
}

impl ObjectHook for FleetEtcdSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, _node: &Node) {
        let prefix = self.prefix.as_str();
        if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
            cx.error(
                &path.key("prefix"),
                None,
                "the prefix must start with '/', not end with '/', and name something (e.g. /knot-resolver)",
            );
        }
        if self.username.is_some() != self.password_file.is_some() {
            cx.error(path, None, "'username' and 'password-file' go together: configure both or neither");
        }
    }
}

config_object! {
    /// Fleet mode: configuration generations rolled out across resolver nodes through etcd, node by node, with a
    /// canary and a health gate on each node and automatic rollback. Cannot be changed at runtime.
    pub struct FleetSchema {
        /// Take part in the fleet.
        "enable" enable: bool = false,
        /// This node's name in the fleet. Default: the machine's hostname.
        "name" name: Option<FleetNodeName>,
        /// The etcd cluster.
        "etcd" etcd: FleetEtcdSchema,
        /// How long a node must stay healthy after applying a generation before it counts as applied. Default:
        /// /management/health-hold.
        "health-hold" health_hold: Option<TimeUnit>,
        /// Nodes moved per step of a rollout.
        "batch" batch: IntPositive = IntPositive::new(1),
        /// A node moved alone, first, in every rollout.
        "canary-node" canary_node: Option<FleetNodeName>,
    }
}

impl ObjectHook for FleetSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, _node: &Node) {
        if self.enable && self.etcd.endpoints.is_empty() {
            cx.error(
                &path.key("etcd").key("endpoints"),
                None,
                "fleet mode needs at least one etcd endpoint (host:port)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for ok in ["127.0.0.1:2379", "etcd-1.example:2379", "[::1]:2379", "[2001:db8::1]:1"] {
            assert!(EtcdEndpoint::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["127.0.0.1", ":2379", "host:0", "host:65536", "host:x", "::1:2379", "[zz]:1", "a b:1", "http://h:1"]
        {
            assert!(EtcdEndpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names() {
        assert!(FleetNodeName::parse("resolver-01.dc1").is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(254)] {
            assert!(FleetNodeName::parse(bad).is_err(), "{bad}");
        }
    }
}
