//! The whole configuration document (`KresConfig`) and its sections.

mod cache;
mod dnssec;
mod fleet;
mod forward;
mod limits;
mod local_data;
mod logging;
mod lua;
mod management;
mod monitoring;
mod network;
mod options;
mod view;

pub use cache::*;
pub use dnssec::*;
pub use fleet::*;
pub use forward::*;
pub use limits::*;
pub use local_data::*;
pub use logging::*;
pub use lua::*;
pub use management::*;
pub use monitoring::*;
pub use network::*;
pub use options::*;
pub use view::*;

use std::collections::BTreeSet;

use serde_json::json;

use crate::config_object;
use crate::model::{Ctx, FromNode, Int, ObjectHook, describe};
use crate::node::{Node, Value};
use crate::path::Path;
use crate::types::{Text, WritableDir};

/// The packaged default run directory.
pub const DEFAULT_RUNDIR: &str = "/run/knot-resolver";
/// The most workers allowed when the CPU count is unknown.
pub const MAX_WORKERS_FALLBACK: usize = 256;

/// `workers`: a number, or `auto` (one per usable CPU). Holds the resolved count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    pub count: usize,
    pub auto: bool,
}

impl Workers {
    pub const fn fixed(count: usize) -> Self {
        Workers { count, auto: false }
    }
}

impl serde::Serialize for Workers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.count as u64)
    }
}

impl FromNode for Workers {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        match &node.value {
            Value::Str(s) if s == "auto" => match cx.opts.system.cpus {
                Some(n) => Some(Workers { count: n.max(1), auto: true }),
                None => {
                    cx.error(path, Some(node), "cannot determine the number of CPUs for 'auto'; set a number");
                    None
                }
            },
            Value::Int(_) => {
                let n = <Int<1, { i64::MAX }>>::from_node(node, cx, path)?;
                Some(Workers::fixed(n.get() as usize))
            }
            _ => {
                cx.error(path, Some(node), format!("expected 'auto' or a positive integer, got {}", describe(node)));
                None
            }
        }
    }
    fn schema() -> serde_json::Value {
        json!({"anyOf": [{"type": "string", "enum": ["auto"]}, {"type": "integer", "minimum": 1}]})
    }
}

config_object! {
    /// Knot Resolver declarative configuration.
    pub struct KresConfig {
        /// Version of the configuration schema. By default it is the latest supported by the resolver, but couple of versions back are be supported as well.
        "version" version: Int<1, 1> = Int::new(1),
        /// Name Server Identifier (RFC 5001) which allows DNS clients to request resolver to send back its NSID along with the reply to a DNS request.
        "nsid" nsid: Option<Text>,
        /// Internal DNS resolver hostname. Default is machine hostname.
        "hostname" hostname: Option<Text>,
        /// Directory where the resolver can create files and which will be it's cwd.
        "rundir" rundir: WritableDir = WritableDir::from_static(DEFAULT_RUNDIR),
        /// The number of running kresd (Knot Resolver daemon) workers. If set to 'auto', it is equal to number of CPUs available.
        "workers" workers: Workers = Workers::fixed(1),
        /// Configuration of management HTTP API.
        "management" management: ManagementSchema = ManagementSchema::default_socket(),
        /// Fleet mode: configuration generations rolled out across resolver nodes through etcd.
        "fleet" fleet: FleetSchema,
        /// Fine-tuning global parameters of DNS resolver operation.
        "options" options: OptionsSchema,
        /// Network connections and protocols configuration.
        "network" network: NetworkSchema,
        /// List of views and its configuration.
        "views" views: Option<Vec<ViewSchema>>,
        /// Local data for forward records (A/AAAA) and reverse records (PTR).
        "local-data" local_data: LocalDataSchema,
        /// List of Forward Zones and its configuration.
        "forward" forward: Option<Vec<ForwardSchema>>,
        /// Config for fallback on resolution failure.
        "fallback" fallback: FallbackSchema,
        /// DNS resolver cache configuration.
        "cache" cache: CacheSchema,
        /// DNSSEC configuration.
        "dnssec" dnssec: DnssecSchema,
        /// DNS64 (RFC 6147) configuration.
        "dns64" dns64: Dns64Schema,
        /// Logging and debugging configuration.
        "logging" logging: LoggingSchema,
        /// Metrics exposition configuration (Prometheus, Graphite)
        "monitoring" monitoring: MonitoringSchema,
        /// Configuration of rate limiting.
        "rate-limiting" rate_limiting: RateLimitingSchema,
        /// Configuration of request prioritization (defer).
        "defer" defer: DeferSchema,
        /// Custom Lua configuration.
        "lua" lua: LuaSchema,
    }
}

impl KresConfig {
    /// The hostname kresd reports (the configured one, else the machine's).
    pub fn hostname(&self) -> &str {
        self.hostname.as_ref().map_or("localhost", |h| h.as_str())
    }

    /// Every tag that some view assigns.
    pub fn view_tags(&self) -> BTreeSet<&str> {
        self.views.iter().flatten().flat_map(|v| v.tags.iter().flatten()).map(|t| t.as_str()).collect()
    }
}

impl ObjectHook for KresConfig {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.hostname.is_none() {
            self.hostname = Some(Text::new(cx.opts.system.hostname.clone()));
        }
        let max_workers = cx.opts.system.cpus.map_or(MAX_WORKERS_FALLBACK, |n| 10 * n);
        if self.workers.count > max_workers {
            cx.error(
                &path.key("workers"),
                node.get("workers"),
                format!(
                    "can't run with more workers than the recommended maximum {max_workers} (10 per CPU, or {MAX_WORKERS_FALLBACK} when the CPU count is unknown)"
                ),
            );
        }
        self.check_tags(cx, path, node);
    }
}

impl KresConfig {
    /// Tags used by local-data rules must be assigned by some view, and every view tag must be used.
    fn check_tags(&self, cx: &mut Ctx, path: &Path, node: &Node) {
        let defined = self.view_tags();
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let local_data_node = node.get("local-data");
        let local_data_path = path.key("local-data");
        for (section, users) in tag_users(&self.local_data) {
            for (i, tags) in users {
                let unknown: Vec<&str> = tags.iter().map(|t| t.as_str()).filter(|t| !defined.contains(t)).collect();
                used.extend(tags.iter().map(|t| t.as_str()));
                if !unknown.is_empty() {
                    let p = local_data_path.key(section).index(i).key("tags");
                    let n = local_data_node
                        .and_then(|n| n.get(section))
                        .and_then(|n| match &n.value {
                            Value::List(items) => items.get(i),
                            _ => None,
                        })
                        .and_then(|n| n.get("tags"));
                    cx.error(&p, n, format!("tags {} are not assigned by any view in '/views'", quote_list(&unknown)));
                }
            }
        }
        let unused: Vec<&str> = defined.iter().copied().filter(|t| !used.contains(t)).collect();
        // Like the reference (and the conformance data), a single unused tag is tolerated: a view may tag
        // clients for rules written in `lua/policy-script`. Two or more unused tags are reported.
        if unused.len() > 1 {
            cx.error(
                &path.key("views"),
                node.get("views"),
                format!(
                    "tags {} are assigned by views but not used by any local-data rule or RPZ",
                    quote_list(&unused)
                ),
            );
        }
    }
}

fn quote_list(items: &[&str]) -> String {
    items.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
}

/// Indexes of list items with their tags.
type TagUsers<'a> = Vec<(usize, &'a [crate::types::IdPattern])>;

/// The tag lists of local-data rules and RPZ items, by section name and index (for the view-tag cross-check).
fn tag_users(local_data: &LocalDataSchema) -> Vec<(&'static str, TagUsers<'_>)> {
    let rules =
        local_data.rules.iter().flatten().enumerate().filter_map(|(i, r)| r.tags.as_deref().map(|t| (i, t))).collect();
    let rpz =
        local_data.rpz.iter().flatten().enumerate().filter_map(|(i, r)| r.tags.as_deref().map(|t| (i, t))).collect();
    vec![("rules", rules), ("rpz", rpz)]
}
