//! What applying a change of each configuration field takes: its [`Impact`]. One table ([`RULES`]) serves three
//! readers: the JSON Schema (the `x-kres-apply` annotation on every property, [`annotate_schema`]), the manager's
//! plan (which refuses `immutable` changes and reports the overall impact of a change, [`changes`]) and the test
//! that changes every field and checks that the apply pipeline did what the table says.
//!
//! The truth the table writes down is in the Lua renderers (`lua/`) and the manager's plan: a field rendered into
//! the worker Lua (`kresd<N>.conf`) restarts the workers, because the plan restarts them whenever that script
//! changes; a field rendered only into the policy-loader Lua rebuilds the rules database and resets the workers'
//! rules; a field rendered into neither is used by the manager itself while it runs (the cache garbage collector's
//! command line, the file watchers, the health gate), or only when it starts, or not at all while it runs
//! (refused).
//!
//! Rules are matched on JSON-pointer paths, longest prefix first; `*` stands for a list index or a map key. A
//! change (or a schema property) also takes the worst impact of every rule below it: replacing a whole list of
//! views or forwarding rules is as costly as changing the costliest field of one.
//!
//! Where the real effect of a field depends on another field, the table holds the worst case (that is what the
//! schema shows and what [`worst`] answers) and, for the two cases where the difference matters to the plan, a
//! refinement that computes the effect of a given change from the configurations before and after it:
//! * `/workers`: with `/defer/enable` on, the worker count is part of the worker Lua (`defer_init`) and a new count
//!   restarts every worker; with defer off, workers are only started or stopped (`live`).
//! * `/monitoring/graphite`: the Graphite bridge starts when it is enabled (`live`); once it runs, it cannot be
//!   changed or disabled (`immutable`).
//!
//! Other fields are shown with their worst case without a refinement: a field of a disabled feature (`/dns64/prefix`
//! with `/dns64/enable: false`, `/rate-limiting/*` without a `rate-limit`, `/logging/dnstap/*` with dnstap off,
//! `/cache/prefetch/prediction/*` with prediction off, `/fallback/servers` with the fallback off, DNSSEC settings
//! with `/dnssec/enable: false`) changes nothing the workers run, and `/logging/groups` restarts the workers only
//! for kresd's own groups (the `policy-loader` group reruns the policy-loader, the manager's groups apply live).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::KresConfig;

/// The JSON Schema keyword that carries a property's [`Impact`].
pub const KEYWORD: &str = "x-kres-apply";

/// What applying a change takes, from the cheapest to the most disruptive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// Applied to the running workers or by the manager without restarting a worker.
    Live,
    /// The policy-loader rebuilds the rules database and every worker resets its rules (no restart).
    Rules,
    /// A rolling restart of the workers (canary first, no query lost).
    Restart,
    /// Takes effect only after a restart of the manager (the running manager accepts and records it).
    Manager,
    /// Refused while the resolver runs (HTTP 409): restart the resolver with the new configuration.
    Immutable,
}

impl Impact {
    pub const ALL: [Impact; 5] = [Impact::Live, Impact::Rules, Impact::Restart, Impact::Manager, Impact::Immutable];

    /// The name used in the schema and in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Live => "live",
            Impact::Rules => "rules",
            Impact::Restart => "restart",
            Impact::Manager => "manager",
            Impact::Immutable => "immutable",
        }
    }

    /// One line for people.
    pub fn describe(self) -> &'static str {
        match self {
            Impact::Live => "applied without restarting any worker",
            Impact::Rules => "the policy-loader rebuilds the rules and the workers reset them (no restart)",
            Impact::Restart => "a rolling restart of every worker",
            Impact::Manager => "takes effect only after the manager is restarted",
            Impact::Immutable => "refused while the resolver runs; restart the resolver to change it",
        }
    }
}

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The effect of one change given the configurations before and after it (at most the rule's worst case).
pub type Refine = fn(old: &KresConfig, new: &KresConfig) -> Impact;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// A JSON pointer whose `*` tokens stand for any list index or map key.
    pub path: &'static str,
    /// The worst case: what the schema shows.
    pub impact: Impact,
    /// Why (for `immutable` rules: the reason given when a change is refused).
    pub why: &'static str,
    /// The effect of a given change when it depends on other fields.
    pub refine: Option<Refine>,
}

const fn rule(path: &'static str, impact: Impact, why: &'static str) -> Rule {
    Rule { path, impact, why, refine: None }
}

const fn refined(path: &'static str, impact: Impact, why: &'static str, refine: Refine) -> Rule {
    Rule { path, impact, why, refine: Some(refine) }
}

use Impact::*;

const WORKER_LUA: &str = "rendered into the worker Lua";
const POLICY_LUA: &str = "rendered only into the policy-loader Lua";

/// The table. Every property of the schema resolves through it (tested), and every row names a property.
pub const RULES: &[Rule] = &[
    rule("/version", Live, "a single value is allowed (1); nothing to apply"),
    rule("/nsid", Restart, WORKER_LUA),
    rule("/hostname", Restart, WORKER_LUA),
    rule("/rundir", Immutable, "changing the manager's rundir at runtime is not allowed; restart the resolver"),
    refined(
        "/workers",
        Restart,
        "with /defer/enable the count is in the worker Lua (defer_init): every worker restarts; with defer off \
         workers are only started or stopped (live)",
        |_, new| if new.defer.enable { Restart } else { Live },
    ),
    rule("/fleet", Immutable, "fleet mode (etcd, node name, rollout policy) is set at start; restart the resolver"),
    rule(
        "/management",
        Immutable,
        "changing the management API configuration at runtime is not allowed; restart the resolver",
    ),
    rule(
        "/management/history",
        Manager,
        "the history's retention is read when the manager opens the state directory, at start",
    ),
    rule("/management/health-hold", Live, "read by every apply from the configuration being applied"),
    rule("/management/health-probe", Live, "read by every apply from the configuration being applied"),
    rule("/management/tokens", Live, "the API checks every request against the tokens in force"),
    rule(
        "/management/unix-socket-group",
        Live,
        "the API checks every unix socket peer against the group in force (the socket file's group is set at start)",
    ),
    rule("/management/metrics-unauthenticated", Live, "the API checks every request against the setting in force"),
    rule("/management/allow-insecure", Live, "only checked when the configuration is validated"),
    rule("/options", Restart, WORKER_LUA),
    rule("/network", Restart, WORKER_LUA),
    rule("/network/tls/watchdog", Live, "the file watcher follows the configuration in force"),
    rule("/views", Rules, POLICY_LUA),
    rule("/local-data", Rules, POLICY_LUA),
    rule("/local-data/rpz/*/watchdog", Live, "the file watcher follows the configuration in force"),
    rule("/forward", Restart, "rendered into the worker Lua and the policy-loader Lua"),
    rule("/fallback", Restart, WORKER_LUA),
    rule("/cache", Restart, "rendered into the worker Lua (and the policy-loader's cache.open)"),
    rule(
        "/cache/garbage-collector",
        Live,
        "the cache garbage collector is restarted with its new command line; the workers keep running",
    ),
    rule("/dnssec", Restart, WORKER_LUA),
    rule("/dns64", Restart, WORKER_LUA),
    rule(
        "/logging",
        Restart,
        "level, target and kresd's groups are rendered into the worker Lua (and the policy-loader's); the \
         manager applies its own logging live",
    ),
    rule("/monitoring", Restart, "'always' loads the stats module in the worker Lua"),
    refined(
        "/monitoring/graphite",
        Immutable,
        // Enabling the bridge is live: it starts once the configuration enabling it is in force.
        "once enabled, the Graphite bridge cannot be changed or disabled at runtime",
        |old, _| if old.monitoring.graphite.enable { Immutable } else { Live },
    ),
    rule("/rate-limiting", Restart, WORKER_LUA),
    rule("/defer", Restart, WORKER_LUA),
    rule("/lua", Restart, WORKER_LUA),
    rule("/lua/policy-script-only", Rules, POLICY_LUA),
    rule("/lua/policy-script", Rules, POLICY_LUA),
    rule("/lua/policy-script-file", Rules, POLICY_LUA),
];

/// The tokens of a JSON pointer (still escaped; property names contain neither `/` nor `~`).
fn tokens(pointer: &str) -> Vec<&str> {
    if pointer.is_empty() { Vec::new() } else { pointer.trim_start_matches('/').split('/').collect() }
}

fn token_matches(pattern: &str, token: &str) -> bool {
    pattern == "*" || pattern == token
}

/// Whether `pattern` (tokens) is a prefix of `path` (tokens).
fn is_prefix(pattern: &[&str], path: &[&str]) -> bool {
    pattern.len() <= path.len() && pattern.iter().zip(path).all(|(p, t)| token_matches(p, t))
}

/// The rule of `pointer` itself: the longest matching prefix.
pub fn rule_of(pointer: &str) -> Option<&'static Rule> {
    let path = tokens(pointer);
    RULES.iter().filter(|r| is_prefix(&tokens(r.path), &path)).max_by_key(|r| tokens(r.path).len())
}

/// The rules a change at `pointer` may involve: its own, and every rule below it.
pub fn rules_under(pointer: &str) -> Vec<&'static Rule> {
    let path = tokens(pointer);
    let below = RULES.iter().filter(|r| {
        let rule = tokens(r.path);
        rule.len() > path.len() && path.iter().zip(&rule).all(|(t, p)| token_matches(p, t))
    });
    rule_of(pointer).into_iter().chain(below).collect()
}

/// The worst impact of a change at `pointer` (a concrete pointer, or a schema path with `*`): what the schema
/// shows as `x-kres-apply`. `None` when no rule covers it (a path outside the schema).
pub fn worst(pointer: &str) -> Option<Impact> {
    rules_under(pointer).iter().map(|r| r.impact).max()
}

/// One changed field with its effect.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The JSON pointer of the change (in the validated model, defaults filled in).
    pub path: String,
    /// The effect of this change (refined by the configurations before and after it).
    pub impact: Impact,
    /// The rule that decided it (its `why` explains a refusal).
    pub rule: &'static Rule,
}

/// What changes between two validated configurations and what each change takes, in document order.
pub fn changes(old: &KresConfig, new: &KresConfig) -> Vec<Changed> {
    let (from, to) = (model_json(old), model_json(new));
    crate::diff::changes(&from, &to)
        .into_iter()
        .filter_map(|change| {
            let (impact, rule) = rules_under(&change.path)
                .into_iter()
                .map(|r| (r.refine.map_or(r.impact, |refine| refine(old, new).min(r.impact)), r))
                .max_by_key(|(impact, _)| *impact)?;
            Some(Changed { path: change.path, impact, rule })
        })
        .collect()
}

/// The overall impact of a set of changes (the worst one); `None` when nothing changed.
pub fn overall(changes: &[Changed]) -> Option<Impact> {
    changes.iter().map(|c| c.impact).max()
}

/// The model as JSON: every field, defaults filled in, the keys of the schema.
fn model_json(config: &KresConfig) -> Value {
    // The model's types serialize to plain JSON values (string keys only); this cannot fail.
    serde_json::to_value(config).unwrap_or(Value::Null)
}

/// Adds `"x-kres-apply"` to every property of a JSON Schema of the configuration (the properties of objects, of
/// list items and of map values, through `anyOf`/`oneOf`/`allOf` variants).
pub fn annotate_schema(schema: &mut Value) {
    walk(schema, &mut String::new());
}

fn walk(schema: &mut Value, path: &mut String) {
    let Value::Object(map) = schema else { return };
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(variants)) = map.get_mut(key) {
            for variant in variants {
                walk(variant, path);
            }
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            let len = path.len();
            path.push('/');
            path.push_str(name);
            if let (Value::Object(p), Some(impact)) = (&mut *property, worst(path)) {
                p.insert(KEYWORD.into(), Value::String(impact.as_str().into()));
            }
            walk(property, path);
            path.truncate(len);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub @ Value::Object(_)) = map.get_mut(key) {
            let len = path.len();
            path.push_str("/*");
            walk(sub, path);
            path.truncate(len);
        }
    }
}

/// Every property of a JSON Schema node with its path below `path` (`*` for list items and map values), in schema
/// order, variants (`anyOf`, `oneOf`, `allOf`) included: what the tests walk to check every field.
pub fn schema_properties(schema: &Value, path: &str) -> Vec<(String, Value)> {
    fn walk(schema: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        for key in ["anyOf", "oneOf", "allOf"] {
            for variant in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                walk(variant, path, out);
            }
        }
        for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let p = format!("{path}/{name}");
            out.push((p.clone(), property.clone()));
            walk(property, &p, out);
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
                walk(sub, &format!("{path}/*"), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(schema, path, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::node::Node;
    use crate::validate;

    /// Every property of our schema with its path.
    fn all_properties() -> Vec<(String, Value)> {
        schema_properties(&crate::json_schema(), "")
    }

    #[test]
    fn every_property_carries_its_impact() {
        let props = all_properties();
        assert!(props.len() > 150, "only {} properties found", props.len());
        let mut missing = Vec::new();
        for (path, schema) in &props {
            let shown = schema.get(KEYWORD).and_then(Value::as_str);
            let own = rule_of(path).unwrap_or_else(|| panic!("{path}: no rule of the impact table covers it"));
            let expected = worst(path).unwrap();
            assert!(expected >= own.impact, "{path}");
            if shown != Some(expected.as_str()) {
                missing.push(format!("{path}: {shown:?}, expected {expected}"));
            }
        }
        assert!(missing.is_empty(), "properties without their x-kres-apply:\n{}", missing.join("\n"));
    }

    #[test]
    fn every_rule_names_a_property_once() {
        let props = all_properties();
        for (i, rule) in RULES.iter().enumerate() {
            assert!(
                props.iter().any(|(p, _)| p == rule.path),
                "rule {}: no property of the schema has this path",
                rule.path
            );
            assert!(RULES[..i].iter().all(|r| r.path != rule.path), "rule {} is listed twice", rule.path);
            if rule.impact == Immutable {
                assert!(!rule.why.is_empty());
            }
        }
    }

    #[test]
    fn longest_prefix_and_rules_below() {
        assert_eq!(rule_of("/management/unix-socket").unwrap().path, "/management");
        assert_eq!(rule_of("/management/history/max-count").unwrap().path, "/management/history");
        assert_eq!(rule_of("/local-data/rpz/3/watchdog").unwrap().path, "/local-data/rpz/*/watchdog");
        assert_eq!(rule_of("/local-data/rpz/3/file").unwrap().path, "/local-data");
        assert_eq!(rule_of("/local-data/addresses/a.example.").unwrap().path, "/local-data");
        assert_eq!(rule_of("/lua/policy-script").unwrap().impact, Rules);
        assert!(rule_of("/no-such-section").is_none());
        assert_eq!(worst("/no-such-section"), None);
        // A whole section takes the worst of its fields.
        assert_eq!(worst("/management"), Some(Immutable));
        assert_eq!(worst("/management/history"), Some(Manager));
        assert_eq!(worst("/local-data"), Some(Rules));
        assert_eq!(worst("/local-data/rpz/0/watchdog"), Some(Live));
        assert_eq!(worst("/lua"), Some(Restart));
        assert_eq!(worst("/monitoring"), Some(Immutable));
        assert_eq!(worst(""), Some(Immutable));
    }

    #[test]
    fn impact_is_ordered_and_kebab_case() {
        assert!(Live < Rules && Rules < Restart && Restart < Manager && Manager < Immutable);
        for impact in Impact::ALL {
            assert_eq!(serde_json::to_value(impact).unwrap(), json!(impact.as_str()));
            assert_eq!(serde_json::from_value::<Impact>(json!(impact.as_str())).unwrap(), impact);
        }
    }

    fn config(doc: Value) -> KresConfig {
        validate(&Node::from_json(&doc), &crate::ValidationOptions::lenient()).unwrap()
    }

    fn impacts(old: Value, new: Value) -> Vec<(String, Impact)> {
        changes(&config(old), &config(new)).into_iter().map(|c| (c.path, c.impact)).collect()
    }

    #[test]
    fn changes_are_refined_by_the_configurations() {
        let s = |p: &str, i| (p.to_owned(), i);
        let workers = |n: u32, defer: bool| json!({"workers": n, "defer": {"enable": defer}});
        assert_eq!(impacts(workers(1, false), workers(2, false)), [s("/workers", Live)]);
        assert_eq!(impacts(workers(1, true), workers(2, true)), [s("/workers", Restart)], "defer is on by default");
        let graphite = |enable: bool, prefix: &str| json!({"monitoring": {"graphite": {"enable": enable, "host": "127.0.0.1", "prefix": prefix}}});
        assert_eq!(
            impacts(graphite(false, "a"), graphite(true, "a")),
            [s("/monitoring/graphite/enable", Live)],
            "enabling the bridge is live"
        );
        assert_eq!(impacts(graphite(true, "a"), graphite(true, "b")), [s("/monitoring/graphite/prefix", Immutable)]);
        assert_eq!(impacts(graphite(true, "a"), graphite(false, "a")), [s("/monitoring/graphite/enable", Immutable)]);
        assert_eq!(impacts(json!({}), json!({})), []);
        // Defaults are filled in: writing the default changes nothing.
        assert_eq!(impacts(json!({}), json!({"dnssec": {"enable": true}})), []);
        // A new list is as costly as its costliest field.
        let views = json!({"views": [{"subnets": ["10.0.0.0/8"], "answer": "refused"}]});
        assert_eq!(impacts(json!({}), views), [s("/views", Rules)]);
        let rpz = |watchdog: bool| json!({"local-data": {"rpz": [{"file": "/x.rpz", "watchdog": watchdog}]}});
        assert_eq!(impacts(rpz(false), rpz(true)), [s("/local-data/rpz/0/watchdog", Live)]);
        assert_eq!(impacts(json!({}), rpz(true)), [s("/local-data/rpz", Rules)]);
        let c = changes(&config(json!({})), &config(json!({"management": {"unix-socket": "/x.sock"}})));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].path.as_str(), c[0].impact, c[0].rule.path),
            ("/management/unix-socket", Immutable, "/management")
        );
        assert_eq!(overall(&c), Some(Immutable));
        assert_eq!(overall(&[]), None);
    }
}
