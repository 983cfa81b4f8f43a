//! `/forward` (forwarding of subtrees to other resolvers or authoritative servers) and `/fallback`.

use serde_json::{Value as Json, json};

use crate::model::{Ctx, FromNode, ListOrItem, ObjectHook, describe};
use crate::node::{Node, Value};
use crate::path::Path;
use crate::types::{DomainName, IpAddressOptionalPort, PinSha256, ReadableFile};
use crate::{config_object, string_enum};

string_enum! {
    /// Transport protocol for a forward server.
    pub enum ForwardTransport { "tls" => Tls }
}

config_object! {
    /// Forward server configuration.
    pub struct ForwardServerSchema {
        /// IP address(es) of a forward server.
        "address" address: ListOrItem<IpAddressOptionalPort>,
        /// Transport protocol for a forward server.
        "transport" transport: Option<ForwardTransport>,
        /// Hash of accepted CA certificate.
        "pin-sha256" pin_sha256: Option<ListOrItem<PinSha256>>,
        /// Hostname of the Forward server.
        "hostname" hostname: Option<DomainName>,
        /// Path to CA certificate file.
        "ca-file" ca_file: Option<ReadableFile>,
    }
}

impl ObjectHook for ForwardServerSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.pin_sha256.is_some() {
            let others: Vec<&str> = [("'hostname'", self.hostname.is_some()), ("'ca-file'", self.ca_file.is_some())]
                .into_iter()
                .filter_map(|(k, set)| set.then_some(k))
                .collect();
            if !others.is_empty() {
                cx.error(
                    path,
                    Some(node),
                    format!("'pin-sha256' cannot be configured together with {}", others.join(" and ")),
                );
            }
        }
    }
}

/// One item of a server list: an address string (`<ip>[@<port>]`) or a server object.
#[derive(Debug, Clone, PartialEq)]
pub enum ForwardServer {
    Address(IpAddressOptionalPort),
    Server(ForwardServerSchema),
}

impl ForwardServer {
    /// The server's addresses (one for the string form).
    pub fn addresses(&self) -> &[IpAddressOptionalPort] {
        match self {
            ForwardServer::Address(a) => std::slice::from_ref(a),
            ForwardServer::Server(s) => &s.address.items,
        }
    }

    /// The server object, when the item is one.
    pub fn options(&self) -> Option<&ForwardServerSchema> {
        match self {
            ForwardServer::Address(_) => None,
            ForwardServer::Server(s) => Some(s),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.options().is_some_and(|s| s.transport == Some(ForwardTransport::Tls))
    }
}

impl serde::Serialize for ForwardServer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ForwardServer::Address(a) => a.serialize(s),
            ForwardServer::Server(server) => server.serialize(s),
        }
    }
}

impl FromNode for ForwardServer {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match &node.value {
            Value::Str(_) => IpAddressOptionalPort::from_node(node, cx, path).map(ForwardServer::Address),
            Value::Map(_) => ForwardServerSchema::from_node(node, cx, path).map(ForwardServer::Server),
            _ => {
                cx.error(
                    path,
                    Some(node),
                    format!(
                        "expected a server: an IP address with an optional '@<port>' (a string) or a server configuration (a mapping with 'address'), got {}",
                        describe(node)
                    ),
                );
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"anyOf": [IpAddressOptionalPort::schema(), ForwardServerSchema::schema()]})
    }
}

config_object! {
    /// Subtree(s) forward options.
    pub struct ForwardOptionsSchema {
        /// The forwarding target is an authoritative server.
        "authoritative" authoritative: bool = false,
        /// Enable/disable DNSSEC.
        "dnssec" dnssec: bool = true,
    }
}
impl ObjectHook for ForwardOptionsSchema {}

config_object! {
    /// Configuration of forward subtree.
    pub struct ForwardSchema {
        /// Subtree(s) to forward.
        "subtree" subtree: ListOrItem<DomainName>,
        /// Forward servers configuration.
        "servers" servers: Vec<ForwardServer>,
        /// Subtree(s) forward options.
        "options" options: ForwardOptionsSchema,
    }
}

impl ObjectHook for ForwardSchema {
    /// Authoritative targets must use plain DNS on port 53. Unlike the reference, which looks only at the first
    /// server, every server and every address is checked.
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if !self.options.authoritative {
            return;
        }
        let custom_ports: Vec<String> = self
            .servers
            .iter()
            .flat_map(ForwardServer::addresses)
            .filter(|a| a.port.is_some_and(|p| p != 53))
            .map(|a| format!("'{a}'"))
            .collect();
        if !custom_ports.is_empty() {
            cx.error(
                path,
                Some(node),
                format!(
                    "forwarding to authoritative servers on a custom port is currently not supported: {} (only port 53 can be used with 'authoritative: true')",
                    custom_ports.join(", ")
                ),
            );
        }
        let tls: Vec<String> = self
            .servers
            .iter()
            .filter(|s| s.is_tls())
            .map(|s| {
                let addrs: Vec<String> = s.addresses().iter().map(|a| format!("'{a}'")).collect();
                addrs.join(", ")
            })
            .collect();
        if !tls.is_empty() {
            cx.error(
                path,
                Some(node),
                format!(
                    "forwarding to authoritative servers using TLS is not supported: {} ('transport: tls' cannot be used with 'authoritative: true')",
                    tls.join(", ")
                ),
            );
        }
    }
}

config_object! {
    /// Config for fallback on resolution failure.
    pub struct FallbackSchema {
        /// Enable/disable the fallback.
        "enable" enable: bool = false,
        /// Forward servers configuration for fallback.
        "servers" servers: Option<Vec<ForwardServer>>,
    }
}

impl ObjectHook for FallbackSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.enable && self.servers.is_none() {
            cx.error(path, Some(node), "the fallback is enabled ('enable: true') but no 'servers' are configured");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::test_parse as parse;

    fn fwd_ok(yaml: &str) -> ForwardSchema {
        parse(yaml).unwrap_or_else(|e| panic!("rejected {yaml:?}: {e:?}"))
    }

    fn fwd_err(yaml: &str) -> Vec<String> {
        match parse::<ForwardSchema>(yaml) {
            Ok(f) => panic!("accepted {yaml:?}: {f:?}"),
            Err(e) => e.into_iter().map(|(p, _)| p).collect(),
        }
    }

    #[test]
    fn valid_forwards() {
        let f = fwd_ok("{subtree: ., options: {authoritative: false, dnssec: true}, servers: [127.0.0.1, '::1']}");
        assert!(f.subtree.items[0].is_root());
        assert_eq!(f.servers.len(), 2);
        fwd_ok("{subtree: ., options: {authoritative: true, dnssec: true}, servers: [127.0.0.1, '::1']}");
        fwd_ok("{subtree: ., options: {authoritative: true, dnssec: false}, servers: [127.0.0.1@53, '::1']}");
        fwd_ok(
            "{subtree: ., options: {authoritative: false, dnssec: false}, servers: [{address: [127.0.0.1@5335, '::1']}]}",
        );
        fwd_ok("{subtree: ., options: {authoritative: true}, servers: [{address: [127.0.0.1, '::1']}]}");
        let f = fwd_ok(
            "{subtree: [example.com, example.net], servers: [192.0.2.1@5353, \
             {address: 1.1.1.1, transport: tls, pin-sha256: d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=}, \
             {address: ['2001:db8::1', 192.0.2.2@853], transport: tls, hostname: dns.example, ca-file: /etc/ca.pem}]}",
        );
        assert!(!f.options.authoritative && f.options.dnssec);
        assert!(!f.servers[0].is_tls() && f.servers[1].is_tls());
        assert_eq!(f.servers[0].addresses()[0].port, Some(5353));
        assert_eq!(f.servers[2].addresses().len(), 2);
        let json = serde_json::to_value(&f.servers).unwrap();
        assert_eq!(json[0], json!("192.0.2.1@5353"));
        assert_eq!(json[1]["address"], json!("1.1.1.1"));
        assert_eq!(json[2]["hostname"], json!("dns.example"));
    }

    #[test]
    fn invalid_forwards() {
        let auth = "subtree: ., options: {authoritative: true, dnssec: false}";
        assert_eq!(
            fwd_err(&format!("{{{auth}, servers: [{{address: [127.0.0.15335, '::15335'], transport: null}}]}}")),
            ["/servers/0/address/0", "/servers/0/address/1"]
        );
        assert_eq!(
            fwd_err(&format!("{{{auth}, servers: [{{address: [127.0.0.153, '::153'], transport: tls}}]}}")),
            [""]
        );
        assert_eq!(
            fwd_err("{subtree: ., options: {authoritative: true}, servers: [{address: 127.0.0.1, transport: tls}]}"),
            [""]
        );
        // every server is checked, not only the first one
        assert_eq!(fwd_err(&format!("{{{auth}, servers: [127.0.0.1, 192.0.2.1@5353]}}")), [""]);
        assert_eq!(fwd_err(&format!("{{{auth}, servers: [127.0.0.1, {{address: [192.0.2.1, 192.0.2.2@54]}}]}}")), [""]);
        assert_eq!(
            fwd_err(&format!("{{{auth}, servers: [{{address: 127.0.0.1}}, {{address: 192.0.2.1, transport: tls}}]}}")),
            [""]
        );
        assert_eq!(fwd_err(&format!("{{{auth}, servers: [{{address: 192.0.2.1@853, transport: tls}}]}}")), ["", ""]);
        assert_eq!(
            fwd_err(
                "{subtree: ., servers: [{address: 1.1.1.1, transport: tls, pin-sha256: d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=, hostname: one.one.one.one}]}"
            ),
            ["/servers/0"]
        );
        assert_eq!(
            fwd_err(
                "{subtree: ., servers: [{address: 1.1.1.1, transport: tls, pin-sha256: d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=, ca-file: /etc/ca.pem}]}"
            ),
            ["/servers/0"]
        );
        assert_eq!(fwd_err("{subtree: ., servers: []}"), ["/servers"]);
        assert_eq!(fwd_err("{subtree: .}"), ["/servers"]);
        assert_eq!(fwd_err("{servers: [127.0.0.1]}"), ["/subtree"]);
        assert_eq!(fwd_err("{subtree: exa mple..com, servers: [127.0.0.1]}"), ["/subtree"]);
        assert_eq!(fwd_err("{subtree: ., servers: [127.0.0.1], option: {}}"), [""]);
        assert_eq!(fwd_err("{subtree: ., servers: [{address: []}]}"), ["/servers/0/address"]);
        assert_eq!(fwd_err("{subtree: ., servers: [53]}"), ["/servers/0"]);
        assert_eq!(fwd_err("{subtree: ., servers: [[127.0.0.1]]}"), ["/servers/0"]);
        assert_eq!(fwd_err("{subtree: ., servers: [{address: 127.0.0.1, transport: quic}]}"), ["/servers/0/transport"]);
        assert_eq!(fwd_err("{subtree: ., servers: [{address: 127.0.0.1, port: 53}]}"), ["/servers/0"]);
        assert_eq!(fwd_err("{subtree: ., servers: [localhost]}"), ["/servers/0"]);
        // messages name the offending addresses, not Rust types
        let e = parse::<ForwardSchema>(&format!("{{{auth}, servers: [127.0.0.1, 192.0.2.1@5353]}}")).unwrap_err();
        assert!(e[0].1.contains("'192.0.2.1@5353'"), "{e:?}");
        let e = parse::<ForwardSchema>("{subtree: ., servers: [true]}").unwrap_err();
        assert!(e[0].1.contains("boolean true") && !e[0].1.contains("Schema"), "{e:?}");
    }

    #[test]
    fn fallback() {
        let err = |y: &str| parse::<FallbackSchema>(y).unwrap_err().into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(err("{enable: true}"), [""]);
        assert_eq!(err("{enable: true, servers: []}"), ["/servers"]);
        let f: FallbackSchema = parse("{enable: true, servers: [192.0.2.1, {address: '2001:db8::1@5353'}]}").unwrap();
        assert_eq!(f.servers.as_ref().unwrap()[1].addresses()[0].port, Some(5353));
        let f: FallbackSchema = parse("{}").unwrap();
        assert!(!f.enable && f.servers.is_none());
        let f: FallbackSchema = parse("{servers: [192.0.2.1]}").unwrap();
        assert!(!f.enable);
    }

    #[test]
    fn schema() {
        let s = ForwardSchema::schema();
        let item = &s["properties"]["servers"]["items"]["anyOf"];
        assert_eq!(item[0]["type"], json!("string"));
        assert_eq!(item[1]["description"], json!("Forward server configuration."));
        assert_eq!(s["properties"]["options"]["default"], json!({"authoritative": false, "dnssec": true}));
        assert_eq!(s["required"], json!(["subtree", "servers"]));
        let s = FallbackSchema::schema();
        assert_eq!(s["properties"]["servers"]["default"], json!(null));
    }
}
