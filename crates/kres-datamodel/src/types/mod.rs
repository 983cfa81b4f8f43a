//! Custom value types of the configuration (reference-manager.md §3.2).

mod files;
mod names;
mod net;
mod text;
mod units;

pub use files::{
    AbsoluteDir, Dir, File, FilePath, PathKind, ReadableFile, TypedPath, UncheckedPath, WritableDir, WritableFilePath,
};
pub use names::{DomainName, EscapedStr, EscapedStr32B, IdPattern, InterfaceName, PinSha256, WildcardName};
pub use net::{
    InterfaceOptionalPort, InterfacePort, IpAddress, IpAddressEm, IpAddressOptionalPort, IpAddressPort, IpNetwork,
    Ipv4Address, Ipv6Address, Ipv6Network, Ipv6Network96, ListenTarget,
};
pub use text::{Layout, Text, control_char_problem};
pub use units::{SizeUnit, TimeUnit};

/// Implements `Serialize` (as the original text) and `Display` for a type with `fn as_str(&self) -> &str`.
macro_rules! text_value {
    ($($t:ty),+) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}
pub(crate) use text_value;

/// Implements `FromNode` for a type with `fn parse(&str) -> Result<Self, String>`, accepting strings only.
macro_rules! parsed_text {
    ($t:ty, $schema:expr) => {
        impl $crate::model::FromNode for $t {
            fn from_node(
                node: &$crate::node::Node,
                cx: &mut $crate::model::Ctx,
                path: &$crate::path::Path,
            ) -> Option<Self> {
                let text = $crate::model::strict_text(node, cx, path)?;
                match <$t>::parse(text) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        cx.error(path, Some(node), e);
                        None
                    }
                }
            }
            fn schema() -> serde_json::Value {
                $schema
            }
        }
    };
}
pub(crate) use parsed_text;
