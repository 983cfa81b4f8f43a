//! `/management`: where the HTTP API listens, and the manager's own state: the configuration history, the health
//! gate of applies, and where it starts from.

use crate::model::{Ctx, IntPositive, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::{DomainName, IpAddressPort, SizeUnit, TimeUnit, UncheckedPath, WritableFilePath};
use crate::{config_object, string_enum};

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
    }
}
