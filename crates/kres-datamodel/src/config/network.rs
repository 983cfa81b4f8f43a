//! `/network`: listening sockets, TLS, PROXYv2, QUIC and other network-related settings.

use std::net::IpAddr;

use serde_json::{Value as Json, json};

use crate::model::{
    Ctx, FromNode, Int0_512, Int0_65535, Int1_4096, ListOrItem, ObjectHook, PortNumber, describe, strict_text,
};
use crate::node::{Node, Value};
use crate::path::Path;
use crate::types::{
    EscapedStr32B, InterfaceOptionalPort, IpAddress, IpAddressEm, IpNetwork, Ipv4Address, Ipv6Address, ListenTarget,
    ReadableFile, SizeUnit, WritableFilePath,
};
use crate::{config_object, string_enum};

// ----- small union types ------------------------------------------------------------------------------------

/// `"auto"` or a boolean (file watchdogs). The manager always watches files, so `auto` means `true`; objects
/// holding it resolve it while validating, so a validated configuration only holds [`AutoBool::Bool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoBool {
    Auto,
    Bool(bool),
}

impl AutoBool {
    /// The effective value (`auto` is `true`).
    pub fn enabled(self) -> bool {
        match self {
            AutoBool::Auto => true,
            AutoBool::Bool(b) => b,
        }
    }

    /// Replaces `auto` by its effective value.
    pub fn resolve(&mut self) {
        *self = AutoBool::Bool(self.enabled());
    }
}

impl serde::Serialize for AutoBool {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AutoBool::Auto => s.serialize_str("auto"),
            AutoBool::Bool(b) => s.serialize_bool(*b),
        }
    }
}

impl FromNode for AutoBool {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match &node.value {
            Value::Bool(b) => Some(AutoBool::Bool(*b)),
            Value::Str(s) if s == "auto" => Some(AutoBool::Auto),
            _ => {
                cx.error(
                    path,
                    Some(node),
                    format!("expected 'auto' or a boolean (true or false), got {}", describe(node)),
                );
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"anyOf": [{"type": "string", "enum": ["auto"]}, {"type": "boolean"}]})
    }
}

/// EDNS(0) padding: `true` (default padding), `false` (none) or a block size in bytes (0-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPadding {
    Bool(bool),
    Size(Int0_512),
}

impl TlsPadding {
    /// The Lua argument of `net.tls_padding()`.
    pub fn lua_value(self) -> String {
        match self {
            TlsPadding::Bool(b) => b.to_string(),
            TlsPadding::Size(n) => n.get().to_string(),
        }
    }
}

impl serde::Serialize for TlsPadding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TlsPadding::Bool(b) => s.serialize_bool(*b),
            TlsPadding::Size(n) => s.serialize_i64(n.get()),
        }
    }
}

impl FromNode for TlsPadding {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match &node.value {
            Value::Bool(b) => Some(TlsPadding::Bool(*b)),
            Value::Int(_) => Int0_512::from_node(node, cx, path).map(TlsPadding::Size),
            _ => {
                cx.error(
                    path,
                    Some(node),
                    format!("expected a boolean or an integer between 0 and 512, got {}", describe(node)),
                );
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"anyOf": [{"type": "boolean"}, Int0_512::schema()]})
    }
}

/// The destination of an address renumbering: `<ip>!` (replace the whole address) or `<ip>` (replace the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenumberDestination {
    Exact(IpAddressEm),
    Prefix(IpAddress),
}

impl RenumberDestination {
    /// The destination as written (with the `!` for exact addresses).
    pub fn as_str(&self) -> &str {
        match self {
            RenumberDestination::Exact(a) => a.as_str(),
            RenumberDestination::Prefix(a) => a.as_str(),
        }
    }
    pub fn addr(&self) -> IpAddr {
        match self {
            RenumberDestination::Exact(a) => a.addr,
            RenumberDestination::Prefix(a) => a.addr,
        }
    }
}

impl std::fmt::Display for RenumberDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RenumberDestination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromNode for RenumberDestination {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        let text = strict_text(node, cx, path)?;
        let parsed = if text.ends_with('!') {
            IpAddressEm::parse(text).map(RenumberDestination::Exact)
        } else {
            IpAddress::parse(text).map(RenumberDestination::Prefix)
        };
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                cx.error(path, Some(node), format!("{e} (expected an IP address, optionally followed by '!')"));
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"anyOf": [IpAddressEm::schema(), IpAddress::schema()]})
    }
}

/// An IP address or an IP network (`/network/proxy-protocol/allow` items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpAddressOrNetwork {
    Address(IpAddress),
    Network(IpNetwork),
}

impl IpAddressOrNetwork {
    /// The address as written, or the network as `address/prefix`.
    pub fn as_str(&self) -> &str {
        match self {
            IpAddressOrNetwork::Address(a) => a.as_str(),
            IpAddressOrNetwork::Network(n) => n.as_str(),
        }
    }
}

impl std::fmt::Display for IpAddressOrNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for IpAddressOrNetwork {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromNode for IpAddressOrNetwork {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        let text = strict_text(node, cx, path)?;
        let parsed = if text.contains('/') {
            IpNetwork::parse(text).map(IpAddressOrNetwork::Network)
        } else {
            IpAddress::parse(text)
                .map(IpAddressOrNetwork::Address)
                .map_err(|_| format!("'{text}' is neither an IP address nor an IP network"))
        };
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                cx.error(path, Some(node), e);
                None
            }
        }
    }
    fn schema() -> Json {
        json!({"anyOf": [IpAddress::schema(), IpNetwork::schema()]})
    }
}

// ----- /network members ---------------------------------------------------------------------------------------

config_object! {
    /// EDNS payload size advertised in DNS packets.
    pub struct EdnsBufferSizeSchema {
        /// Maximum EDNS upstream (towards other DNS servers) payload size.
        "upstream" upstream: SizeUnit = SizeUnit::from_static("1232B"),
        /// Maximum EDNS downstream (towards clients) payload size for communication.
        "downstream" downstream: SizeUnit = SizeUnit::from_static("1232B"),
    }
}
impl ObjectHook for EdnsBufferSizeSchema {}

config_object! {
    /// Renumbers addresses in answers to different address space.
    pub struct AddressRenumberingSchema {
        /// Source subnet.
        "source" source: IpNetwork,
        /// Destination address prefix.
        "destination" destination: RenumberDestination,
    }
}
impl ObjectHook for AddressRenumberingSchema {}

config_object! {
    /// TLS configuration, also affects DNS over TLS, DNS over HTTPS and DNS over QUIC.
    pub struct TlsSchema {
        /// Enables watchdog of changes in TLS certificate files. Requires the optional 'watchdog' dependency.
        "watchdog" watchdog: AutoBool = AutoBool::Auto,
        /// Path to certificate file.
        "cert-file" cert_file: Option<ReadableFile>,
        /// Path to certificate key file.
        "key-file" key_file: Option<ReadableFile>,
        /// Secret for TLS session resumption via tickets. (RFC 5077).
        "sticket-secret" sticket_secret: Option<EscapedStr32B>,
        /// Path to file with secret for TLS session resumption via tickets. (RFC 5077).
        "sticket-secret-file" sticket_secret_file: Option<ReadableFile>,
        /// EDNS(0) padding of queries and answers sent over an encrypted channel.
        "padding" padding: TlsPadding = TlsPadding::Bool(true),
    }
}

impl ObjectHook for TlsSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        self.watchdog.resolve();
        if self.sticket_secret.is_some() && self.sticket_secret_file.is_some() {
            cx.error(
                path,
                Some(node),
                "'sticket-secret' and 'sticket-secret-file' are both set, only one of them can be used",
            );
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), None) => cx.error(
                path,
                Some(node),
                format!("'cert-file' ({cert}) is set without 'key-file': they must be configured together"),
            ),
            (None, Some(key)) => cx.error(
                path,
                Some(node),
                format!("'key-file' ({key}) is set without 'cert-file': they must be configured together"),
            ),
            _ => {}
        }
    }
}

impl TlsSchema {
    /// Whether the manager should watch the certificate and key files and reload kresd when they change.
    pub fn watch_files(&self) -> bool {
        self.watchdog.enabled() && self.cert_file.is_some() && self.key_file.is_some()
    }
}

config_object! {
    /// PROXYv2 protocol configuration.
    pub struct ProxyProtocolSchema {
        /// Enable/disable PROXYv2 protocol.
        "enable" enable: bool = false,
        /// Allow usage of the PROXYv2 protocol headers by clients on the specified addresses.
        "allow" allow: Option<Vec<IpAddressOrNetwork>>,
    }
}
impl ObjectHook for ProxyProtocolSchema {}

impl ProxyProtocolSchema {
    /// The clients allowed to send PROXYv2 headers: empty when disabled, or when enabled without `allow`
    /// (rendered as `net.proxy_allowed({})`).
    pub fn allowed(&self) -> &[IpAddressOrNetwork] {
        match (&self.allow, self.enable) {
            (Some(allow), true) => allow,
            _ => &[],
        }
    }
}

config_object! {
    /// DNS over QUIC configuration.
    pub struct QuicSchema {
        /// Maximum number of active connections a single worker is allowed to accept.
        "max-conns" max_conns: Int1_4096 = Int1_4096::new(1024),
        /// Maximum number of concurrent streams each connection is allowed to open. Each stream allocates > 64 KB of
        /// memory, setting this value too high might quicly consume a lot of memory. We recommend between 4 and 64.
        "max-streams" max_streams: Int1_4096 = Int1_4096::new(1024),
        /// Require address validation for unknown source addresses. This adds a 1-RTT delay to connection
        /// establishment.
        "require-retry" require_retry: bool = false,
    }
}
impl ObjectHook for QuicSchema {}

// ----- listen -------------------------------------------------------------------------------------------------

string_enum! {
    /// DNS query transport protocol of a listening socket.
    pub enum ListenKind {
        "dns" => Dns,
        "xdp" => Xdp,
        "dot" => Dot,
        "doh-legacy" => DohLegacy,
        "doh2" => Doh2,
        "doh2-insecure" => Doh2Insecure,
        "doq" => Doq,
    }
}

impl ListenKind {
    /// The port used when neither `port` nor `@port` is given.
    pub fn default_port(self) -> u16 {
        match self {
            ListenKind::Dns | ListenKind::Xdp => 53,
            ListenKind::Dot | ListenKind::Doq => 853,
            ListenKind::DohLegacy | ListenKind::Doh2 => 443,
            ListenKind::Doh2Insecure => 80,
        }
    }

    /// The `kind` value of kresd's `net.listen()` (`dot` is `tls`, `doh-legacy` is `doh_legacy`, the others are
    /// the same as in the configuration).
    pub fn kresd_kind(self) -> &'static str {
        match self {
            ListenKind::Dns => "dns",
            ListenKind::Xdp => "xdp",
            ListenKind::Dot => "tls",
            ListenKind::DohLegacy => "doh_legacy",
            ListenKind::Doh2 => "doh2",
            ListenKind::Doh2Insecure => "doh2-insecure",
            ListenKind::Doq => "doq",
        }
    }
}

/// One socket (or interface) a listen item binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An IP address with its effective port.
    Address { addr: IpAddr, port: u16 },
    /// A network interface (all its addresses, resolved by kresd) with its effective port.
    Interface { name: String, port: u16 },
    /// A unix socket: the absolute path (relative paths are resolved against the configuration's directory).
    UnixSocket(String),
}

impl serde::Serialize for Endpoint {
    /// `{address, port}`, `{interface, port}` or `{unix-socket}` (the form of the conformance data).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Endpoint::Address { addr, port } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("address", &addr.to_string())?;
                m.serialize_entry("port", port)?;
                m.end()
            }
            Endpoint::Interface { name, port } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("interface", name)?;
                m.serialize_entry("port", port)?;
                m.end()
            }
            Endpoint::UnixSocket(path) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("unix-socket", path)?;
                m.end()
            }
        }
    }
}

config_object! {
    /// Configuration of listening interface.
    pub struct ListenSchema {
        /// IP address or interface name with optional port number to listen to.
        "interface" interface: Option<ListOrItem<InterfaceOptionalPort>>,
        /// Path to unix domain socket to listen to.
        "unix-socket" unix_socket: Option<ListOrItem<WritableFilePath>>,
        /// Port number to listen to.
        "port" port: Option<PortNumber>,
        /// Specifies DNS query transport protocol.
        "kind" kind: ListenKind = ListenKind::Dns,
        /// Used for binding to non-local address.
        "freebind" freebind: bool = false,
    }
}

impl ObjectHook for ListenSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        match (&self.interface, &self.unix_socket) {
            (Some(_), Some(_)) => cx.error(
                path,
                Some(node),
                "'interface' and 'unix-socket' cannot be used in the same listen item, use one item for each",
            ),
            (None, None) => cx.error(path, Some(node), "one of 'interface' or 'unix-socket' must be configured"),
            _ => {}
        }
        if let (Some(port), Some(_)) = (self.port, &self.unix_socket) {
            cx.error(
                &path.key("port"),
                node.get("port").or(Some(node)),
                format!(
                    "'port' ({}) cannot be used with 'unix-socket', a port can only be configured for 'interface'",
                    port.get()
                ),
            );
        }
        let Some(interfaces) = &self.interface else { return };
        let (with_port, without_port): (Vec<&InterfaceOptionalPort>, Vec<_>) =
            interfaces.iter().partition(|i| i.port.is_some());
        if let Some(port) = self.port.filter(|_| !with_port.is_empty()) {
            let items: Vec<String> = with_port.iter().map(|i| format!("'{i}'")).collect();
            cx.error(
                path,
                Some(node),
                format!(
                    "the port number is defined in two places: by the '@<port>' syntax ({}) and by the 'port' option ({}); use only one of them",
                    items.join(", "),
                    port.get()
                ),
            );
        }
        if let (Some(a), Some(b)) = (with_port.first(), without_port.first()) {
            cx.error(
                path,
                Some(node),
                format!(
                    "the '@<port>' syntax must be used either for all or for none of the interfaces in the list ('{a}' has a port, '{b}' has none)"
                ),
            );
        }
        // Dynamic default: the port by kind, unless the interfaces carry their own.
        if self.port.is_none() && with_port.is_empty() {
            self.port = Some(PortNumber::new(i64::from(self.kind.default_port())));
        }
    }
}

impl ListenSchema {
    /// An item listening on `interface` (an address or an interface name) on the default port of `kind`.
    fn default_item(interface: &str, freebind: bool) -> ListenSchema {
        let iface = InterfaceOptionalPort::parse(interface).expect("valid built-in listen address");
        ListenSchema {
            interface: Some(ListOrItem { items: vec![iface], was_list: true }),
            unix_socket: None,
            port: Some(PortNumber::new(53)),
            kind: ListenKind::Dns,
            freebind,
        }
    }

    /// The effective port of an interface item: its `@port`, else `port`, else the default of the kind.
    pub fn effective_port(&self, interface: &InterfaceOptionalPort) -> u16 {
        interface
            .port
            .or_else(|| self.port.and_then(|p| u16::try_from(p.get()).ok()))
            .unwrap_or_else(|| self.kind.default_port())
    }

    /// Everything this item binds, in the order written.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut out = Vec::new();
        for interface in self.interface.iter().flatten() {
            let port = self.effective_port(interface);
            out.push(match &interface.target {
                ListenTarget::Address(addr) => Endpoint::Address { addr: *addr, port },
                ListenTarget::Interface(name) => Endpoint::Interface { name: name.as_str().to_owned(), port },
            });
        }
        for socket in self.unix_socket.iter().flatten() {
            out.push(Endpoint::UnixSocket(socket.display()));
        }
        out
    }
}

/// The default of `/network/listen`: DNS on 127.0.0.1 and ::1 (freebind), port 53.
pub fn default_listen() -> Vec<ListenSchema> {
    vec![ListenSchema::default_item("127.0.0.1", false), ListenSchema::default_item("::1", true)]
}

config_object! {
    /// Network connections and protocols configuration.
    pub struct NetworkSchema {
        /// Enable/disable using IPv4 for contacting upstream nameservers.
        "do-ipv4" do_ipv4: bool = true,
        /// Enable/disable using IPv6 for contacting upstream nameservers.
        "do-ipv6" do_ipv6: bool = true,
        /// IPv4 address used to perform queries. Not set by default, which lets the OS choose any address.
        "out-interface-v4" out_interface_v4: Option<Ipv4Address>,
        /// IPv6 address used to perform queries. Not set by default, which lets the OS choose any address.
        "out-interface-v6" out_interface_v6: Option<Ipv6Address>,
        /// TCP pipeline limit. The number of outstanding queries that a single client connection can make in
        /// parallel.
        "tcp-pipeline" tcp_pipeline: Int0_65535 = Int0_65535::new(100),
        /// Allows clients to discover the connection timeout. (RFC 7828)
        "edns-tcp-keepalive" edns_tcp_keepalive: bool = true,
        /// Maximum EDNS payload size advertised in DNS packets. Different values can be configured for
        /// communication downstream (towards clients) and upstream (towards other DNS servers).
        "edns-buffer-size" edns_buffer_size: EdnsBufferSizeSchema,
        /// Renumbers addresses in answers to different address space.
        "address-renumbering" address_renumbering: Option<Vec<AddressRenumberingSchema>>,
        /// TLS configuration, also affects DNS over TLS, DNS over HTTPS and DNS over QUIC.
        "tls" tls: TlsSchema,
        /// PROXYv2 protocol configuration.
        "proxy-protocol" proxy_protocol: ProxyProtocolSchema,
        /// DNS over QUIC configuration.
        "quic" quic: QuicSchema,
        /// List of interfaces to listen to and its configuration.
        "listen" listen: Vec<ListenSchema> = default_listen(),
    }
}
impl ObjectHook for NetworkSchema {}

impl NetworkSchema {
    /// Whether some listen item uses the legacy DoH implementation (kresd then needs the `http` module).
    pub fn uses_doh_legacy(&self) -> bool {
        self.listen.iter().any(|l| l.kind == ListenKind::DohLegacy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::test_parse as parse;

    fn listen_err(yaml: &str) -> Vec<String> {
        match parse::<ListenSchema>(yaml) {
            Ok(v) => panic!("accepted {yaml:?}: {v:?}"),
            Err(e) => e.into_iter().map(|(p, _)| p).collect(),
        }
    }

    fn endpoints(yaml: &str) -> Json {
        let listen: ListenSchema = parse(yaml).unwrap_or_else(|e| panic!("rejected {yaml:?}: {e:?}"));
        serde_json::to_value(listen.endpoints()).unwrap()
    }

    #[test]
    fn listen_endpoints_and_default_ports() {
        assert_eq!(
            endpoints("{unix-socket: [/run/test/kresd-socket]}"),
            json!([{"unix-socket": "/run/test/kresd-socket"}])
        );
        assert_eq!(endpoints("{interface: ['::1']}"), json!([{"address": "::1", "port": 53}]));
        assert_eq!(endpoints("{interface: '::1', kind: doh-legacy}"), json!([{"address": "::1", "port": 443}]));
        assert_eq!(endpoints("{interface: '::1', kind: doh2}"), json!([{"address": "::1", "port": 443}]));
        assert_eq!(endpoints("{interface: '::1', kind: doh2-insecure}"), json!([{"address": "::1", "port": 80}]));
        assert_eq!(endpoints("{interface: '::1', kind: dot}"), json!([{"address": "::1", "port": 853}]));
        assert_eq!(endpoints("{interface: '::1', kind: doq}"), json!([{"address": "::1", "port": 853}]));
        assert_eq!(endpoints("{interface: eth0, kind: xdp}"), json!([{"interface": "eth0", "port": 53}]));
        assert_eq!(
            endpoints("{interface: [127.0.0.1, '::1'], port: 5335}"),
            json!([{"address": "127.0.0.1", "port": 5335}, {"address": "::1", "port": 5335}])
        );
        assert_eq!(
            endpoints("{interface: [lo@5335, eth0@5335]}"),
            json!([{"interface": "lo", "port": 5335}, {"interface": "eth0", "port": 5335}])
        );
        assert_eq!(endpoints("{unix-socket: [/a, /b]}"), json!([{"unix-socket": "/a"}, {"unix-socket": "/b"}]));
    }

    #[test]
    fn listen_port_is_filled_only_without_at_port() {
        let l: ListenSchema = parse("{interface: '::1', kind: dot}").unwrap();
        assert_eq!(l.port, Some(PortNumber::new(853)));
        let l: ListenSchema = parse("{interface: 'lo@5335'}").unwrap();
        assert_eq!(l.port, None);
        let l: ListenSchema = parse("{unix-socket: /a}").unwrap();
        assert_eq!(l.port, None);
    }

    #[test]
    fn listen_rejections() {
        assert_eq!(listen_err("{unix-socket: /a, port: 53}"), ["/port"]);
        assert_eq!(listen_err("{unix-socket: /a, port: '53'}"), ["/port"]);
        assert_eq!(listen_err("{interface: '::1', unix-socket: /a}"), [""]);
        assert_eq!(listen_err("{}"), [""]);
        assert_eq!(listen_err("{interface: '::1@5335', port: 5335}"), [""]);
        assert_eq!(listen_err("{interface: [127.0.0.1@5335, '::1@5335'], port: 5335}"), [""]);
        assert_eq!(listen_err("{interface: [lo, eth0@5335]}"), [""]);
        assert_eq!(listen_err("{interface: '::1', kind: doh}"), ["/kind"]);
        assert_eq!(listen_err("{interface: '::1', freebind: 'yes'}"), ["/freebind"]);
        assert_eq!(listen_err("{interface: '::1', protocol: udp}"), [""]);
        assert_eq!(listen_err("{interface: []}"), ["/interface"]);
        assert_eq!(listen_err("{interface: 'lo@0'}"), ["/interface"]);
    }

    #[test]
    fn network_defaults() {
        let n: NetworkSchema = parse("{}").unwrap();
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(
            v["listen"],
            json!([
                {"interface": ["127.0.0.1"], "unix-socket": null, "port": 53, "kind": "dns", "freebind": false},
                {"interface": ["::1"], "unix-socket": null, "port": 53, "kind": "dns", "freebind": true},
            ])
        );
        assert_eq!(v["edns-buffer-size"], json!({"upstream": "1232B", "downstream": "1232B"}));
        assert_eq!(v["tcp-pipeline"], json!(100));
        assert_eq!(v["tls"]["watchdog"], json!(true));
        assert_eq!(v["tls"]["padding"], json!(true));
        assert_eq!(v["quic"], json!({"max-conns": 1024, "max-streams": 1024, "require-retry": false}));
        assert_eq!(v["proxy-protocol"], json!({"enable": false, "allow": null}));
        assert_eq!(n.listen, default_listen());
    }

    #[test]
    fn network_other() {
        let err = |y: &str| parse::<NetworkSchema>(y).unwrap_err().into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(
            err("{tls: {sticket-secret: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, sticket-secret-file: /etc/secret}}"),
            ["/tls"]
        );
        assert_eq!(err("{tls: {cert-file: /etc/cert.pem}}"), ["/tls"]);
        assert_eq!(err("{tls: {key-file: /etc/key.pem}}"), ["/tls"]);
        assert_eq!(err("{tls: {sticket-secret: short}}"), ["/tls/sticket-secret"]);
        assert_eq!(err("{tls: {padding: 513}}"), ["/tls/padding"]);
        assert_eq!(err("{tls: {padding: '8'}}"), ["/tls/padding"]);
        assert_eq!(err("{tls: {watchdog: 'yes'}}"), ["/tls/watchdog"]);
        assert_eq!(err("{proxy-protocol: {enable: true, allow: []}}"), ["/proxy-protocol/allow"]);
        assert_eq!(err("{proxy-protocol: {allow: [10.0.0.1/8]}}"), ["/proxy-protocol/allow/0"]);
        assert_eq!(err("{edns-buffer-size: {upstream: 4096}}"), ["/edns-buffer-size/upstream"]);
        assert_eq!(err("{listen: []}"), ["/listen"]);
        assert_eq!(err("{out-interface-v4: '::1'}"), ["/out-interface-v4"]);
        assert_eq!(
            err("{address-renumbering: [{source: 10.0.0.0/8, destination: 10.0.0.1!!}]}"),
            ["/address-renumbering/0/destination"]
        );
        assert_eq!(err("{quic: {max-conns: 0}}"), ["/quic/max-conns"]);

        let n: NetworkSchema = parse(
            "{address-renumbering: [{source: 10.10.10.0/24, destination: 192.168.1.0}, \
             {source: 10.10.10.0/24, destination: 192.168.1.0!}], \
             tls: {cert-file: /c, key-file: /k, watchdog: false, padding: 64}, \
             do-ipv6: false, out-interface-v4: 192.0.2.1}",
        )
        .unwrap();
        let ren = n.address_renumbering.as_ref().unwrap();
        assert!(matches!(ren[0].destination, RenumberDestination::Prefix(_)));
        assert!(matches!(ren[1].destination, RenumberDestination::Exact(_)));
        assert_eq!(ren[1].destination.as_str(), "192.168.1.0!");
        assert_eq!(n.tls.padding.lua_value(), "64");
        assert!(!n.tls.watch_files());

        let n: NetworkSchema = parse("{tls: {cert-file: /c, key-file: /k}}").unwrap();
        assert_eq!(n.tls.watchdog, AutoBool::Bool(true));
        assert!(n.tls.watch_files());
    }

    #[test]
    fn proxy_protocol() {
        let n: NetworkSchema = parse("{proxy-protocol: {enable: true, allow: [172.22.0.1, 172.18.1.0/24]}}").unwrap();
        let allowed: Vec<&str> = n.proxy_protocol.allowed().iter().map(|a| a.as_str()).collect();
        assert_eq!(allowed, ["172.22.0.1", "172.18.1.0/24"]);
        let n: NetworkSchema = parse("{proxy-protocol: {enable: true}}").unwrap();
        assert!(n.proxy_protocol.allowed().is_empty());
        let n: NetworkSchema = parse("{proxy-protocol: {allow: [172.22.0.1]}}").unwrap();
        assert!(n.proxy_protocol.allowed().is_empty());
    }

    #[test]
    fn schema_defaults() {
        let s = NetworkSchema::schema();
        assert_eq!(s["properties"]["tls"]["properties"]["watchdog"]["default"], json!("auto"));
        assert_eq!(s["properties"]["tls"]["default"]["watchdog"], json!(true));
        assert_eq!(s["properties"]["listen"]["default"][1]["freebind"], json!(true));
        assert_eq!(s["properties"]["listen"]["items"]["description"], json!("Configuration of listening interface."));
        assert!(s["properties"]["tls"]["properties"]["padding"]["anyOf"].is_array());
    }
}
