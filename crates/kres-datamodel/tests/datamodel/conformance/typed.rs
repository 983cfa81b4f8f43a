//! Standalone value types: which Rust type a case group is about, parsing a value with that type alone, and the
//! typed "normalized" forms of the data files (`{string, bytes}`, `{string, micros, millis, seconds}`,
//! `{string, punycode}`, `{address|interface, port}`).

use kres_datamodel::ValidationErrors;
use kres_datamodel::model::{FromNode, Int, ListOrItem, PortNumber, ValidationOptions, parse_value};
use kres_datamodel::node::Node;
use kres_datamodel::types::{
    DomainName, EscapedStr, IdPattern, InterfaceName, InterfaceOptionalPort, InterfacePort, IpAddress, IpAddressEm,
    IpAddressOptionalPort, IpAddressPort, IpNetwork, Ipv4Address, Ipv6Address, Ipv6Network, Ipv6Network96,
    ListenTarget, PinSha256, SizeUnit, TimeUnit,
};
use serde_json::{Value, json};

/// The value type each group of `value-types.yaml` (and `generic.yaml`'s `list-or-item`) is about.
const GROUP_TYPES: &[(&str, Ty)] = &[
    ("port", Ty::PortNumber),
    ("size-unit", Ty::SizeUnit),
    ("time-unit", Ty::TimeUnit),
    ("pin-sha256", Ty::PinSha256),
    ("escaped-string", Ty::EscapedStr),
    ("escaped-multiline", Ty::EscapedStr),
    ("domain-name", Ty::DomainName),
    ("interface-name", Ty::InterfaceName),
    ("interface-port", Ty::InterfacePort),
    ("interface-optional-port", Ty::InterfaceOptionalPort),
    ("ip-address-port", Ty::IpAddressPort),
    ("ip-address-optional-port", Ty::IpAddressOptionalPort),
    ("ip-address", Ty::IpAddress),
    ("ipv4-address", Ty::Ipv4Address),
    ("ipv6-address", Ty::Ipv6Address),
    ("ip-network", Ty::IpNetwork),
    ("ipv6-network", Ty::Ipv6Network),
    ("ipv6-network-96", Ty::Ipv6Network96),
    ("ip-address-em", Ty::IpAddressEm),
    ("tag-id", Ty::IdPattern),
];

/// A Rust type a value can be parsed with on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    PortNumber,
    SizeUnit,
    TimeUnit,
    PinSha256,
    EscapedStr,
    DomainName,
    InterfaceName,
    InterfacePort,
    InterfaceOptionalPort,
    IpAddressPort,
    IpAddressOptionalPort,
    IpAddress,
    Ipv4Address,
    Ipv6Address,
    IpNetwork,
    Ipv6Network,
    Ipv6Network96,
    IpAddressEm,
    IdPattern,
    ListOrItemInt,
    ListOrItemStr,
    ListOrItemBool,
}

/// The type of a group, by its name.
pub fn group_type(group: &str) -> Option<Ty> {
    GROUP_TYPES.iter().find(|(name, _)| *name == group).map(|(_, ty)| *ty)
}

/// The `ListOrItem` type for an `item_type` (`int`, `str`, `bool`).
pub fn list_or_item(item_type: &str) -> Option<Ty> {
    match item_type {
        "int" => Some(Ty::ListOrItemInt),
        "str" => Some(Ty::ListOrItemStr),
        "bool" => Some(Ty::ListOrItemBool),
        _ => None,
    }
}

/// The family of a typed normalization, recognised by its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Size,
    Time,
    Domain,
    AddressPort,
}

fn shape_of_type(ty: Ty) -> Option<Shape> {
    match ty {
        Ty::SizeUnit => Some(Shape::Size),
        Ty::TimeUnit => Some(Shape::Time),
        Ty::DomainName => Some(Shape::Domain),
        Ty::InterfacePort | Ty::InterfaceOptionalPort | Ty::IpAddressPort | Ty::IpAddressOptionalPort => {
            Some(Shape::AddressPort)
        }
        _ => None,
    }
}

fn shape_of_normalized(normalized: &Value) -> Option<Shape> {
    let map = normalized.as_object()?;
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    match keys.as_slice() {
        ["bytes", "string"] => Some(Shape::Size),
        ["micros", "millis", "seconds", "string"] => Some(Shape::Time),
        ["punycode", "string"] => Some(Shape::Domain),
        ["address", "port"] | ["interface", "port"] => Some(Shape::AddressPort),
        _ => None,
    }
}

/// When `normalized` is one of the typed forms, the type to check it with: the group's type when it has that
/// form, else the most general type of the form.
pub fn typed_normalization(group: Option<Ty>, normalized: &Value) -> Option<Ty> {
    let shape = shape_of_normalized(normalized)?;
    if let Some(ty) = group.filter(|ty| shape_of_type(*ty) == Some(shape)) {
        return Some(ty);
    }
    Some(match shape {
        Shape::Size => Ty::SizeUnit,
        Shape::Time => Ty::TimeUnit,
        Shape::Domain => Ty::DomainName,
        Shape::AddressPort if normalized.get("interface").is_some() => Ty::InterfaceOptionalPort,
        Shape::AddressPort => Ty::IpAddressOptionalPort,
    })
}

fn opts() -> ValidationOptions {
    ValidationOptions::lenient()
}

fn parse<T: FromNode>(node: &Node, form: impl Fn(&T) -> Value) -> Result<Value, ValidationErrors> {
    parse_value::<T>(node, &opts()).map(|v| form(&v))
}

fn target(target: &ListenTarget, port: Option<u16>) -> Value {
    match target {
        ListenTarget::Address(addr) => json!({"address": addr.to_string(), "port": port}),
        ListenTarget::Interface(name) => json!({"interface": name.as_str(), "port": port}),
    }
}

/// Parses `node` with `ty` alone; on success returns the value's normalized form (the typed forms above, the list
/// form for `ListOrItem`, else the serialized value).
pub fn parse_as(ty: Ty, node: &Node) -> Result<Value, ValidationErrors> {
    type AnyInt = Int<{ i64::MIN }, { i64::MAX }>;
    match ty {
        Ty::PortNumber => parse::<PortNumber>(node, |v| json!(v.get())),
        Ty::SizeUnit => parse::<SizeUnit>(node, |v| json!({"string": v.as_str(), "bytes": v.bytes()})),
        Ty::TimeUnit => parse::<TimeUnit>(
            node,
            |v| json!({"string": v.as_str(), "micros": v.micros(), "millis": v.millis(), "seconds": v.seconds()}),
        ),
        Ty::DomainName => parse::<DomainName>(node, |v| json!({"string": v.as_str(), "punycode": v.punycode()})),
        Ty::PinSha256 => parse::<PinSha256>(node, |v| json!(v.as_str())),
        Ty::EscapedStr => parse::<EscapedStr>(node, |v| json!(v.as_str())),
        Ty::InterfaceName => parse::<InterfaceName>(node, |v| json!(v.as_str())),
        Ty::IdPattern => parse::<IdPattern>(node, |v| json!(v.as_str())),
        Ty::InterfacePort => parse::<InterfacePort>(node, |v| target(&v.target, Some(v.port))),
        Ty::InterfaceOptionalPort => parse::<InterfaceOptionalPort>(node, |v| target(&v.target, v.port)),
        Ty::IpAddressPort => parse::<IpAddressPort>(node, |v| json!({"address": v.addr.to_string(), "port": v.port})),
        Ty::IpAddressOptionalPort => {
            parse::<IpAddressOptionalPort>(node, |v| json!({"address": v.addr.to_string(), "port": v.port}))
        }
        Ty::IpAddress => parse::<IpAddress>(node, |v| json!(v.as_str())),
        Ty::Ipv4Address => parse::<Ipv4Address>(node, |v| json!(v.as_str())),
        Ty::Ipv6Address => parse::<Ipv6Address>(node, |v| json!(v.as_str())),
        Ty::IpNetwork => parse::<IpNetwork>(node, |v| json!(v.as_str())),
        Ty::Ipv6Network => parse::<Ipv6Network>(node, |v| json!(v.as_str())),
        Ty::Ipv6Network96 => parse::<Ipv6Network96>(node, |v| json!(v.as_str())),
        Ty::IpAddressEm => parse::<IpAddressEm>(node, |v| json!(v.as_str())),
        Ty::ListOrItemInt => parse::<ListOrItem<AnyInt>>(node, |v| json!(v.items)),
        Ty::ListOrItemStr => parse::<ListOrItem<String>>(node, |v| json!(v.items)),
        Ty::ListOrItemBool => parse::<ListOrItem<bool>>(node, |v| json!(v.items)),
    }
}

/// `lua_escaped` / `lua_multiline` of a value read as an [`EscapedStr`].
pub fn escaped(node: &Node) -> Result<(String, String), ValidationErrors> {
    parse_value::<EscapedStr>(node, &opts()).map(|v| (v.lua_escaped(), v.lua_multiline()))
}
