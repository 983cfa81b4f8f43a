//! Migration of configurations written for Knot Resolver < 6.0.17 to the current schema (`kresctl migrate`).
//!
//! A pure transformation of the raw document (before validation), following the reference's
//! `client/commands/migrate.py` step by step: the same removals, renames and `enable` switches, in the same order,
//! reporting every key removed or added. Deliberate differences, the first two fixing reference bugs:
//! * a renamed key keeps a `false`/`0`/empty value (the reference drops every falsy value, so
//!   `trust-anchor-sentinel: false` silently became the default `sentinel: true`, and `defer: {enabled: false}`
//!   turned defer on); only `null` is dropped;
//! * `dns64` that already is an object with `enable` keeps it (the reference overwrote `enable: false` with `true`);
//! * `logging/target: from-env`, which 6.5.0 refuses, is removed: its successor `from-arg` (follow
//!   `knot-resolver --logtarget`) is the default, so the migrated configuration validates (the reference leaves it).

use std::fmt;

use serde_json::{Map, Value};

/// One change made by [`migrate`], printed by `kresctl migrate` as `removed /x` or `added /y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Removed(&'static str),
    Added(&'static str),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Removed(p) => write!(f, "removed {p}"),
            Change::Added(p) => write!(f, "added {p}"),
        }
    }
}

/// The migrated document and what was changed, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub config: Value,
    pub changes: Vec<Change>,
}

/// Why a document cannot be migrated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    #[error("the configuration must be a mapping (object), got {0}")]
    NotAMapping(&'static str),
}

/// Keys removed without replacement.
const REMOVED: &[&str] = &[
    "/dnssec/refresh-time",
    "/dnssec/hold-down-time",
    "/dnssec/time-skew-detection",
    "/dnssec/keep-removed",
    "/local-data/root-fallback-addresses",
    "/local-data/root-fallback-addresses-files",
    "/logging/debugging",
    "/max-workers",
    "/network/tls/auto-discovery",
    "/webmgmt",
];

/// Migrates a raw configuration document (as parsed from YAML or JSON) to the current schema.
pub fn migrate(document: &Value) -> Result<Migration, MigrateError> {
    let Value::Object(root) = document else {
        return Err(MigrateError::NotAMapping(kind(document)));
    };
    let mut m = Migrator { root: root.clone(), changes: Vec::new() };

    for path in REMOVED {
        m.remove(path);
    }

    if let Some(Value::Object(cache)) = m.root.get("cache") {
        let gc = cache.get("garbage-collector").map(|gc| *gc != Value::Bool(false));
        let prediction = match cache.get("prefetch") {
            Some(Value::Object(prefetch)) => prefetch.get("prediction").map(|p| !p.is_null()),
            _ => None,
        };
        if let Some(enable) = gc {
            m.add("/cache/garbage-collector/enable", Value::Bool(enable), false);
        }
        if let Some(enable) = prediction {
            m.add("/cache/prefetch/prediction/enable", Value::Bool(enable), false);
        }
    }
    m.rename("/defer/enabled", "/defer/enable");
    match m.root.get("dns64") {
        None => {}
        Some(Value::Object(dns64)) if dns64.contains_key("enable") => {}
        Some(v) => {
            let enable = *v != Value::Bool(false);
            m.add("/dns64/enable", Value::Bool(enable), true);
        }
    }
    m.rename("/dns64/rev-ttl", "/dns64/reverse-ttl");
    if m.root.get("dnssec") == Some(&Value::Bool(false)) {
        m.add("/dnssec/enable", Value::Bool(false), true);
    }
    m.rename("/dnssec/trust-anchor-sentinel", "/dnssec/sentinel");
    m.rename("/dnssec/trust-anchor-signal-query", "/dnssec/signal-query");
    if let Some(dnstap) = m.child("logging", "dnstap") {
        let enable = !dnstap.is_null();
        m.add("/logging/dnstap/enable", Value::Bool(enable), false);
    }
    m.rename("/logging/dnssec-bogus", "/dnssec/log-bogus");
    if m.child("logging", "target").and_then(Value::as_str) == Some("from-env") {
        m.remove("/logging/target");
    }
    m.rename("/monitoring/enabled", "/monitoring/metrics");
    if let Some(graphite) = m.child("monitoring", "graphite") {
        let enable = *graphite != Value::Bool(false);
        m.add("/monitoring/graphite/enable", Value::Bool(enable), false);
    }
    if let Some(proxy) = m.child("network", "proxy-protocol") {
        let enable = !proxy.is_null();
        m.add("/network/proxy-protocol/enable", Value::Bool(enable), false);
    }
    m.rename("/network/tls/files-watchdog", "/network/tls/watchdog");
    if m.root.contains_key("rate-limiting") {
        m.add("/rate-limiting/enable", Value::Bool(true), false);
    }

    // Sections left empty (and any other falsy top-level value) are dropped.
    m.root.retain(|_, v| truthy(v));
    Ok(Migration { config: Value::Object(m.root), changes: m.changes })
}

struct Migrator {
    root: Map<String, Value>,
    changes: Vec<Change>,
}

impl Migrator {
    /// `/<section>/<key>` when `<section>` is an object holding `<key>`.
    fn child(&self, section: &str, key: &str) -> Option<&Value> {
        match self.root.get(section) {
            Some(Value::Object(s)) => s.get(key),
            _ => None,
        }
    }

    /// Removes the value at `path` if every parent is an object and the key is there.
    fn remove(&mut self, path: &'static str) -> Option<Value> {
        let (parents, last) = split(path);
        let mut current = &mut self.root;
        for key in parents {
            match current.get_mut(key) {
                Some(Value::Object(next)) => current = next,
                _ => return None,
            }
        }
        let value = current.shift_remove(last)?;
        self.changes.push(Change::Removed(path));
        Some(value)
    }

    /// Sets the value at `path`, turning missing or non-object parents into objects. An existing value is only
    /// replaced with `rewrite`.
    fn add(&mut self, path: &'static str, value: Value, rewrite: bool) {
        let (parents, last) = split(path);
        let mut current = &mut self.root;
        for key in parents {
            let slot = current.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(next) = slot else { unreachable!("just made an object") };
            current = next;
        }
        if rewrite || !current.contains_key(last) {
            current.insert(last.to_owned(), value);
            self.changes.push(Change::Added(path));
        }
    }

    fn rename(&mut self, from: &'static str, to: &'static str) {
        if let Some(value) = self.remove(from)
            && !value.is_null()
        {
            self.add(to, value, false);
        }
    }
}

fn split(path: &'static str) -> (impl Iterator<Item = &'static str>, &'static str) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (parents, last) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    (parents.split('/').filter(|k| !k.is_empty()), last)
}

/// Python truthiness, as the reference filters top-level keys with it.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn changes(m: &Migration) -> Vec<String> {
        m.changes.iter().map(ToString::to_string).collect()
    }

    /// `config.migrate-test.yaml` of the reference, and the reference's output (keys sorted there; here they keep
    /// document order, with added keys last).
    #[test]
    fn reference_migrate_test_1() {
        let input = json!({
            "cache": {"garbage-collector": {"interval": "2s"}, "prefetch": {"prediction": {"window": "15m", "period": 24}}},
            "defer": {"enabled": true},
            "dns64": {"rev-ttl": "1d"},
            "dnssec": {"refresh-time": "10m", "hold-down-time": "30d", "time-skew-detection": true, "keep-removed": 10,
                       "trust-anchor-sentinel": true, "trust-anchor-signal-query": true},
            "local-data": {"root-fallback-addresses": {"j.root-servers.net.": ["2001:503:c27::2:30", "192.58.128.30"]},
                           "root-fallback-addresses-files": ["rfa.zone"]},
            "logging": {"dnstap": {"unix-socket": "dnstap.sock"}, "dnssec-bogus": true,
                        "debugging": {"assertion-abort": false, "assertion-fork": "5m"}},
            "monitoring": {"enabled": "always", "graphite": {"host": "127.0.0.1"}},
            "network": {"proxy-protocol": {"allow": ["172.22.0.1"]}, "tls": {"auto-discovery": true, "files-watchdog": true}},
            "webmgmt": {"interface": "127.0.0.1@5001"},
            "max-workers": 64,
            "rate-limiting": {"rate-limit": 100}
        });
        let m = migrate(&input).unwrap();
        assert_eq!(
            changes(&m),
            [
                "removed /dnssec/refresh-time",
                "removed /dnssec/hold-down-time",
                "removed /dnssec/time-skew-detection",
                "removed /dnssec/keep-removed",
                "removed /local-data/root-fallback-addresses",
                "removed /local-data/root-fallback-addresses-files",
                "removed /logging/debugging",
                "removed /max-workers",
                "removed /network/tls/auto-discovery",
                "removed /webmgmt",
                "added /cache/garbage-collector/enable",
                "added /cache/prefetch/prediction/enable",
                "removed /defer/enabled",
                "added /defer/enable",
                "added /dns64/enable",
                "removed /dns64/rev-ttl",
                "added /dns64/reverse-ttl",
                "removed /dnssec/trust-anchor-sentinel",
                "added /dnssec/sentinel",
                "removed /dnssec/trust-anchor-signal-query",
                "added /dnssec/signal-query",
                "added /logging/dnstap/enable",
                "removed /logging/dnssec-bogus",
                "added /dnssec/log-bogus",
                "removed /monitoring/enabled",
                "added /monitoring/metrics",
                "added /monitoring/graphite/enable",
                "added /network/proxy-protocol/enable",
                "removed /network/tls/files-watchdog",
                "added /network/tls/watchdog",
                "added /rate-limiting/enable",
            ]
        );
        let expected = json!({
            "cache": {"garbage-collector": {"interval": "2s", "enable": true},
                      "prefetch": {"prediction": {"window": "15m", "period": 24, "enable": true}}},
            "defer": {"enable": true},
            "dns64": {"enable": true, "reverse-ttl": "1d"},
            "dnssec": {"sentinel": true, "signal-query": true, "log-bogus": true},
            "logging": {"dnstap": {"unix-socket": "dnstap.sock", "enable": true}},
            "monitoring": {"graphite": {"host": "127.0.0.1", "enable": true}, "metrics": "always"},
            "network": {"proxy-protocol": {"allow": ["172.22.0.1"], "enable": true}, "tls": {"watchdog": true}},
            "rate-limiting": {"rate-limit": 100, "enable": true}
        });
        assert_eq!(m.config, expected);
        // Document order is kept (serde_json's `preserve_order`).
        let keys: Vec<&String> = m.config.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["cache", "defer", "dns64", "dnssec", "logging", "monitoring", "network", "rate-limiting"]);
        let dns64: Vec<&String> = m.config["dns64"].as_object().unwrap().keys().collect();
        assert_eq!(dns64, ["enable", "reverse-ttl"]);
    }

    #[test]
    fn reference_migrate_test_2() {
        let input = json!({
            "cache": {"garbage-collector": false, "prefetch": {"prediction": null}},
            "dns64": true,
            "dnssec": false,
            "logging": {"dnstap": null},
            "monitoring": {"graphite": false},
            "network": {"proxy-protocol": null}
        });
        let m = migrate(&input).unwrap();
        assert_eq!(
            changes(&m),
            [
                "added /cache/garbage-collector/enable",
                "added /cache/prefetch/prediction/enable",
                "added /dns64/enable",
                "added /dnssec/enable",
                "added /logging/dnstap/enable",
                "added /monitoring/graphite/enable",
                "added /network/proxy-protocol/enable",
            ]
        );
        assert_eq!(
            m.config,
            json!({
                "cache": {"garbage-collector": {"enable": false}, "prefetch": {"prediction": {"enable": false}}},
                "dns64": {"enable": true},
                "dnssec": {"enable": false},
                "logging": {"dnstap": {"enable": false}},
                "monitoring": {"graphite": {"enable": false}},
                "network": {"proxy-protocol": {"enable": false}}
            })
        );
    }

    #[test]
    fn renamed_false_values_are_kept() {
        let input = json!({"defer": {"enabled": false}, "dnssec": {"trust-anchor-sentinel": false}});
        let m = migrate(&input).unwrap();
        assert_eq!(m.config, json!({"defer": {"enable": false}, "dnssec": {"sentinel": false}}));
    }

    #[test]
    fn renamed_null_is_dropped() {
        let m = migrate(&json!({"defer": {"enabled": null}, "workers": 2})).unwrap();
        assert_eq!(changes(&m), ["removed /defer/enabled"]);
        assert_eq!(m.config, json!({"workers": 2}));
    }

    #[test]
    fn current_configs_are_left_alone() {
        let input = json!({
            "workers": 2,
            "dns64": {"enable": false, "prefix": "64:ff9b::/96"},
            "dnssec": {"enable": true},
            "network": {"listen": [{"interface": "127.0.0.1@53"}]}
        });
        let m = migrate(&input).unwrap();
        assert!(m.changes.is_empty(), "{:?}", m.changes);
        assert_eq!(m.config, input);
    }

    #[test]
    fn new_key_is_not_overwritten_by_old_one() {
        let m = migrate(&json!({"defer": {"enabled": false, "enable": true}})).unwrap();
        assert_eq!(changes(&m), ["removed /defer/enabled"]);
        assert_eq!(m.config, json!({"defer": {"enable": true}}));
    }

    #[test]
    fn odd_shapes_do_not_panic() {
        // Non-object sections: nothing to walk into.
        let input = json!({"cache": "x", "logging": [1], "network": false, "monitoring": null, "dnssec": true});
        let m = migrate(&input).unwrap();
        assert!(m.changes.is_empty());
        assert_eq!(m.config, json!({"cache": "x", "logging": [1], "dnssec": true}));
        assert_eq!(migrate(&json!([1, 2])), Err(MigrateError::NotAMapping("a list")));
    }

    #[test]
    fn logging_target_from_env_gives_way_to_the_default_from_arg() {
        let m = migrate(&json!({"logging": {"target": "from-env", "level": "info"}})).unwrap();
        assert_eq!(changes(&m), ["removed /logging/target"]);
        assert_eq!(m.config, json!({"logging": {"level": "info"}}));
        // Any other target stays.
        let input = json!({"logging": {"target": "syslog"}});
        let m = migrate(&input).unwrap();
        assert!(m.changes.is_empty(), "{:?}", m.changes);
        assert_eq!(m.config, input);
    }

    #[test]
    fn falsy_top_level_values_are_dropped() {
        let m = migrate(&json!({"a": {}, "b": [], "c": 0, "d": "", "e": null, "f": false, "g": 1})).unwrap();
        assert_eq!(m.config, json!({"g": 1}));
    }
}
