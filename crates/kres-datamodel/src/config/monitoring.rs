//! `/monitoring`: metrics collection and the Graphite bridge.

use serde_json::json;

use crate::model::{Ctx, FromNode, ObjectHook, PortNumber};
use crate::node::{Node, Value};
use crate::path::Path;
use crate::types::{DomainName, IpAddress, Text, TimeUnit};
use crate::{config_object, string_enum};

string_enum! {
    /// When the resolver collects metrics.
    pub enum MetricsMode { "manager-only" => ManagerOnly, "lazy" => Lazy, "always" => Always }
}

/// A Graphite host: an IP address or a domain name.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphiteHost {
    Address(IpAddress),
    Name(DomainName),
}

impl GraphiteHost {
    pub fn as_str(&self) -> &str {
        match self {
            GraphiteHost::Address(a) => a.as_str(),
            GraphiteHost::Name(n) => n.as_str(),
        }
    }
}

impl serde::Serialize for GraphiteHost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromNode for GraphiteHost {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        if let Value::Str(s) = &node.value {
            if let Ok(a) = IpAddress::parse(s) {
                return Some(GraphiteHost::Address(a));
            }
            if let Ok(n) = DomainName::parse(s) {
                return Some(GraphiteHost::Name(n));
            }
        }
        cx.error(
            path,
            Some(node),
            format!("{} is neither an IP address nor a domain name", crate::model::describe(node)),
        );
        None
    }
    fn schema() -> serde_json::Value {
        json!({"anyOf": [IpAddress::schema(), DomainName::schema()]})
    }
}

config_object! {
    /// optionally configures where should graphite metrics be sent to
    pub struct GraphiteSchema {
        /// Enable/disable sending metrics to Graphite.
        "enable" enable: bool = false,
        /// The Graphite server (IP address or domain name).
        "host" host: Option<GraphiteHost>,
        /// The Graphite server port.
        "port" port: PortNumber = PortNumber::new(2003),
        /// Prefix of every metric name.
        "prefix" prefix: Text = Text::new(""),
        /// How often metrics are sent.
        "interval" interval: TimeUnit = TimeUnit::from_static("5s"),
        /// Use TCP instead of UDP.
        "tcp" tcp: bool = false,
    }
}

impl ObjectHook for GraphiteSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.enable && self.host.is_none() {
            cx.error(path, Some(node), "'host' is required when graphite is enabled");
        }
    }
}

config_object! {
    /// Metrics exposition configuration (Prometheus, Graphite)
    pub struct MonitoringSchema {
        /// configures, whether metrics/statistics will be collected by the resolver
        "metrics" metrics: MetricsMode = MetricsMode::Lazy,
        /// optionally configures where should graphite metrics be sent to
        "graphite" graphite: GraphiteSchema,
    }
}
impl ObjectHook for MonitoringSchema {}
