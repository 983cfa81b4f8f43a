//! `/management`: where the HTTP API listens.

use crate::config_object;
use crate::model::{Ctx, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::{IpAddressPort, WritableFilePath};

/// The packaged default API socket.
pub const DEFAULT_API_SOCKET: &str = "/run/knot-resolver/kres-api.sock";

config_object! {
    /// Configuration of management HTTP API.
    pub struct ManagementSchema {
        /// Path to unix domain socket to listen to.
        "unix-socket" unix_socket: Option<WritableFilePath>,
        /// IP address and port number to listen to.
        "interface" interface: Option<IpAddressPort>,
    }
}

impl ManagementSchema {
    /// The default when `/management` is absent: the packaged API socket.
    pub fn default_socket() -> Self {
        ManagementSchema { unix_socket: Some(WritableFilePath::from_static(DEFAULT_API_SOCKET)), interface: None }
    }
}

impl ObjectHook for ManagementSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.unix_socket.is_some() == self.interface.is_some() {
            cx.error(path, Some(node), "One of 'interface' or 'unix-socket' must be configured.");
        }
    }
}
