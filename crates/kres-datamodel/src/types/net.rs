//! IP addresses, networks and `address@port` forms.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::json;

use super::{InterfaceName, parsed_text, text_value};

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok()
}

fn parse_port(text: &str, whole: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 5 {
        return Err(format!("'{whole}': '{text}' is not a port number"));
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("'{whole}': port {text} is out of range 1-65535")),
    }
}

fn bad_address(whole: &str, addr: &str) -> String {
    if whole == addr {
        format!("'{addr}' is not a valid IP address")
    } else {
        format!("'{whole}': '{addr}' is not a valid IP address")
    }
}

/// An IPv4 or IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpAddress {
    text: String,
    pub addr: IpAddr,
}

impl IpAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_ip(text)
            .map(|addr| IpAddress { text: text.into(), addr })
            .ok_or_else(|| format!("'{text}' is not a valid IPv4 or IPv6 address"))
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ipv4Address {
    text: String,
    pub addr: Ipv4Addr,
}

impl Ipv4Address {
    pub fn parse(text: &str) -> Result<Self, String> {
        text.parse::<Ipv4Addr>()
            .map(|addr| Ipv4Address { text: text.into(), addr })
            .map_err(|_| format!("'{text}' is not a valid IPv4 address"))
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ipv6Address {
    text: String,
    pub addr: Ipv6Addr,
}

impl Ipv6Address {
    pub fn parse(text: &str) -> Result<Self, String> {
        text.parse::<Ipv6Addr>()
            .map(|addr| Ipv6Address { text: text.into(), addr })
            .map_err(|_| format!("'{text}' is not a valid IPv6 address"))
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An IP address followed by `!` (renumbering to an exact address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddressEm {
    text: String,
    pub addr: IpAddr,
}

impl IpAddressEm {
    pub fn parse(text: &str) -> Result<Self, String> {
        text.strip_suffix('!')
            .and_then(parse_ip)
            .map(|addr| IpAddressEm { text: text.into(), addr })
            .ok_or_else(|| format!("'{text}' is not an IP address followed by a single '!'"))
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An IP network `address/prefix` whose host bits are zero; a bare address is a host network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    text: String,
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNetwork {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = parse_ip(addr_text)
            .ok_or_else(|| format!("'{text}' is not a valid IP network: bad address '{addr_text}'"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) if addr.is_ipv4() && p.contains('.') => ipv4_mask_prefix(p).ok_or_else(|| {
                format!("'{text}' is not a valid IP network: '{p}' is neither a netmask nor a hostmask")
            })?,
            Some(p) => {
                let v = (!p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse::<u8>().ok())
                    .flatten()
                    .filter(|v| *v <= max);
                v.ok_or_else(|| format!("'{text}' is not a valid IP network: prefix length must be 0-{max}"))?
            }
        };
        let host_bits_zero = match addr {
            IpAddr::V4(a) => prefix == 32 || u32::from(a) & (u32::MAX >> prefix) == 0,
            IpAddr::V6(a) => prefix == 128 || u128::from(a) & (u128::MAX >> prefix) == 0,
        };
        if !host_bits_zero {
            return Err(format!("'{text}' has host bits set: the address part must be the network address"));
        }
        Ok(IpNetwork { text: format!("{addr}/{prefix}"), addr, prefix })
    }
    /// `address/prefix`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                self.prefix == 0 || (u32::from(n) ^ u32::from(a)) >> (32 - u32::from(self.prefix)) == 0
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                self.prefix == 0 || (u128::from(n) ^ u128::from(a)) >> (128 - u32::from(self.prefix)) == 0
            }
            _ => false,
        }
    }
}

/// The prefix length of an IPv4 netmask (`255.255.0.0`) or hostmask (`0.0.255.255`), as Python's `ipaddress`
/// (and so the reference) accepts them after the `/`.
fn ipv4_mask_prefix(mask: &str) -> Option<u8> {
    let bits = u32::from(mask.parse::<Ipv4Addr>().ok()?);
    if bits.leading_ones() + bits.trailing_zeros() == 32 {
        Some(bits.leading_ones() as u8)
    } else if bits.leading_zeros() + bits.trailing_ones() == 32 {
        Some(bits.leading_zeros() as u8)
    } else {
        None
    }
}

/// An IPv6 network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Network(IpNetwork);

impl Ipv6Network {
    pub fn parse(text: &str) -> Result<Self, String> {
        let net = IpNetwork::parse(text)?;
        if net.addr.is_ipv4() {
            return Err(format!("'{text}' is not an IPv6 network"));
        }
        Ok(Ipv6Network(net))
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn network(&self) -> &IpNetwork {
        &self.0
    }
}

/// An IPv6 network with prefix length 96 (DNS64 prefixes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Network96(IpNetwork);

impl Ipv6Network96 {
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.contains('/') && text.parse::<Ipv6Addr>().is_ok() {
            return Err(format!("'{text}' has no prefix length: write it as a /96 network, e.g. {text}/96"));
        }
        let net = Ipv6Network::parse(text)?.0;
        if net.prefix != 96 {
            return Err(format!("'{text}' must be a /96 network"));
        }
        Ok(Ipv6Network96(net))
    }
    pub fn from_static(text: &'static str) -> Self {
        Self::parse(text).unwrap_or_else(|e| panic!("invalid built-in network: {e}"))
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn network(&self) -> &IpNetwork {
        &self.0
    }
}

/// What a listen item or `iface@port` names: an address or an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenTarget {
    Address(IpAddr),
    Interface(InterfaceName),
}

fn parse_target(text: &str, whole: &str) -> Result<ListenTarget, String> {
    if let Some(ip) = parse_ip(text) {
        return Ok(ListenTarget::Address(ip));
    }
    InterfaceName::parse(text)
        .map(ListenTarget::Interface)
        .map_err(|_| format!("'{whole}': '{text}' is neither an IP address nor an interface name"))
}

/// `<ip-address|interface-name>@<port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfacePort {
    text: String,
    pub target: ListenTarget,
    pub port: u16,
}

impl InterfacePort {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (t, p) =
            text.split_once('@').ok_or_else(|| format!("'{text}': expected '<address or interface>@<port>'"))?;
        Ok(InterfacePort { text: text.into(), target: parse_target(t, text)?, port: parse_port(p, text)? })
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `<ip-address|interface-name>[@<port>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceOptionalPort {
    text: String,
    pub target: ListenTarget,
    pub port: Option<u16>,
}

impl InterfaceOptionalPort {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once('@') {
            Some((t, p)) => Ok(InterfaceOptionalPort {
                text: text.into(),
                target: parse_target(t, text)?,
                port: Some(parse_port(p, text)?),
            }),
            None => Ok(InterfaceOptionalPort { text: text.into(), target: parse_target(text, text)?, port: None }),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `<ip-address>@<port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddressPort {
    text: String,
    pub addr: IpAddr,
    pub port: u16,
}

impl IpAddressPort {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (a, p) = text.split_once('@').ok_or_else(|| format!("'{text}': expected '<ip-address>@<port>'"))?;
        let addr = parse_ip(a).ok_or_else(|| bad_address(text, a))?;
        Ok(IpAddressPort { text: text.into(), addr, port: parse_port(p, text)? })
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `<ip-address>[@<port>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddressOptionalPort {
    text: String,
    pub addr: IpAddr,
    pub port: Option<u16>,
}

impl IpAddressOptionalPort {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (a, p) = match text.split_once('@') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = parse_ip(a).ok_or_else(|| bad_address(text, a))?;
        let port = p.map(|p| parse_port(p, text)).transpose()?;
        Ok(IpAddressOptionalPort { text: text.into(), addr, port })
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

text_value!(
    IpAddress,
    Ipv4Address,
    Ipv6Address,
    IpAddressEm,
    IpNetwork,
    Ipv6Network,
    Ipv6Network96,
    InterfacePort,
    InterfaceOptionalPort,
    IpAddressPort,
    IpAddressOptionalPort
);
parsed_text!(IpAddress, json!({"type": "string"}));
parsed_text!(Ipv4Address, json!({"type": "string"}));
parsed_text!(Ipv6Address, json!({"type": "string"}));
parsed_text!(IpAddressEm, json!({"type": "string"}));
parsed_text!(IpNetwork, json!({"type": "string"}));
parsed_text!(Ipv6Network, json!({"type": "string"}));
parsed_text!(Ipv6Network96, json!({"type": "string"}));
parsed_text!(InterfacePort, json!({"type": "string"}));
parsed_text!(InterfaceOptionalPort, json!({"type": "string"}));
parsed_text!(IpAddressPort, json!({"type": "string"}));
parsed_text!(IpAddressOptionalPort, json!({"type": "string"}));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_network_netmask_and_hostmask_forms() {
        let net = |t: &str| IpNetwork::parse(t).map(|n| n.as_str().to_owned());
        assert_eq!(net("10.0.0.0/255.0.0.0").as_deref(), Ok("10.0.0.0/8"));
        assert_eq!(net("10.0.0.0/0.255.255.255").as_deref(), Ok("10.0.0.0/8"));
        assert_eq!(net("0.0.0.0/0.0.0.0").as_deref(), Ok("0.0.0.0/0"));
        assert_eq!(net("10.1.2.3/255.255.255.255").as_deref(), Ok("10.1.2.3/32"));
        assert!(net("10.0.0.0/255.0.255.0").is_err());
        assert!(net("10.0.0.1/255.0.0.0").is_err(), "host bits");
        assert!(net("2001:db8::/255.255.0.0").is_err(), "no masks for IPv6");
    }
}
