//! `/logging`.

use serde_json::json;

use crate::config_object;
use crate::model::{Ctx, FromNode, ObjectHook, describe};
use crate::node::{Node, Value};
use crate::path::Path;
use crate::string_enum;
use crate::types::WritableFilePath;

string_enum! {
    /// Logging level.
    pub enum LogLevel {
        "crit" => Crit, "err" => Err, "warning" => Warning, "notice" => Notice, "info" => Info, "debug" => Debug,
    }
}

/// Where logs go. `from-arg` (the default) follows the `--logtarget` flag of `knot-resolver` (`stdout` when it
/// is not given); validation resolves it, so a validated configuration holds one of the other three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Syslog,
    Stderr,
    Stdout,
    FromArg,
}

impl LogTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            LogTarget::Syslog => "syslog",
            LogTarget::Stderr => "stderr",
            LogTarget::Stdout => "stdout",
            LogTarget::FromArg => "from-arg",
        }
    }

    fn parse(text: &str) -> Option<LogTarget> {
        match text {
            "syslog" => Some(LogTarget::Syslog),
            "stderr" => Some(LogTarget::Stderr),
            "stdout" => Some(LogTarget::Stdout),
            "from-arg" => Some(LogTarget::FromArg),
            _ => None,
        }
    }
}

impl serde::Serialize for LogTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromNode for LogTarget {
    fn from_node(node: &Node, cx: &mut Ctx, path: &Path) -> Option<Self> {
        if let Value::Str(s) = &node.value
            && let Some(t) = LogTarget::parse(s)
        {
            return Some(t);
        }
        let hint = if matches!(&node.value, Value::Str(s) if s == "from-env") {
            " ('from-env' and $KRES_LOGGING_TARGET were removed in Knot Resolver 6.5.0: use 'from-arg', which \
             follows 'knot-resolver --logtarget')"
        } else {
            ""
        };
        cx.error(
            path,
            Some(node),
            format!(
                "{} does not match any of the expected values ('syslog', 'stderr', 'stdout', 'from-arg'){hint}",
                describe(node)
            ),
        );
        None
    }
    fn schema() -> serde_json::Value {
        json!({"type": "string", "enum": ["syslog", "stderr", "stdout", "from-arg"]})
    }
}

string_enum! {
    /// A logging group: a manager process or subsystem, or a kresd log group.
    pub enum LogGroup {
        "manager" => Manager, "supervisord" => Supervisord, "policy-loader" => PolicyLoader, "kresd" => Kresd,
        "cache-gc" => CacheGc, "files" => Files, "metrics" => Metrics, "server" => Server,
        "system" => System, "cache" => Cache, "io" => Io, "net" => Net, "ta" => Ta, "tasent" => Tasent,
        "tasign" => Tasign, "taupd" => Taupd, "tls" => Tls, "gnutls" => Gnutls, "tls_cl" => TlsCl, "xdp" => Xdp,
        "doh" => Doh, "dnssec" => Dnssec, "hint" => Hint, "plan" => Plan, "iterat" => Iterat, "valdtr" => Valdtr,
        "resolv" => Resolv, "select" => Select, "zoncut" => Zoncut, "cookie" => Cookie, "statis" => Statis,
        "rebind" => Rebind, "worker" => Worker, "policy" => Policy, "daf" => Daf, "timejm" => Timejm,
        "timesk" => Timesk, "graphi" => Graphi, "prefil" => Prefil, "primin" => Primin, "srvstl" => Srvstl,
        "wtchdg" => Wtchdg, "nsid" => Nsid, "dnstap" => Dnstap, "tests" => Tests, "dotaut" => Dotaut,
        "http" => Http, "contrl" => Contrl, "module" => Module, "devel" => Devel, "renum" => Renum,
        "exterr" => Exterr, "rules" => Rules, "prlayr" => Prlayr, "defer" => Defer, "doq" => Doq, "ngtcp2" => Ngtcp2,
    }
}

impl LogGroup {
    /// Whether this is one of kresd's own log groups (as opposed to a manager process or subsystem).
    pub fn is_kresd_group(self) -> bool {
        !matches!(
            self,
            LogGroup::Manager
                | LogGroup::Supervisord
                | LogGroup::PolicyLoader
                | LogGroup::Kresd
                | LogGroup::CacheGc
                | LogGroup::Files
                | LogGroup::Metrics
                | LogGroup::Server
        )
    }
}

config_object! {
    /// Logging DNS requests and responses to a unix socket.
    pub struct DnstapSchema {
        /// Enable/disable DNS queries logging.
        "enable" enable: bool = false,
        /// Path to unix domain socket where dnstap messages will be sent.
        "unix-socket" unix_socket: Option<WritableFilePath>,
        /// Log queries from downstream in wire format.
        "log-queries" log_queries: bool = false,
        /// Log responses to downstream in wire format.
        "log-responses" log_responses: bool = false,
        /// Log TCP RTT (Round-trip time).
        "log-tcp-rtt" log_tcp_rtt: bool = false,
    }
}

impl ObjectHook for DnstapSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.enable && self.unix_socket.is_none() {
            cx.error(path, Some(node), "'unix-socket' is required when dnstap is enabled");
        }
    }
}

config_object! {
    /// Logging and debugging configuration.
    pub struct LoggingSchema {
        /// Global logging level.
        "level" level: LogLevel = LogLevel::Notice,
        /// Global logging stream target. If 'from-arg', uses '--logtarget' argument ('stdout' by default).
        "target" target: LogTarget = LogTarget::FromArg,
        /// List of groups for which 'debug' logging level is set.
        "groups" groups: Option<Vec<LogGroup>>,
        /// Logging DNS requests and responses to a unix socket.
        "dnstap" dnstap: DnstapSchema,
    }
}

impl LoggingSchema {
    /// Whether debug logging is on for `group` (the whole level is debug, or the group is listed).
    pub fn debug_for(&self, group: LogGroup) -> bool {
        self.level == LogLevel::Debug || self.groups.iter().flatten().any(|g| *g == group)
    }
}

impl ObjectHook for LoggingSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.target == LogTarget::FromArg {
            match cx.opts.system.logtarget.as_deref() {
                None | Some("") => self.target = LogTarget::Stdout,
                Some(v) => match LogTarget::parse(v).filter(|t| *t != LogTarget::FromArg) {
                    Some(t) => self.target = t,
                    None => cx.error(
                        &path.key("target"),
                        node.get("target"),
                        format!("logging target '{v}' from '--logtarget' argument is invalid"),
                    ),
                },
            }
        }
        if let Some(groups) = &self.groups {
            for (i, g) in groups.iter().enumerate() {
                if groups[..i].contains(g) {
                    cx.error(path, Some(node), format!("duplicate logging group '{g}' on index {i}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SystemFacts, ValidationOptions, parse_value};
    use crate::parse::parse_yaml;

    /// Validates `/logging` as the manager would when started with `--logtarget` = `logtarget`.
    fn target(yaml: &str, logtarget: Option<&str>) -> Result<LogTarget, Vec<String>> {
        let node = parse_yaml(yaml, "test").expect("test YAML parses");
        let system = SystemFacts { logtarget: logtarget.map(str::to_owned), ..SystemFacts::fixed() };
        parse_value::<LoggingSchema>(&node, &ValidationOptions::new(false, "/", system))
            .map(|l| l.target)
            .map_err(|e| e.0.into_iter().map(|e| format!("{}: {}", e.path.as_str(), e.message)).collect())
    }

    #[test]
    fn from_arg_follows_the_logtarget_flag() {
        // The default is from-arg; without --logtarget it is stdout.
        assert_eq!(target("{}", None), Ok(LogTarget::Stdout));
        assert_eq!(target("{target: from-arg}", None), Ok(LogTarget::Stdout));
        assert_eq!(target("{}", Some("syslog")), Ok(LogTarget::Syslog));
        assert_eq!(target("{target: from-arg}", Some("stderr")), Ok(LogTarget::Stderr));
        // An explicit target wins over the flag.
        assert_eq!(target("{target: stdout}", Some("syslog")), Ok(LogTarget::Stdout));
        // A bad value handed over in $KRES_LOGTARGET is reported at /logging/target, as by the reference.
        let err = target("{}", Some("bogus")).unwrap_err();
        assert_eq!(err, ["/target: logging target 'bogus' from '--logtarget' argument is invalid"]);
    }

    #[test]
    fn from_env_was_removed() {
        let err = target("{target: from-env}", None).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].starts_with("/target: string 'from-env' does not match any of the expected values"), "{err:?}");
        assert!(err[0].contains("use 'from-arg'"), "{err:?}");
        assert!(target("{target: from-env}", Some("stdout")).is_err());
    }
}
