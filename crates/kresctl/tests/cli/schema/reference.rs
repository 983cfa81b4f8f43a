//! Our `kresctl schema` against the installed reference's (`/usr/bin/kresctl schema` of knot-resolver6 in the sid
//! root), property path by property path. Every difference must be on [`INTENDED`], the one list of intentional
//! differences (path, facet, both values, why); anything else fails naming the path and what differs, so when the
//! package moves to a new version this test says what changed. `docs/schema.md` shows the same list (kept equal by
//! [`schema_doc_lists_the_intended_differences`]; rewrite it with `KRES_UPDATE_SCHEMA_DOC=1`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::kresctl;

/// The reference's `kresctl`, from the installed knot-resolver6 package.
const REFERENCE_KRESCTL: &str = "/usr/bin/kresctl";

/// Why a difference is intended; the numbers are the items of "The differences and why" in `docs/schema.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// 1. Unknown keys are refused, and the schema says so.
    Closed,
    /// 2. Empty lists are refused, and the schema says so.
    NonEmptyLists,
    /// 3. Fields without a default are required, and the schema says so.
    Required,
    /// 4. Defaults of nested objects use the configuration's key spelling (`-`), not Python's (`_`).
    DashedDefaults,
    /// 5. Text fields accept numbers, as both validators do.
    NumbersAsText,
    /// 6. The domain-name pattern is an ECMA-262 regex; map keys that are domain names say so.
    EcmaPattern,
    /// 7. `version` accepts only 1.
    VersionBounds,
    /// 8. Our descriptions where the reference has a version string or none.
    Descriptions,
    /// 9. Settings the reference does not have: the configuration history, the health gate of applies, where the
    ///    manager starts from, fleet mode.
    Extensions,
}

impl Why {
    fn item(self) -> u8 {
        match self {
            Why::Closed => 1,
            Why::NonEmptyLists => 2,
            Why::Required => 3,
            Why::DashedDefaults => 4,
            Why::NumbersAsText => 5,
            Why::EcmaPattern => 6,
            Why::VersionBounds => 7,
            Why::Descriptions => 8,
            Why::Extensions => 9,
        }
    }
}

/// One intended difference: at `path`, `facet` is `reference` in the reference's schema and `ours` in ours.
struct Intended {
    path: &'static str,
    facet: &'static str,
    reference: &'static str,
    ours: &'static str,
    why: Why,
}

const fn d(path: &'static str, facet: &'static str, reference: &'static str, ours: &'static str, why: Why) -> Intended {
    Intended { path, facet, reference, ours, why }
}

const CLOSED: &str = "false (closed)";
const ADDITIONAL: &str = "additionalProperties";
const MIN_ITEMS: &str = "minItems";
const KEYS: &str = "default: keys spelled with `_`";
/// The reference's domain-name pattern (a Python regex) and ours (the same in ECMA-262).
const REF_NAME: &str = r"(?=^.{,253}\.?$)(^(?!-)[^.]{,62}[^.-](\.(?!-)[^.]{,62}[^.-])*\.?$)|^\.$";
const OUR_NAME: &str = r"(?=^.{0,253}\.?$)(^(?!-)[^.]{0,62}[^.-](\.(?!-)[^.]{0,62}[^.-])*\.?$)|^\.$";

use Why::*;

/// The properties of ours that the reference does not have at all (our extensions: history, health gate, API
/// authentication, fleet), as JSON pointers of the configuration: the differential test leaves them out of the
/// documents it generates, since the reference refuses them as unknown keys.
pub(crate) fn extension_properties() -> Vec<&'static str> {
    INTENDED
        .iter()
        .filter(|i| i.facet == "property" && i.reference == "absent" && matches!(i.why, Extensions))
        .map(|i| i.path)
        .collect()
}

/// Every intended difference between the reference's schema and ours. Keep `docs/schema.md` in step.
const INTENDED: &[Intended] = &[
    d("", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "",
        "description",
        r#""Version Knot Resolver 6.5.0""#,
        r#""Knot Resolver declarative configuration.""#,
        Descriptions,
    ),
    d("/cache", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/cache",
        KEYS,
        "dry_run, garbage_collector, ns_timeout, rw_delay, rw_deletes, rw_duration, rw_reads, size_max, temp_keys_space, ttl_max, ttl_min",
        "dry-run, garbage-collector, ns-timeout, rw-delay, rw-deletes, rw-duration, rw-reads, size-max, temp-keys-space, ttl-max, ttl-min",
        DashedDefaults,
    ),
    d("/cache/garbage-collector", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/cache/garbage-collector",
        KEYS,
        "dry_run, rw_delay, rw_deletes, rw_duration, rw_reads, temp_keys_space",
        "dry-run, rw-delay, rw-deletes, rw-duration, rw-reads, temp-keys-space",
        DashedDefaults,
    ),
    d("/cache/prefetch", ADDITIONAL, "-", CLOSED, Closed),
    d("/cache/prefetch/prediction", ADDITIONAL, "-", CLOSED, Closed),
    d("/cache/prefill", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/cache/prefill/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/cache/prefill/[]", "required", "-", "origin, url", Required),
    d("/cache/prefill/[]/origin", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/cache/prefill/[]/url", "type", "string", "integer, string", NumbersAsText),
    d("/defer", ADDITIONAL, "-", CLOSED, Closed),
    d("/defer", KEYS, "log_period", "log-period", DashedDefaults),
    d("/dns64", ADDITIONAL, "-", CLOSED, Closed),
    d("/dns64", KEYS, "exclude_subnets, reverse_ttl", "exclude-subnets, reverse-ttl", DashedDefaults),
    d("/dns64/exclude-subnets", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/dnssec", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/dnssec",
        KEYS,
        "log_bogus, negative_trust_anchors, signal_query, trust_anchors, trust_anchors_files",
        "log-bogus, negative-trust-anchors, signal-query, trust-anchors, trust-anchors-files",
        DashedDefaults,
    ),
    d("/dnssec/negative-trust-anchors", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/dnssec/negative-trust-anchors/[]", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/dnssec/trust-anchors", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/dnssec/trust-anchors-files", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/dnssec/trust-anchors-files/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/dnssec/trust-anchors-files/[]", "required", "-", "file", Required),
    d("/dnssec/trust-anchors/[]", "type", "string", "integer, string", NumbersAsText),
    d("/fallback", ADDITIONAL, "-", CLOSED, Closed),
    d("/fallback/servers", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/fallback/servers/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/fallback/servers/[]", "required", "-", "address", Required),
    d("/fallback/servers/[]/address", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/fallback/servers/[]/hostname", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/fallback/servers/[]/pin-sha256", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/forward", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/forward/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/forward/[]", "required", "-", "servers, subtree", Required),
    d("/forward/[]/options", ADDITIONAL, "-", CLOSED, Closed),
    d("/forward/[]/servers", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/forward/[]/servers/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/forward/[]/servers/[]", "required", "-", "address", Required),
    d("/forward/[]/servers/[]/address", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/forward/[]/servers/[]/hostname", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/forward/[]/servers/[]/pin-sha256", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/forward/[]/subtree", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/forward/[]/subtree", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/forward/[]/subtree/[]", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/fleet", "property", "absent", "present", Extensions),
    d("/fleet/batch", "property", "absent", "present", Extensions),
    d("/fleet/canary-node", "property", "absent", "present", Extensions),
    d("/fleet/enable", "property", "absent", "present", Extensions),
    d("/fleet/etcd", "property", "absent", "present", Extensions),
    d("/fleet/etcd/endpoints", "property", "absent", "present", Extensions),
    d("/fleet/etcd/endpoints/[]", "property", "absent", "present", Extensions),
    d("/fleet/etcd/password-file", "property", "absent", "present", Extensions),
    d("/fleet/etcd/prefix", "property", "absent", "present", Extensions),
    d("/fleet/etcd/tls", "property", "absent", "present", Extensions),
    d("/fleet/etcd/tls/ca-file", "property", "absent", "present", Extensions),
    d("/fleet/etcd/tls/cert-file", "property", "absent", "present", Extensions),
    d("/fleet/etcd/tls/key-file", "property", "absent", "present", Extensions),
    d("/fleet/etcd/username", "property", "absent", "present", Extensions),
    d("/fleet/health-hold", "property", "absent", "present", Extensions),
    d("/fleet/name", "property", "absent", "present", Extensions),
    d("/hostname", "type", "null, string", "integer, null, string", NumbersAsText),
    d("/local-data", ADDITIONAL, "-", CLOSED, Closed),
    d("/local-data", KEYS, "addresses_files", "addresses-files", DashedDefaults),
    d(
        "/local-data/addresses",
        "propertyNames",
        "-",
        r#"{"type":"string","pattern":"(?=^.{0,253}\\.?$)(^(?!-)[^.]{0,62}[^.-](\\.(?!-)[^.]{0,62}[^.-])*\\.?$)|^\\.$"}"#,
        EcmaPattern,
    ),
    d("/local-data/addresses-files", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/addresses/{}", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/records", "type", "null, string", "integer, null, string", NumbersAsText),
    d("/local-data/rpz", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rpz/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/local-data/rpz/[]", "required", "-", "file", Required),
    d("/local-data/rpz/[]/log", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rpz/[]/tags", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rules", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rules/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/local-data/rules/[]/address", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rules/[]/file", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rules/[]/name", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/local-data/rules/[]/name", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/local-data/rules/[]/name/[]", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/local-data/rules/[]/records", "type", "null, string", "integer, null, string", NumbersAsText),
    d("/local-data/rules/[]/tags", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/logging", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/logging",
        KEYS,
        "log_queries, log_responses, log_tcp_rtt, unix_socket",
        "log-queries, log-responses, log-tcp-rtt, unix-socket",
        DashedDefaults,
    ),
    d("/logging/dnstap", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/logging/dnstap",
        KEYS,
        "log_queries, log_responses, log_tcp_rtt, unix_socket",
        "log-queries, log-responses, log-tcp-rtt, unix-socket",
        DashedDefaults,
    ),
    d("/logging/groups", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/lua", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/lua",
        KEYS,
        "policy_script, policy_script_file, policy_script_only, script_file, script_only",
        "policy-script, policy-script-file, policy-script-only, script-file, script-only",
        DashedDefaults,
    ),
    d("/lua/policy-script", "type", "null, string", "null, number, string", NumbersAsText),
    d("/lua/script", "type", "null, string", "null, number, string", NumbersAsText),
    d("/management", ADDITIONAL, "-", CLOSED, Closed),
    d("/management/state-dir", "property", "absent", "present", Extensions),
    d("/management/history", "property", "absent", "present", Extensions),
    d("/management/history/max-count", "property", "absent", "present", Extensions),
    d("/management/history/max-size", "property", "absent", "present", Extensions),
    d("/management/health-hold", "property", "absent", "present", Extensions),
    d("/management/health-probe", "property", "absent", "present", Extensions),
    d("/management/start-from", "property", "absent", "present", Extensions),
    d("/management/tls", "property", "absent", "present", Extensions),
    d("/management/tls/cert-file", "property", "absent", "present", Extensions),
    d("/management/tls/key-file", "property", "absent", "present", Extensions),
    d("/management/tls/client-ca-file", "property", "absent", "present", Extensions),
    d("/management/allow-insecure", "property", "absent", "present", Extensions),
    d("/management/tokens", "property", "absent", "present", Extensions),
    d("/management/tokens/[]", "property", "absent", "present", Extensions),
    d("/management/tokens/[]/name", "property", "absent", "present", Extensions),
    d("/management/tokens/[]/scope", "property", "absent", "present", Extensions),
    d("/management/tokens/[]/hash", "property", "absent", "present", Extensions),
    d("/management/unix-socket-group", "property", "absent", "present", Extensions),
    d("/management/metrics-unauthenticated", "property", "absent", "present", Extensions),
    d(
        "/management",
        "default",
        r#"{"unix_socket":"/run/knot-resolver/kres-api.sock","interface":null}"#,
        r#"{"unix-socket":"/run/knot-resolver/kres-api.sock","interface":null,"state-dir":"/var/lib/knot-resolver","history":{"max-count":100,"max-size":"64M"},"health-hold":"3s","health-probe":"localhost.","start-from":"file","tls":null,"allow-insecure":false,"tokens":[],"unix-socket-group":null,"metrics-unauthenticated":false}"#,
        Extensions,
    ),
    d("/monitoring", ADDITIONAL, "-", CLOSED, Closed),
    d("/monitoring/graphite", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/monitoring/graphite/enable",
        "description",
        "-",
        r#""Enable/disable sending metrics to Graphite.""#,
        Descriptions,
    ),
    d(
        "/monitoring/graphite/host",
        "description",
        "-",
        r#""The Graphite server (IP address or domain name).""#,
        Descriptions,
    ),
    d("/monitoring/graphite/host", "pattern", REF_NAME, OUR_NAME, EcmaPattern),
    d("/monitoring/graphite/interval", "description", "-", r#""How often metrics are sent.""#, Descriptions),
    d("/monitoring/graphite/port", "description", "-", r#""The Graphite server port.""#, Descriptions),
    d("/monitoring/graphite/prefix", "description", "-", r#""Prefix of every metric name.""#, Descriptions),
    d("/monitoring/graphite/prefix", "type", "string", "integer, string", NumbersAsText),
    d("/monitoring/graphite/tcp", "description", "-", r#""Use TCP instead of UDP.""#, Descriptions),
    d("/network", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/network",
        KEYS,
        "address_renumbering, cert_file, do_ipv4, do_ipv6, edns_buffer_size, edns_tcp_keepalive, key_file, max_conns, max_streams, out_interface_v4, out_interface_v6, proxy_protocol, require_retry, sticket_secret, sticket_secret_file, tcp_pipeline, unix_socket",
        "address-renumbering, cert-file, do-ipv4, do-ipv6, edns-buffer-size, edns-tcp-keepalive, key-file, max-conns, max-streams, out-interface-v4, out-interface-v6, proxy-protocol, require-retry, sticket-secret, sticket-secret-file, tcp-pipeline, unix-socket",
        DashedDefaults,
    ),
    d("/network/address-renumbering", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/network/address-renumbering/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/network/address-renumbering/[]", "required", "-", "destination, source", Required),
    d("/network/edns-buffer-size", ADDITIONAL, "-", CLOSED, Closed),
    d("/network/listen", KEYS, "unix_socket", "unix-socket", DashedDefaults),
    d("/network/listen", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/network/listen/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/network/listen/[]/interface", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/network/listen/[]/unix-socket", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/network/proxy-protocol", ADDITIONAL, "-", CLOSED, Closed),
    d("/network/proxy-protocol/allow", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/network/quic", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/network/quic",
        KEYS,
        "max_conns, max_streams, require_retry",
        "max-conns, max-streams, require-retry",
        DashedDefaults,
    ),
    d("/network/tls", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/network/tls",
        KEYS,
        "cert_file, key_file, sticket_secret, sticket_secret_file",
        "cert-file, key-file, sticket-secret, sticket-secret-file",
        DashedDefaults,
    ),
    d("/nsid", "type", "null, string", "integer, null, string", NumbersAsText),
    d("/options", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/options",
        KEYS,
        "glue_checking, query_case_randomization, query_loopback, rebinding_protection, refuse_no_rd, reorder_rrset, serve_stale, time_jump_detection, violators_workarounds",
        "glue-checking, query-case-randomization, query-loopback, rebinding-protection, refuse-no-rd, reorder-rrset, serve-stale, time-jump-detection, violators-workarounds",
        DashedDefaults,
    ),
    d("/rate-limiting", ADDITIONAL, "-", CLOSED, Closed),
    d(
        "/rate-limiting",
        KEYS,
        "dry_run, instant_limit, log_period, rate_limit",
        "dry-run, instant-limit, log-period, rate-limit",
        DashedDefaults,
    ),
    d("/version", "maximum", "-", "1", VersionBounds),
    d("/version", "minimum", "-", "1", VersionBounds),
    d("/views", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/views/[]", ADDITIONAL, "-", CLOSED, Closed),
    d("/views/[]", "required", "-", "subnets", Required),
    d("/views/[]/options", ADDITIONAL, "-", CLOSED, Closed),
    d("/views/[]/options", KEYS, "price_factor", "price-factor", DashedDefaults),
    d("/views/[]/protocols", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/views/[]/subnets", MIN_ITEMS, "-", "1", NonEmptyLists),
    d("/views/[]/tags", MIN_ITEMS, "-", "1", NonEmptyLists),
];

/// Every property path of a schema (`/network/listen/[]/interface`; `[]` = list items, `{}` = values of a
/// free-form mapping) with the schema nodes describing it (the node itself and its `anyOf` variants).
fn collect(schema: &Value) -> BTreeMap<String, Vec<&Value>> {
    fn walk<'a>(s: &'a Value, path: &str, out: &mut BTreeMap<String, Vec<&'a Value>>) {
        out.entry(path.to_owned()).or_default().push(s);
        children(s, path, out);
    }
    fn children<'a>(s: &'a Value, path: &str, out: &mut BTreeMap<String, Vec<&'a Value>>) {
        for key in ["anyOf", "oneOf", "allOf"] {
            for variant in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                out.entry(path.to_owned()).or_default().push(variant);
                children(variant, path, out);
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                walk(v, &format!("{path}/{k}"), out);
            }
        }
        if let Some(items) = s.get("items").filter(|i| i.is_object()) {
            walk(items, &format!("{path}/[]"), out);
        }
        if let Some(values) = s.get("additionalProperties").filter(|v| v.is_object()) {
            walk(values, &format!("{path}/{{}}"), out);
        }
    }
    let mut out = BTreeMap::new();
    walk(schema, "", &mut out);
    out
}

/// The compared facets of one path (`anyOf` variants merged).
#[derive(Default)]
struct Facets {
    types: BTreeSet<String>,
    enums: BTreeSet<String>,
    patterns: BTreeSet<String>,
    bounds: BTreeMap<&'static str, BTreeSet<String>>,
    required: BTreeSet<String>,
    key_names: BTreeSet<String>,
    closed: Option<bool>,
    default: Option<Value>,
    description: Option<Value>,
}

const BOUNDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "multipleOf",
];

/// Root keywords compared as they are (the version is in `$id`).
const ROOT_KEYWORDS: &[&str] = &["$schema", "$id", "title"];

fn facets(nodes: &[&Value]) -> Facets {
    let top = |key: &str| nodes.first().and_then(|n| n.get(key)).cloned();
    let mut f = Facets { default: top("default"), description: top("description"), ..Facets::default() };
    for node in nodes {
        match node.get("type") {
            Some(Value::String(t)) => {
                f.types.insert(t.clone());
            }
            Some(Value::Array(ts)) => f.types.extend(ts.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
        for v in node.get("enum").and_then(Value::as_array).into_iter().flatten() {
            f.enums.insert(v.to_string());
        }
        if let Some(v) = node.get("const") {
            f.enums.insert(v.to_string());
        }
        if let Some(p) = node.get("pattern").and_then(Value::as_str) {
            f.patterns.insert(p.to_owned());
        }
        for bound in BOUNDS {
            if let Some(v) = node.get(*bound) {
                // Numerically: `0.0` and `0` are the same bound.
                let text = v.as_f64().map_or_else(|| v.to_string(), |f| f.to_string());
                f.bounds.entry(bound).or_default().insert(text);
            }
        }
        if let Some(names) = node.get("propertyNames") {
            f.key_names.insert(names.to_string());
        }
        for r in node.get("required").and_then(Value::as_array).into_iter().flatten() {
            f.required.extend(r.as_str().map(str::to_owned));
        }
        if let Some(Value::Bool(b)) = node.get("additionalProperties") {
            f.closed = Some(!b);
        }
    }
    f
}

/// One difference found between the two schemas.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    path: String,
    facet: String,
    reference: String,
    ours: String,
}

fn set(s: &BTreeSet<String>) -> String {
    if s.is_empty() { "-".into() } else { s.iter().cloned().collect::<Vec<_>>().join(", ") }
}

/// Object keys with `_` replaced by `-` (the reference serializes nested object defaults with Python names).
fn dashed_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.replace('_', "-"), dashed_keys(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(dashed_keys).collect()),
        other => other.clone(),
    }
}

fn underscore_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k.contains('_') {
                    out.insert(k.clone());
                }
                underscore_keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| underscore_keys(v, out)),
        _ => {}
    }
}

fn show(v: &Option<Value>) -> String {
    v.as_ref().map_or_else(|| "-".into(), Value::to_string)
}

/// Every difference of the compared facets, sorted by path.
fn differences(reference: &Value, ours: &Value) -> Vec<Difference> {
    let theirs = collect(reference);
    let mine = collect(ours);
    let mut out = Vec::new();
    let mut diff = |path: &str, facet: &str, reference: String, ours: String| {
        out.push(Difference { path: path.to_owned(), facet: facet.to_owned(), reference, ours });
    };
    for keyword in ROOT_KEYWORDS {
        let (r, o) = (reference.get(*keyword).cloned(), ours.get(*keyword).cloned());
        if r != o {
            diff("", keyword, show(&r), show(&o));
        }
    }
    for path in theirs.keys().filter(|p| !mine.contains_key(*p)) {
        diff(path, "property", "present".into(), "MISSING".into());
    }
    for path in mine.keys().filter(|p| !theirs.contains_key(*p)) {
        diff(path, "property", "absent".into(), "present".into());
    }
    for (path, nodes) in &theirs {
        let Some(my_nodes) = mine.get(path) else { continue };
        let (r, o) = (facets(nodes), facets(my_nodes));
        if r.types != o.types {
            diff(path, "type", set(&r.types), set(&o.types));
        }
        if r.enums != o.enums {
            diff(path, "enum", set(&r.enums), set(&o.enums));
        }
        if r.patterns != o.patterns {
            diff(path, "pattern", set(&r.patterns), set(&o.patterns));
        }
        for bound in BOUNDS {
            let (rb, ob) =
                (r.bounds.get(bound).cloned().unwrap_or_default(), o.bounds.get(bound).cloned().unwrap_or_default());
            if rb != ob {
                diff(path, bound, set(&rb), set(&ob));
            }
        }
        if r.required != o.required {
            diff(path, "required", set(&r.required), set(&o.required));
        }
        if r.key_names != o.key_names {
            diff(path, "propertyNames", set(&r.key_names), set(&o.key_names));
        }
        if r.closed != o.closed {
            let show = |c: Option<bool>| match c {
                Some(true) => CLOSED.to_owned(),
                Some(false) => "true".to_owned(),
                None => "-".to_owned(),
            };
            diff(path, ADDITIONAL, show(r.closed), show(o.closed));
        }
        if r.description != o.description {
            diff(path, "description", show(&r.description), show(&o.description));
        }
        if r.default != o.default {
            if r.default.as_ref().map(dashed_keys) == o.default {
                // The same value with Python attribute names as keys: list the keys instead of the values.
                let mut keys = BTreeSet::new();
                underscore_keys(r.default.as_ref().unwrap_or(&Value::Null), &mut keys);
                let dashed: BTreeSet<String> = keys.iter().map(|k| k.replace('_', "-")).collect();
                diff(path, KEYS, set(&keys), set(&dashed));
            } else {
                diff(path, "default", show(&r.default), show(&o.default));
            }
        }
    }
    out.sort();
    out
}

fn shown_path(path: &str) -> &str {
    if path.is_empty() { "(root)" } else { path }
}

/// The schema printed by the installed reference `kresctl schema`.
fn reference_schema() -> Value {
    let out = Command::new(REFERENCE_KRESCTL)
        .arg("schema")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {REFERENCE_KRESCTL} schema: {e}"));
    assert!(out.status.success(), "{REFERENCE_KRESCTL} schema failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the reference schema is JSON")
}

/// Keywords only our schema has, documented in `docs/schema.md` ("x-kres-apply"): the apply impact of every property.
/// They are removed before the comparison (they would otherwise be a difference on every property).
const OUR_KEYWORDS: &[&str] = &["x-kres-apply"];

fn strip_our_keywords(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for keyword in OUR_KEYWORDS {
                map.remove(*keyword);
            }
            map.values_mut().for_each(strip_our_keywords);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_our_keywords),
        _ => {}
    }
}

/// Every difference between the installed reference's schema and ours is an intended one, and every intended
/// difference still exists.
#[test]
fn schema_matches_installed_reference() {
    kres_test_support::require_sid_root();
    let reference = reference_schema();
    let mut ours: Value = serde_json::from_str(&kresctl(["schema"]).success().stdout).expect("our schema is JSON");
    strip_our_keywords(&mut ours);
    // The walk must see the whole tree (guards against a walker, or a schema, that yields nothing).
    let paths = collect(&reference).len();
    assert!(paths > 150, "only {paths} property paths found in the reference schema");

    let found = differences(&reference, &ours);
    let is_listed = |f: &Difference| {
        INTENDED
            .iter()
            .any(|i| i.path == f.path && i.facet == f.facet && i.reference == f.reference && i.ours == f.ours)
    };
    let unexpected: Vec<&Difference> = found.iter().filter(|f| !is_listed(f)).collect();
    let stale: Vec<&Intended> = INTENDED
        .iter()
        .filter(|i| {
            !found
                .iter()
                .any(|f| i.path == f.path && i.facet == f.facet && i.reference == f.reference && i.ours == f.ours)
        })
        .collect();
    let mut report = String::new();
    for f in &unexpected {
        report.push_str(&format!(
            "\n  {}: {} differs: reference {}, ours {}\n    (if intended, list it: d({:?}, {:?}, {:?}, {:?}, <Why>),)",
            shown_path(&f.path),
            f.facet,
            f.reference,
            f.ours,
            f.path,
            f.facet,
            f.reference,
            f.ours
        ));
    }
    for i in &stale {
        report.push_str(&format!(
            "\n  {}: {} no longer differs as listed (reference {}, ours {}): remove it from INTENDED and docs/schema.md",
            shown_path(i.path),
            i.facet,
            i.reference,
            i.ours
        ));
    }
    assert!(
        report.is_empty(),
        "our schema and {REFERENCE_KRESCTL} schema differ other than listed ({} unexpected, {} stale):{report}",
        unexpected.len(),
        stale.len()
    );
}

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.md")
}

const BEGIN: &str = "<!-- BEGIN: the intended differences, as listed in crates/kresctl/tests/cli/schema/reference.rs \
                     (KRES_UPDATE_SCHEMA_DOC=1 cargo xtask test -p kresctl -E 'test(schema_doc)') -->";
const END: &str = "<!-- END: the intended differences -->";

fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text == "-" { text } else { format!("`{text}`") }
}

/// The list as a Markdown table.
fn intended_table() -> String {
    let mut out = String::from("| path | facet | reference | ours | why |\n|---|---|---|---|---|\n");
    for i in INTENDED {
        let path = if i.path.is_empty() { "(root)".to_owned() } else { format!("`{}`", i.path) };
        out.push_str(&format!(
            "| {path} | {} | {} | {} | {} |\n",
            i.facet,
            cell(i.reference),
            cell(i.ours),
            i.why.item()
        ));
    }
    out.push_str(&format!("\n{} differences.\n", INTENDED.len()));
    out
}

/// `docs/schema.md` shows exactly [`INTENDED`]. Rewrite its list with `KRES_UPDATE_SCHEMA_DOC=1`.
#[test]
fn schema_doc_lists_the_intended_differences() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} has no list section (markers {BEGIN} ... {END})", path.display());
    };
    let current = &doc[start + BEGIN.len()..end];
    let wanted = format!("\n{}", intended_table());
    if current == wanted {
        return;
    }
    if std::env::var_os("KRES_UPDATE_SCHEMA_DOC").is_some() {
        let updated = format!("{}{BEGIN}{wanted}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("updated {}", path.display());
        return;
    }
    let old: BTreeSet<&str> = current.lines().collect();
    let new: BTreeSet<&str> = wanted.lines().collect();
    let gone: Vec<&str> = old.difference(&new).copied().collect();
    let added: Vec<&str> = new.difference(&old).copied().collect();
    panic!(
        "the list of intended schema differences in {} is not the one in the test.\nonly in the doc:\n  {}\n\
         only in the test:\n  {}\nExplain new differences in the text of docs/schema.md and rewrite the list with\n  \
         KRES_UPDATE_SCHEMA_DOC=1 cargo xtask test -p kresctl -E 'test(schema_doc)'",
        path.display(),
        gone.join("\n  "),
        added.join("\n  ")
    );
}
