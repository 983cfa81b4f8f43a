//! The schema's `x-kres-apply` against what the plan really does: every property of the schema is changed, from a
//! base configuration that turns every feature on (so each field matters), with every valid value generated from
//! its schema, and the plan must do what the annotation says: `immutable` → refused (409) naming the path,
//! `restart` → the workers are replaced, `rules` → only the policy-loader and a rules reset, `live` → neither,
//! `manager` → neither, with `manager` reported. Where the effect depends on the value (the annotation is the
//! worst case), every generated value must stay within it and at least one must reach it.

use std::collections::BTreeMap;

use kres_datamodel::impact::{Impact, KEYWORD};
use kres_datamodel::node::Node;
use kres_datamodel::{SystemFacts, ValidationOptions};
use kres_test_support::TempDir;
use serde_json::{Value, json};

use super::super::handle::{ApplyError, ApplyRequest, Edit, Source};
use super::{Current, plan};

const GC: &str = "/usr/sbin/kres-cache-gc";
/// Two well-formed argon2id hashes (PHC strings; no secret hashes to them, none is needed here).
const HASH_A: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
const HASH_B: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI";

/// Properties no generated value can change on its own, with why. Kept short: each is a real constraint.
const SKIPPED: &[(&str, &str)] = &[
    ("/version", "only one value (1) is valid"),
    ("/cache/prefill/*/origin", "only the root zone ('.') can be prefilled"),
];

/// The files the base configuration names (script files are read while rendering).
struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = TempDir::new("impact");
        for d in ["run", "cache", "other"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for (name, text) in [
            ("a.lua", "-- a\n"),
            ("b.lua", "-- b\n"),
            ("pa.lua", "-- policy a\n"),
            ("a.hosts", "192.0.2.10 h.example\n"),
            ("b.hosts", "192.0.2.11 h.example\n"),
            ("a.rpz", "$ORIGIN rpz.\nblocked.example CNAME .\n"),
            ("b.rpz", "$ORIGIN rpz.\nother.example CNAME .\n"),
            ("cert.pem", ""),
            ("key.pem", ""),
            ("ta.keys", ""),
        ] {
            dir.write(name, text);
        }
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Every feature on, every list with one item, so that every field has an effect.
    fn base(&self) -> Value {
        json!({
            "rundir": self.path("run"),
            "workers": 2,
            "nsid": "base",
            "hostname": "base.example",
            "management": {"unix-socket": self.path("api.sock"), "state-dir": self.path("state")},
            "network": {
                "listen": [{"interface": "127.0.0.1", "port": 53535}],
                "out-interface-v4": "127.0.0.1",
                "out-interface-v6": "::1",
                "address-renumbering": [{"source": "10.10.10.0/24", "destination": "192.0.2.0"}],
                "tls": {"cert-file": self.path("cert.pem"), "key-file": self.path("key.pem"), "watchdog": false},
                "proxy-protocol": {"enable": true, "allow": ["127.0.0.1"]},
            },
            "views": [{"subnets": ["10.0.0.0/8"], "tags": ["t1"]}],
            "local-data": {
                "addresses": {"a.example.": "192.0.2.1"},
                "addresses-files": [self.path("a.hosts")],
                "records": "r.example. 300 A 192.0.2.2\n",
                "rules": [{"name": ["n.example."], "address": ["192.0.2.3"], "tags": ["t1"]}],
                "rpz": [{"file": self.path("a.rpz"), "tags": ["t1"], "watchdog": false, "log": ["ip"]}],
            },
            "forward": [{"subtree": "f.example.", "servers": [{"address": "127.0.0.1@5353"}]}],
            "fallback": {"enable": true, "servers": [{"address": "127.0.0.1@5354"}]},
            "cache": {
                "storage": self.path("cache"),
                "prefill": [{"origin": ".", "url": "https://www.internic.net/domain/root.zone"}],
                "prefetch": {"prediction": {"enable": true}},
            },
            "dnssec": {
                "trust-anchors": [". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"],
                "negative-trust-anchors": ["nta.example."],
                "trust-anchors-files": [{"file": self.path("ta.keys")}],
            },
            "dns64": {"enable": true, "reverse-ttl": "1m", "exclude-subnets": ["64:ff9b::/112"]},
            "logging": {"groups": ["manager"], "dnstap": {"enable": true, "unix-socket": self.path("dnstap.sock")}},
            "monitoring": {"graphite": {"enable": true, "host": "127.0.0.1"}},
            "rate-limiting": {"enable": true, "rate-limit": 100},
            "defer": {"enable": true},
            "lua": {"script": "-- base", "policy-script-file": self.path("pa.lua")},
        })
    }

    /// Variants of the base with the other field of each pair of mutually exclusive fields set (a field of a pair
    /// cannot be added while the other is set).
    fn variants(&self, schema: &Value) -> Vec<Value> {
        let mut one = self.base();
        one["management"] = json!({"interface": "127.0.0.1@5000", "state-dir": self.path("state")});
        // The API's TLS and tokens, when this tree's schema has them.
        if schema.pointer("/properties/management/properties/tls").is_some() {
            one["management"]["tls"] = json!({"cert-file": self.path("cert.pem"), "key-file": self.path("key.pem")});
        }
        if schema.pointer("/properties/management/properties/tokens").is_some() {
            one["management"]["tokens"] = json!([{"name": "ops", "scope": "admin", "hash": HASH_A}]);
        }
        one["lua"] = json!({"script-file": self.path("a.lua"), "policy-script": "-- base"});
        one["network"]["listen"] = json!([{"unix-socket": self.path("dns.sock")}]);
        one["views"] = json!([
            {"subnets": ["10.0.0.0/8"], "answer": "refused"},
            {"subnets": ["10.2.0.0/16"], "tags": ["t1"]},
        ]);
        one["local-data"]["rules"] = json!([{"records": "q.example. 300 A 192.0.2.5\n", "tags": ["t1"]}]);
        one["forward"] = json!([{"subtree": "f.example.", "servers": [{"address": "127.0.0.1"}]}]);
        let mut two = self.base();
        two["local-data"]["rules"] = json!([{"file": self.path("a.hosts"), "tags": ["t1"]}]);
        // Fleet mode, when this tree's schema has it.
        if schema.pointer("/properties/fleet").is_some() {
            two["fleet"] = json!({
                "enable": true,
                "name": "node1",
                "etcd": {"endpoints": ["127.0.0.1:2379"], "username": "u", "password-file": self.path("a.hosts")},
            });
        }
        vec![self.base(), one, two]
    }

    /// Text values to try for strings: one of each kind of value the schema holds.
    fn strings(&self) -> Vec<Value> {
        let texts = [
            "changed.example.",
            "192.0.2.99",
            "127.0.0.2@5355",
            "::2",
            "10.1.0.0/16",
            "64:ff9b:1::/96",
            "2s",
            "10m",
            "200M",
            "1K",
            "lo",
            "text",
            "https://example.net/root.zone",
            "0123456789abcdef0123456789abcdef",
            "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=",
            ". 3600 IN DS 1 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
            "b.example. 300 A 192.0.2.3\n",
            "t1",
            HASH_B,
        ];
        let files = ["b.lua", "b.hosts", "b.rpz", "other", "other/file", "other.sock"];
        texts.iter().map(|t| json!(t)).chain(files.iter().map(|f| json!(self.path(f)))).collect()
    }

    /// Values for a property of schema `schema` whose value in the base is `current`, generated from its type,
    /// enum, bounds and items.
    fn candidates(&self, schema: &Value, current: Option<&Value>, out: &mut Vec<Value>) {
        for key in ["anyOf", "oneOf"] {
            for variant in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                self.candidates(variant, current, out);
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            out.extend(values.iter().cloned());
            return;
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        for t in types {
            match t {
                "boolean" => out.extend([json!(true), json!(false)]),
                "integer" | "number" => {
                    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
                    let (min, max) = (bound("minimum").unwrap_or(0.0), bound("maximum").unwrap_or(1e6));
                    let now = current.and_then(Value::as_f64).unwrap_or(min);
                    for n in [min, max, min + 1.0, now + 1.0, now - 1.0, 2.0, 100.0] {
                        if (min..=max).contains(&n) {
                            out.push(if t == "integer" { json!(n as i64) } else { json!(n) });
                        }
                    }
                }
                "string" => out.extend(self.strings()),
                "null" => out.push(Value::Null),
                "array" => {
                    let mut items = Vec::new();
                    if let Some(item) = schema.get("items") {
                        self.candidates(item, None, &mut items);
                    }
                    out.extend(items.into_iter().filter(|i| !i.is_object()).map(|i| json!([i])));
                    if let Some(Value::Array(now)) = current
                        && let Some(first) = now.first()
                    {
                        let mut longer = now.clone();
                        longer.push(first.clone());
                        out.push(Value::Array(longer));
                    }
                }
                "object" => {
                    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                        let mut items = Vec::new();
                        self.candidates(values, None, &mut items);
                        for value in items.into_iter().take(8) {
                            let mut map = current.and_then(Value::as_object).cloned().unwrap_or_default();
                            map.insert("added.example.".into(), value);
                            out.push(Value::Object(map));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The pointer of a schema path in `doc`: `*` becomes the first index or key there.
fn concrete(doc: &Value, path: &str) -> Option<Vec<String>> {
    let mut at = Some(doc);
    let mut out = Vec::new();
    for token in path.trim_start_matches('/').split('/') {
        let token = match (token, at) {
            ("*", Some(Value::Array(items))) if !items.is_empty() => "0".to_owned(),
            ("*", Some(Value::Object(map))) => map.keys().next()?.clone(),
            ("*", _) => return None,
            (t, _) => t.to_owned(),
        };
        at = at.and_then(|v| match v {
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(map) => map.get(&token),
            _ => None,
        });
        out.push(token);
    }
    Some(out)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Array(items) => items.get(t.parse::<usize>().ok()?),
        Value::Object(map) => map.get(t),
        _ => None,
    })
}

/// `doc` with the member at `tokens` set to `value` (intermediate objects created), or removed (`None`).
fn with(doc: &Value, tokens: &[String], value: Option<&Value>) -> Value {
    let mut doc = doc.clone();
    let mut at = &mut doc;
    for t in &tokens[..tokens.len() - 1] {
        at = match at {
            Value::Array(items) => &mut items[t.parse::<usize>().unwrap()],
            Value::Object(map) => map.entry(t.clone()).or_insert_with(|| json!({})),
            _ => unreachable!("the parents of a schema path are objects and lists"),
        };
    }
    let last = tokens.last().unwrap();
    match (at, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(last.clone(), v.clone());
        }
        (Value::Object(map), None) => {
            map.remove(last);
        }
        (Value::Array(items), Some(v)) => items[last.parse::<usize>().unwrap()] = v.clone(),
        (Value::Array(items), None) => {
            items.remove(last.parse::<usize>().unwrap());
        }
        _ => unreachable!(),
    }
    doc
}

/// Whether a refusal names the property at `tokens`, a field of it (when an object is removed) or the object
/// holding it (a change from `null` to an object is the change of the whole object).
fn names(message: &str, tokens: &[String]) -> bool {
    message.contains(&format!("/{}/", tokens.join("/")))
        || (1..=tokens.len()).any(|n| message.contains(&format!("/{}: ", tokens[..n].join("/"))))
}

/// What the plan did with a change.
fn observed(result: &Result<super::Plan, ApplyError>) -> Option<Impact> {
    match result {
        Err(ApplyError::Forbidden(_)) => Some(Impact::Immutable),
        Err(_) => None,
        Ok(p) if p.restart_workers => Some(Impact::Restart),
        Ok(p) if p.reload_rules => Some(Impact::Rules),
        Ok(p) if p.impact == Some(Impact::Manager) => Some(Impact::Manager),
        Ok(_) => Some(Impact::Live),
    }
}

fn properties(schema: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    out.extend(kres_datamodel::impact::schema_properties(schema, path));
}

/// What the changes of every property did, from one base configuration.
struct Exercise {
    /// The most any generated change of a property did (`None`: no valid change was found).
    worst: BTreeMap<String, Option<Impact>>,
    failures: Vec<String>,
}

fn exercise(files: &Files, base: &Value, props: &[(String, Value)]) -> Exercise {
    let opts = ValidationOptions::new(false, files.dir.path(), SystemFacts::fixed());
    let config = kres_datamodel::validate(&Node::from_json(base), &opts).expect("the base configuration is valid");
    let current = Current::render(base.clone(), config, kres_datamodel::etag::etag(base), GC).unwrap();
    let source = Source::Api { method: "PUT".into(), route: "/v1/config".into() };
    let mut out = Exercise { worst: BTreeMap::new(), failures: Vec::new() };
    for (path, schema) in props {
        let annotation = annotation(path, schema);
        // A property of list items this base has none of is changed from another base.
        let Some(tokens) = concrete(base, path) else { continue };
        let pointer = format!("/{}", tokens.join("/"));
        let mut values = Vec::new();
        files.candidates(schema, get(base, &tokens), &mut values);
        let tried: Vec<Option<Value>> = values.into_iter().map(Some).chain([None]).collect();
        let mut worst = None;
        for value in &tried {
            let doc = with(base, &tokens, value.as_ref());
            if doc == *base || kres_datamodel::validate(&Node::from_json(&doc), &opts).is_err() {
                continue;
            }
            let request = ApplyRequest::new(Edit::Replace(doc), source.clone());
            let result = plan(&current, &[0, 1], &request, &opts, GC);
            if let Ok(p) = &result
                && p.changes.is_empty()
            {
                continue; // the value is the one in force (a default written out)
            }
            // A value that also changes derived fields (an interface's port) measures more than this property.
            if let Ok(p) = &result
                && p.changes.iter().any(|c| c.path != pointer && !c.path.starts_with(&format!("{pointer}/")))
            {
                continue;
            }
            let Some(did) = observed(&result) else { continue };
            let shown = format!("{path} = {}", value.as_ref().map_or("(removed)".into(), |v| v.to_string()));
            match &result {
                Err(ApplyError::Forbidden(m)) if !names(m, &tokens) => {
                    out.failures.push(format!("{shown}: refused without naming {pointer}: {m}"));
                }
                Ok(p) if p.impact < Some(did) || p.impact > Some(annotation) => {
                    out.failures.push(format!("{shown}: the plan reports {:?}, did {did}", p.impact));
                }
                _ => {}
            }
            if did > annotation {
                out.failures.push(format!("{shown}: annotated {annotation}, but the plan did {did}"));
            }
            worst = worst.max(Some(did));
        }
        out.worst.insert(path.clone(), worst);
    }
    out
}

fn annotation(path: &str, schema: &Value) -> Impact {
    serde_json::from_value(schema[KEYWORD].clone()).unwrap_or_else(|_| panic!("{path}: no {KEYWORD} in the schema"))
}

#[test]
fn every_field_does_what_its_annotation_says() {
    let files = Files::new();
    let schema = kres_datamodel::json_schema();
    let mut props = Vec::new();
    properties(&schema, "", &mut props);
    assert!(props.len() > 150, "only {} properties", props.len());
    let runs: Vec<Exercise> = files.variants(&schema).iter().map(|base| exercise(&files, base, &props)).collect();
    let mut failures: Vec<String> = runs.iter().flat_map(|r| r.failures.iter().cloned()).collect();
    failures.sort();
    failures.dedup();
    let mut unchanged = Vec::new();
    let mut reached: BTreeMap<Impact, usize> = BTreeMap::new();
    for (path, schema) in &props {
        let annotation = annotation(path, schema);
        let worst = runs.iter().filter_map(|r| r.worst.get(path).copied().flatten()).max();
        match worst {
            Some(w) if w < annotation => {
                failures.push(format!("{path}: annotated {annotation}, but no generated change did more than {w}"))
            }
            Some(w) => *reached.entry(w).or_default() += 1,
            // An object is changed through its fields.
            None if schema.get("properties").is_some() => {}
            None => unchanged.push(path.as_str()),
        }
    }
    let skipped: Vec<&str> = SKIPPED.iter().map(|(p, _)| *p).collect();
    if unchanged != skipped {
        failures.push(format!("no valid change generated for {unchanged:?} (the skip list: {skipped:?})"));
    }
    // Every class is exercised.
    for impact in Impact::ALL {
        if reached.get(&impact).copied().unwrap_or(0) == 0 {
            failures.push(format!("no field of class {impact} tested: {reached:?}"));
        }
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}
