//! Configuration documents generated from our JSON Schema (`kres_datamodel::json_schema()`), for the differential
//! test against the reference validator (`differential.rs`).
//!
//! The generator walks the schema, so a new field is covered as soon as it is declared. From each schema node it
//! draws values of every declared type (`anyOf` variants and type lists, so both forms of a "list or item"),
//! integers and numbers at and just past their bounds, sizes and times at extreme magnitudes, enum members and near
//! misses, domain names around the length limits, and empty strings and lists. Strings without a pattern (addresses,
//! networks, paths) get values from a pool picked by the field's name; a field the pool does not know gets the whole
//! pool, valid and invalid values alike.
//!
//! A [`Generator`] makes two kinds of documents: random ones (each property present with some probability, so many
//! break a cross-field rule) and mutations: a valid document changed in exactly one place (an unknown or
//! `_`-spelled key at some level, a wrong type, a bound crossed, a required key removed, a list emptied or turned
//! into its item, a raw YAML 1.1 scalar such as `yes`, `0o17` or `1_000`). Documents are written as JSON or as
//! block YAML. Everything is deterministic from the seed ([`Rng`], splitmix64).

use serde_json::{Map, Value as Json, json};

/// splitmix64: small, fast and good enough to spread test inputs; deterministic from the seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One generated document.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The file contents (JSON or YAML).
    pub text: String,
    /// `json` or `yaml`: the file extension.
    pub ext: &'static str,
    /// How it was made: `random`, `example NAME` or `mutation of ...: WHAT at PATH`.
    pub origin: String,
    /// True for a valid document changed in one place.
    pub near_valid: bool,
}

/// A raw YAML scalar put in place of a value by a mutation; the emitter writes it unquoted.
const RAW_MARK: &str = "\u{1}raw:";

/// YAML 1.1 plain scalars whose meaning differs between YAML dialects or from their look.
const RAW_YAML_SCALARS: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "Yes",
    "NO",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "010",
    "0o17",
    "0x1F",
    "1_000",
    "1e3",
    "1.0e+3",
    ".inf",
    "-.inf",
    ".nan",
    "12:30",
    "190:20:30",
    "2001-01-01",
    "0b101",
    "+12",
    "-0",
    "1.",
    "!!str 5",
    "!!int \"7\"",
    "'quoted'",
    "\"dq\\x41\"",
    "\"\\u00e9\"",
    "|\n  block\n",
    ">\n  folded\n",
];

/// The generator: the schema and the random state.
pub struct Generator {
    schema: std::rc::Rc<Json>,
    rng: Rng,
}

impl Generator {
    pub fn new(schema: Json, seed: u64) -> Generator {
        Generator { schema: std::rc::Rc::new(schema), rng: Rng::new(seed) }
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A random document: every property of the root present with some probability, values drawn from the schema.
    pub fn random_document(&mut self) -> Json {
        let schema = std::rc::Rc::clone(&self.schema);
        self.gen_object_props(&schema, "", 0)
    }

    /// Serializes a document as JSON or block YAML (chosen at random), raw YAML scalars written as they are (such
    /// a document is always YAML).
    pub fn render(&mut self, doc: &Json, origin: String, near_valid: bool) -> Doc {
        let has_raw = doc.to_string().contains("\\u0001raw:");
        if !has_raw && self.rng.chance(40) {
            let text = if self.rng.chance(50) {
                serde_json::to_string_pretty(doc).expect("JSON values serialize")
            } else {
                doc.to_string()
            };
            Doc { text, ext: "json", origin, near_valid }
        } else {
            let mut text = String::new();
            emit_yaml(doc, 0, &mut text);
            Doc { text, ext: "yaml", origin, near_valid }
        }
    }

    /// A copy of `base` changed in one place; returns it with a description of the change.
    pub fn mutate(&mut self, base: &Json) -> (Json, String) {
        let mut locations = Vec::new();
        collect_locations(base, &mut Vec::new(), &mut locations);
        for _ in 0..20 {
            let loc = self.rng.pick(&locations).clone();
            let schema = std::rc::Rc::clone(&self.schema);
            let nodes = schema_nodes_at(&schema, &loc);
            let mut doc = base.clone();
            let target = pointer_mut(&mut doc, &loc).expect("a collected location exists");
            let shown = show_path(&loc);
            let what = match self.rng.below(9) {
                0 | 1 => {
                    let Json::Object(map) = target else { continue };
                    match self.rng.below(4) {
                        0 if !map.is_empty() => {
                            let k = map.keys().nth(self.rng.below(map.len())).expect("non-empty").clone();
                            if !k.contains('-') {
                                continue;
                            }
                            let v = map.remove(&k).expect("present");
                            let under = k.replace('-', "_");
                            map.insert(under.clone(), v);
                            format!("key {k} spelled {under}")
                        }
                        1 => {
                            map.insert("Unknown-Key".into(), json!(1));
                            "unknown key Unknown-Key".into()
                        }
                        _ => {
                            map.insert("unknown-key".into(), json!("x"));
                            "unknown key unknown-key".into()
                        }
                    }
                }
                2 => {
                    let wrong = self.wrong_type(target);
                    let desc = format!("wrong type {}", short(&wrong));
                    *target = wrong;
                    desc
                }
                3 | 4 => {
                    let Some(node) = nodes.first().copied() else { continue };
                    let Some(v) = self.invalid_for(node) else { continue };
                    let desc = format!("invalid value {}", short(&v));
                    *target = v;
                    desc
                }
                5 => {
                    // Remove a key: a required one when the schema has any, else any key.
                    let Json::Object(map) = target else { continue };
                    if map.is_empty() {
                        continue;
                    }
                    let required: Vec<String> = nodes
                        .iter()
                        .filter_map(|n| n.get("required").and_then(Json::as_array))
                        .flatten()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .filter(|r| map.contains_key(r))
                        .collect();
                    let key = if required.is_empty() {
                        map.keys().nth(self.rng.below(map.len())).expect("non-empty").clone()
                    } else {
                        self.rng.pick(&required).clone()
                    };
                    map.remove(&key);
                    format!("key {key} removed")
                }
                6 => {
                    let (value, desc) = match &*target {
                        Json::Array(items) if items.len() == 1 => {
                            (items[0].clone(), "one-item list replaced by its item")
                        }
                        Json::Array(_) => (json!([]), "list emptied"),
                        Json::Object(_) | Json::Null => continue,
                        other => (json!([other.clone(), other.clone()]), "value replaced by a list of it twice"),
                    };
                    *target = value;
                    desc.to_owned()
                }
                7 => {
                    // Add a property the schema declares, with a drawn value (often valid, sometimes not).
                    let Json::Object(map) = target else { continue };
                    let props: Vec<(String, Json)> = nodes
                        .iter()
                        .filter_map(|n| n.get("properties").and_then(Json::as_object))
                        .flatten()
                        .filter(|(k, _)| !map.contains_key(*k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if props.is_empty() {
                        continue;
                    }
                    let (key, node) = self.rng.pick(&props).clone();
                    let value = self.gen_value(&node, &format!("{}/{key}", path_key_prefix(&loc)), loc.len() + 1);
                    let desc = format!("added {key}: {}", short(&value));
                    map.insert(key, value);
                    desc
                }
                _ => {
                    if matches!(target, Json::Object(_) | Json::Array(_)) && !loc.is_empty() && self.rng.chance(70) {
                        continue;
                    }
                    if loc.is_empty() {
                        continue;
                    }
                    let raw = *self.rng.pick(RAW_YAML_SCALARS);
                    *target = Json::String(format!("{RAW_MARK}{raw}"));
                    format!("raw YAML scalar {raw:?}")
                }
            };
            return (doc, format!("{what} at {shown}"));
        }
        let mut doc = base.clone();
        if let Json::Object(map) = &mut doc {
            map.insert("unknown-key".into(), json!(true));
        }
        (doc, "unknown key unknown-key at /".into())
    }

    /// A value of another JSON type than `current`.
    fn wrong_type(&mut self, current: &Json) -> Json {
        loop {
            let v = match self.rng.below(9) {
                0 => json!("text"),
                1 => json!(42),
                2 => json!(-1),
                3 => json!(1.5),
                4 => json!(true),
                5 => Json::Null,
                6 => json!([]),
                7 => json!({}),
                _ => json!({"k": current.clone()}),
            };
            if std::mem::discriminant(&v) != std::mem::discriminant(current) {
                return v;
            }
        }
    }

    /// A value the schema node rejects (bound crossed, pattern missed, enum missed, empty list), if there is one.
    fn invalid_for(&mut self, node: &Json) -> Option<Json> {
        let mut options = Vec::new();
        for variant in variants(node) {
            let ty = variant.get("type").and_then(Json::as_str).unwrap_or("");
            match ty {
                "integer" | "number" => {
                    if let Some(min) = variant.get("minimum").and_then(Json::as_f64) {
                        options.push(num(min - 1.0, ty));
                    }
                    if let Some(max) = variant.get("maximum").and_then(Json::as_f64) {
                        options.push(num(max + 1.0, ty));
                    }
                    if ty == "integer" {
                        options.push(json!(1.0));
                        options.push(json!("1"));
                    }
                }
                "string" => {
                    if let Some(values) = variant.get("enum").and_then(Json::as_array) {
                        let v = values[self.rng.below(values.len())].as_str().unwrap_or("x");
                        options.push(json!(v.to_uppercase()));
                        options.push(json!(format!("{v}x")));
                    }
                    if let Some(pattern) = variant.get("pattern").and_then(Json::as_str) {
                        options.push(json!(*self.rng.pick(pattern_values(pattern).1)));
                    }
                    if let Some(min) = variant.get("minLength").and_then(Json::as_u64) {
                        options.push(json!("s".repeat(min.saturating_sub(1) as usize)));
                    }
                    options.push(json!(""));
                }
                "array" => options.push(json!([])),
                _ => {}
            }
        }
        if options.is_empty() { None } else { Some(options.swap_remove(self.rng.below(options.len()))) }
    }

    /// The properties of an object schema node, each present with some probability (required ones always).
    fn gen_object_props(&mut self, node: &Json, path: &str, depth: usize) -> Json {
        let mut map = Map::new();
        let required: Vec<&str> =
            node.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
        if let Some(props) = node.get("properties").and_then(Json::as_object) {
            let percent = if depth == 0 { 25 } else { 45 };
            for (key, sub) in props {
                if required.contains(&key.as_str()) || self.rng.chance(percent) {
                    let value = self.gen_value(sub, &format!("{path}/{key}"), depth + 1);
                    map.insert(key.clone(), value);
                }
            }
        }
        if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
            let key_pattern = node.pointer("/propertyNames/pattern").and_then(Json::as_str).unwrap_or("");
            for _ in 0..1 + self.rng.below(3) {
                let key = self.gen_string_for_pattern(key_pattern, path);
                let value = self.gen_value(values, &format!("{path}/{{}}"), depth + 1);
                map.insert(key, value);
            }
        }
        Json::Object(map)
    }

    /// A value for a schema node: one of its variants, mostly within bounds.
    fn gen_value(&mut self, node: &Json, path: &str, depth: usize) -> Json {
        let all = variants(node);
        let non_null: Vec<&Json> =
            all.iter().copied().filter(|v| v.get("type").and_then(Json::as_str) != Some("null")).collect();
        let variant =
            if non_null.is_empty() || self.rng.chance(5) { *self.rng.pick(&all) } else { *self.rng.pick(&non_null) };
        if depth > 8 {
            return Json::Null;
        }
        match variant.get("type").and_then(Json::as_str).unwrap_or("") {
            "null" => Json::Null,
            "boolean" => json!(self.rng.chance(50)),
            "integer" => self.gen_number(variant, true),
            "number" => self.gen_number(variant, false),
            "string" => {
                if let Some(values) = variant.get("enum").and_then(Json::as_array) {
                    return values[self.rng.below(values.len())].clone();
                }
                let pattern = variant.get("pattern").and_then(Json::as_str).unwrap_or("");
                let mut s = self.gen_string_for_pattern(pattern, path);
                if let Some(min) = variant.get("minLength").and_then(Json::as_u64) {
                    let min = min as usize;
                    if self.rng.chance(85) && s.len() < min {
                        s = format!("{s}{}", "0123456789abcdef".repeat(4))[..min + self.rng.below(3)].to_owned();
                    }
                }
                json!(s)
            }
            "array" => {
                let items = variant.get("items").cloned().unwrap_or(json!({}));
                let n = if self.rng.chance(80) { 1 + self.rng.below(2) } else { 3 + self.rng.below(3) };
                Json::Array((0..n).map(|_| self.gen_value(&items, &format!("{path}/[]"), depth + 1)).collect())
            }
            "object" => self.gen_object_props(variant, path, depth),
            _ => Json::Null,
        }
    }

    fn gen_number(&mut self, node: &Json, integer: bool) -> Json {
        let min = node.get("minimum").and_then(Json::as_f64);
        let max = node.get("maximum").and_then(Json::as_f64);
        let ty = if integer { "integer" } else { "number" };
        let lo = min.unwrap_or(-5.0);
        let hi = max.unwrap_or(1e6);
        let mut choices = vec![lo, hi, lo + 1.0, hi - 1.0, ((lo + hi) / 2.0).floor()];
        if max.is_none() {
            choices.extend([65535.0, 2147483647.0, 4294967296.0, 9007199254740991.0]);
        }
        if !integer {
            choices.extend([lo + 0.5, hi - 0.25, 1.0]);
        }
        if self.rng.chance(8) {
            choices = vec![lo - 1.0, hi + 1.0];
        }
        num(*self.rng.pick(&choices), ty)
    }

    /// A string for a pattern (mostly matching it); without a known pattern, a value from the pool for the field.
    fn gen_string_for_pattern(&mut self, pattern: &str, path: &str) -> String {
        let (good, bad) = pattern_values(pattern);
        if !good.is_empty() {
            if self.rng.chance(10) {
                return (*self.rng.pick(bad)).to_owned();
            }
            return self.pick_good(good);
        }
        let (good, bad) = string_pool(path);
        if self.rng.chance(15) { (*self.rng.pick(bad)).to_owned() } else { (*self.rng.pick(good)).to_owned() }
    }

    fn pick_good(&mut self, good: &[&str]) -> String {
        let s = *self.rng.pick(good);
        // Long names: generated, since they are long.
        match s {
            "<label63>" => format!("{}.example", "a".repeat(63)),
            "<label64>" => format!("{}.example", "a".repeat(64)),
            "<name253>" => long_name(253),
            "<name254>" => long_name(254),
            other => other.to_owned(),
        }
    }
}

/// A domain name of exactly `len` characters (labels of 63).
fn long_name(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        if !s.is_empty() {
            s.push('.');
        }
        let n = (len - s.len()).min(63);
        s.push_str(&"b".repeat(n));
    }
    if s.ends_with('.') {
        s.pop();
        s.push('c');
    }
    s
}

/// A JSON number: whole values as integers (`1`, as a person writes them), others as floats.
fn num(v: f64, ty: &str) -> Json {
    if ty == "integer" || (v.fract() == 0.0 && v.abs() < 9.0e15) { json!(v as i64) } else { json!(v) }
}

/// Values for the patterns our schema uses: (mostly valid, invalid). Marked long names are expanded by
/// [`Generator::pick_good`]. An unknown pattern gets no values (the caller uses the string pool).
fn pattern_values(pattern: &str) -> (&'static [&'static str], &'static [&'static str]) {
    if pattern.contains("B|K|M|G") {
        (
            &[
                "0B",
                "1B",
                "512B",
                "1232B",
                "4096B",
                "65535B",
                "65536B",
                "1K",
                "4K",
                "1M",
                "100M",
                "1G",
                "1024G",
                "99999999999G",
            ],
            &["10MB", "1.5M", "-1M", "M", "100", "100 M", "1m", "1T", " 1M"],
        )
    } else if pattern.contains("us|ms|s|m|h|d") {
        (
            &[
                "0s",
                "1us",
                "999us",
                "1ms",
                "1000ms",
                "1s",
                "5s",
                "15m",
                "24h",
                "1d",
                "365d",
                "99999999999d",
                "0us",
                "86400s",
            ],
            &["1x", "1.5s", "s", "-1s", "5 s", "1S", "1sec", "10"],
        )
    } else if pattern.contains("(?=^.{") {
        (
            &[
                ".",
                "example.com",
                "example.com.",
                "a",
                "a-b.example",
                "_srv._tcp.example",
                "xn--bcher-kva.example",
                "0.example",
                "<label63>",
                "<name253>",
                "localhost",
                "EXAMPLE.org",
            ],
            &[
                "-bad.example",
                "bad-.example",
                "a..b",
                "<label64>",
                "<name254>",
                "exa mple.com",
                "..",
                "bücher.example",
                "*.example",
                "",
            ],
        )
    } else if pattern.contains("[a-z0-9-]*[a-z0-9]+") {
        (&["t1", "a", "a-b", "tag0", "0", "x-y-z", "abc9"], &["-a", "a-", "A", "a_b", "", "a b"])
    } else if pattern.contains("{43}=") {
        (
            &["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="],
            &["AAAA=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="],
        )
    } else {
        (&[], &[])
    }
}

const IP_GOOD: &[&str] = &["127.0.0.1", "::1", "192.0.2.1", "2001:db8::1", "0.0.0.0", "::", "10.1.2.3"];
const IP_PORT_GOOD: &[&str] = &["127.0.0.1", "::1", "192.0.2.1@53", "127.0.0.1@5353", "::1@853", "2001:db8::1@65535"];
const IFACE_GOOD: &[&str] = &["127.0.0.1", "::1", "127.0.0.1@5353", "::1@853", "lo", "eth0", "lo@53", "eth0_1"];
const NET_GOOD: &[&str] =
    &["10.0.0.0/8", "192.0.2.0/24", "0.0.0.0/0", "::/0", "2001:db8::/32", "127.0.0.1", "::1", "fe80::/10"];
const NET96_GOOD: &[&str] = &["64:ff9b::/96", "2001:db8::/96", "2001:db8:1::/96"];
const PATH_GOOD: &[&str] =
    &["/tmp/kres", "/var/cache/knot-resolver", "relative/file", "file.conf", "/run/knot-resolver/kres-api.sock"];
const WORD_GOOD: &[&str] = &["resolver", "ns1", "a b c", "x", "2000", "tab\there", "quote'\"\\", "ünï", "[[lua]]"];
const TEXT_GOOD: &[&str] = &[
    "example.com. 300 IN A 192.0.2.1",
    ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    "-- lua comment\nlog_info(ffi.C.LOG_GRP_NETLOG, 'x')",
    "http://www.internic.net/domain/root.zone",
    "x",
];
const BAD_VALUES: &[&str] = &[
    "",
    " ",
    "256.1.1.1",
    "1.2.3",
    "127.0.0.1@0",
    "127.0.0.1@65536",
    "127.0.0.1@",
    "@53",
    "10.0.0.1/8",
    "2001:db8::/129",
    "2001:db8::/128",
    "1.2.3.4!",
    "1.2.3.4!!",
    "bad_if-",
    "eth0@abc",
    "example.com",
    "auto",
    "/",
    "\u{0}",
    "127.0.0.1 ",
    "::1%lo",
];
const ALL_GOOD: &[&str] = &[
    "127.0.0.1",
    "::1",
    "192.0.2.1@53",
    "lo",
    "eth0@853",
    "10.0.0.0/8",
    "2001:db8::/96",
    "1.2.3.4!",
    "/tmp/x",
    "relative",
    "word",
    "example.com",
    "x y",
];

/// Strings for a field without a pattern, chosen by the field's name (the JSON Schema does not describe
/// addresses, networks or paths); fields this does not know get every kind of value.
fn string_pool(path: &str) -> (&'static [&'static str], &'static [&'static str]) {
    let key = path.rsplit('/').find(|s| *s != "[]" && *s != "{}").unwrap_or("");
    let in_dns64 = path.starts_with("/dns64");
    let good: &'static [&'static str] = match key {
        "interface" => IFACE_GOOD,
        "address" | "servers" | "addresses" => IP_PORT_GOOD,
        "out-interface-v4" | "out-interface-v6" | "host" => IP_GOOD,
        "destination" => &["192.0.2.1", "2001:db8::1", "192.0.2.1!", "::1!"],
        "prefix" if in_dns64 => NET96_GOOD,
        "subnets" | "dst-subnet" | "source" | "exclude-subnets" | "allow" => NET_GOOD,
        "file"
        | "ca-file"
        | "unix-socket"
        | "storage"
        | "rundir"
        | "cert-file"
        | "key-file"
        | "sticket-secret-file"
        | "script-file"
        | "policy-script-file"
        | "addresses-files" => PATH_GOOD,
        "nsid" | "hostname" | "prefix" | "sticket-secret" => WORD_GOOD,
        "records" | "script" | "policy-script" | "trust-anchors" | "url" => TEXT_GOOD,
        _ => ALL_GOOD,
    };
    let good = if path.starts_with("/local-data/addresses/") { IP_GOOD } else { good };
    (good, BAD_VALUES)
}

/// The variants of a schema node: `anyOf` flattened, and a node with a list of types split into one per type.
pub fn variants(node: &Json) -> Vec<&Json> {
    if let Some(any) = node.get("anyOf").and_then(Json::as_array) {
        return any.iter().flat_map(variants).collect();
    }
    match node.get("type") {
        Some(Json::Array(types)) => types.iter().map(|t| type_variant(node, t)).collect(),
        _ => vec![node],
    }
}

/// `node` with its `type` list narrowed to `ty` (leaked: schema nodes are few and live as long as the test).
fn type_variant<'a>(node: &'a Json, ty: &Json) -> &'a Json {
    let mut v = node.clone();
    v["type"] = ty.clone();
    Box::leak(Box::new(v))
}

/// A step of a location in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

fn collect_locations(v: &Json, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Json::Object(map) => {
            for (k, child) in map {
                here.push(Step::Key(k.clone()));
                collect_locations(child, here, out);
                here.pop();
            }
        }
        Json::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(Step::Index(i));
                collect_locations(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut Json, loc: &[Step]) -> Option<&'a mut Json> {
    let mut cur = v;
    for step in loc {
        cur = match (step, cur) {
            (Step::Key(k), Json::Object(map)) => map.get_mut(k)?,
            (Step::Index(i), Json::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The schema nodes (one per matching variant) that describe the value at `loc`.
fn schema_nodes_at<'a>(schema: &'a Json, loc: &[Step]) -> Vec<&'a Json> {
    let mut nodes = vec![schema];
    for step in loc {
        let mut next = Vec::new();
        for node in nodes {
            for v in variants(node) {
                match step {
                    Step::Key(k) => {
                        if let Some(p) = v.get("properties").and_then(|p| p.get(k)) {
                            next.push(p);
                        } else if let Some(a) = v.get("additionalProperties").filter(|a| a.is_object()) {
                            next.push(a);
                        }
                    }
                    Step::Index(_) => {
                        if let Some(items) = v.get("items") {
                            next.push(items);
                        }
                    }
                }
            }
        }
        nodes = next;
    }
    nodes
}

/// `/a/0/b` for a location.
fn show_path(loc: &[Step]) -> String {
    if loc.is_empty() {
        return "/".into();
    }
    loc.iter()
        .map(|s| match s {
            Step::Key(k) => format!("/{k}"),
            Step::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// The schema-style path (`/a/[]/b`) of a location, for the string pool.
fn path_key_prefix(loc: &[Step]) -> String {
    loc.iter()
        .map(|s| match s {
            Step::Key(k) => format!("/{k}"),
            Step::Index(_) => "/[]".into(),
        })
        .collect()
}

/// A short rendering of a value for descriptions.
fn short(v: &Json) -> String {
    let s = match v {
        Json::String(s) if s.starts_with(RAW_MARK) => s[RAW_MARK.len()..].to_owned(),
        _ => v.to_string(),
    };
    if s.chars().count() > 40 { format!("{}...", s.chars().take(40).collect::<String>()) } else { s }
}

/// Block YAML: mappings as `key: value`, lists as `- item`, empty ones in flow style, strings double-quoted with
/// JSON escapes (valid YAML), raw scalars as they are.
fn emit_yaml(v: &Json, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Json::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                out.push_str(&pad);
                out.push_str(&yaml_key(k));
                out.push(':');
                emit_child(child, indent, out);
            }
        }
        Json::Array(items) if !items.is_empty() => {
            for child in items {
                out.push_str(&pad);
                out.push('-');
                emit_child(child, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

fn emit_child(child: &Json, indent: usize, out: &mut String) {
    match child {
        Json::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit_yaml(child, indent + 2, out);
        }
        Json::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit_yaml(child, indent + 2, out);
        }
        Json::String(s) if s.starts_with(RAW_MARK) && s.contains('\n') => {
            // Block scalars: indicator on this line, content indented below.
            let raw = &s[RAW_MARK.len()..];
            let mut lines = raw.lines();
            out.push(' ');
            out.push_str(lines.next().unwrap_or(""));
            out.push('\n');
            for line in lines {
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(line.trim_start());
                out.push('\n');
            }
        }
        _ => {
            out.push(' ');
            out.push_str(&yaml_scalar(child));
            out.push('\n');
        }
    }
}

/// A key plain when YAML reads it back as the same string, else double-quoted.
fn yaml_key(k: &str) -> String {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !WORDS.contains(&k.to_ascii_lowercase().as_str());
    if plain { k.to_owned() } else { Json::String(k.to_owned()).to_string() }
}

fn yaml_scalar(v: &Json) -> String {
    match v {
        Json::String(s) if s.starts_with(RAW_MARK) => s[RAW_MARK.len()..].to_owned(),
        Json::Object(_) => "{}".into(),
        Json::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}
