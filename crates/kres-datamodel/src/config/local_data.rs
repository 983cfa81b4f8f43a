//! `/local-data`: local names and addresses, zone-file records, rules and response policy zones (RPZ).

use super::network::AutoBool;
use crate::model::{Ctx, KeyedMap, ListOrItem, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::{EscapedStr, IdPattern, IpAddress, ReadableFile, TimeUnit, WildcardName};
use crate::{config_object, string_enum};

string_enum! {
    /// What a rule does with a whole subtree.
    pub enum RuleSubtree { "empty" => Empty, "nxdomain" => Nxdomain, "redirect" => Redirect }
}

config_object! {
    /// Local data advanced rule configuration.
    pub struct RuleSchema {
        /// Hostname(s).
        "name" name: Option<ListOrItem<WildcardName>>,
        /// Type of subtree.
        "subtree" subtree: Option<RuleSubtree>,
        /// Address(es) to pair with hostname(s).
        "address" address: Option<ListOrItem<IpAddress>>,
        /// Path to file(s) with hostname and IP address(es) pairs in '/etc/hosts' like format.
        "file" file: Option<ListOrItem<ReadableFile>>,
        /// Direct addition of records in DNS zone file format.
        "records" records: Option<EscapedStr>,
        /// Tags to link with other policy rules.
        "tags" tags: Option<Vec<IdPattern>>,
        /// Optional, TTL value used for these answers.
        "ttl" ttl: Option<TimeUnit>,
        /// Optional, use NODATA synthesis. NODATA will be synthesized for matching name, but mismatching type(e.g.
        /// AAAA query when only A exists).
        "nodata" nodata: Option<bool>,
    }
}

/// Quotes and joins key names for messages: `'a', 'b' and 'c'`.
fn key_list(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

impl ObjectHook for RuleSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        // What the rule answers with: exactly one of address/subtree/file/records, except that an address may
        // go with an `empty` or `redirect` subtree.
        let actions: Vec<&str> = [
            ("address", self.address.is_some()),
            ("subtree", self.subtree.is_some()),
            ("file", self.file.is_some()),
            ("records", self.records.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let address_with_subtree = actions == ["address", "subtree"]
            && matches!(self.subtree, Some(RuleSubtree::Empty | RuleSubtree::Redirect));
        let mut ok = true;
        if actions.is_empty() {
            cx.error(path, Some(node), "one of 'address', 'subtree', 'file' or 'records' must be configured");
            ok = false;
        } else if actions.len() > 1 && !address_with_subtree {
            let hint = match self.subtree {
                Some(s @ RuleSubtree::Nxdomain) if self.address.is_some() => {
                    format!(" ('address' can be combined only with 'subtree: empty' or 'subtree: redirect', not '{s}')")
                }
                _ => String::new(),
            };
            cx.error(
                path,
                Some(node),
                format!(
                    "only one of 'address', 'subtree', 'file' or 'records' can be configured, found {}{hint}",
                    key_list(&actions)
                ),
            );
            ok = false;
        }
        // What the rule applies to: names, or the names in the file/records.
        if ok {
            let sources: Vec<&str> =
                [("name", self.name.is_some()), ("file", self.file.is_some()), ("records", self.records.is_some())]
                    .into_iter()
                    .filter_map(|(k, set)| set.then_some(k))
                    .collect();
            if sources.is_empty() {
                cx.error(path, Some(node), "one of 'name', 'file' or 'records' must be configured");
            } else if sources.len() > 1 {
                cx.error(
                    path,
                    Some(node),
                    format!(
                        "only one of 'name', 'file' or 'records' can be configured, found {} ('file' and 'records' contain their own names)",
                        key_list(&sources)
                    ),
                );
            }
        }
        if self.nodata == Some(true) && self.subtree.is_some() && self.address.is_none() {
            cx.error(
                path,
                Some(node),
                "'nodata' has no effect with 'subtree' unless 'address' is configured too; remove 'nodata'",
            );
        }
    }
}

impl RuleSchema {
    /// The rule's tags (empty when it has none, i.e. it applies to all clients).
    pub fn tag_list(&self) -> &[IdPattern] {
        self.tags.as_deref().unwrap_or(&[])
    }
}

string_enum! {
    /// What to log when an RPZ matches.
    pub enum RpzLog { "ip" => Ip, "name" => Name }
}

config_object! {
    /// Configuration or Response Policy Zone (RPZ).
    pub struct RpzSchema {
        /// Path to the RPZ zone file.
        "file" file: ReadableFile,
        /// Enables files watchdog for configured RPZ file. Requires the optional 'watchdog' dependency.
        "watchdog" watchdog: AutoBool = AutoBool::Auto,
        /// Tags to link with other policy rules.
        "tags" tags: Option<Vec<IdPattern>>,
        /// Enables logging information whenever this RPZ matches.
        "log" log: Option<Vec<RpzLog>>,
    }
}

impl ObjectHook for RpzSchema {
    fn finish(&mut self, _cx: &mut Ctx, _path: &Path, _node: &Node) {
        self.watchdog.resolve();
    }
}

impl RpzSchema {
    /// The zone's tags (empty when it has none, i.e. it applies to all clients).
    pub fn tag_list(&self) -> &[IdPattern] {
        self.tags.as_deref().unwrap_or(&[])
    }
}

config_object! {
    /// Local data for forward records (A/AAAA) and reverse records (PTR).
    pub struct LocalDataSchema {
        /// Default TTL value used for added local data/records.
        "ttl" ttl: Option<TimeUnit>,
        /// Use NODATA synthesis. NODATA will be synthesized for matching name, but mismatching type(e.g. AAAA query
        /// when only A exists).
        "nodata" nodata: bool = true,
        /// Direct addition of hostname and IP addresses pairs.
        "addresses" addresses: Option<KeyedMap<WildcardName, ListOrItem<IpAddress>>>,
        /// Direct addition of hostname and IP addresses pairs from files in '/etc/hosts' like format.
        "addresses-files" addresses_files: Option<Vec<ReadableFile>>,
        /// Direct addition of records in DNS zone file format.
        "records" records: Option<EscapedStr>,
        /// Local data rules.
        "rules" rules: Option<Vec<RuleSchema>>,
        /// List of Response Policy Zones and its configuration.
        "rpz" rpz: Option<Vec<RpzSchema>>,
    }
}
impl ObjectHook for LocalDataSchema {}

impl LocalDataSchema {
    /// The `(name, address)` pairs of `addresses`, in document order.
    pub fn address_pairs(&self) -> Vec<(&WildcardName, &IpAddress)> {
        self.addresses
            .iter()
            .flat_map(|m| m.0.iter())
            .flat_map(|(name, addrs)| addrs.iter().map(move |a| (name, a)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use crate::model::FromNode;
    use crate::model::test_parse as parse;

    fn rule_err(yaml: &str) -> Vec<String> {
        match parse::<RuleSchema>(yaml) {
            Ok(r) => panic!("accepted {yaml:?}: {r:?}"),
            Err(e) => e.into_iter().map(|(p, _)| p).collect(),
        }
    }

    fn rule_ok(yaml: &str) -> RuleSchema {
        parse(yaml).unwrap_or_else(|e| panic!("rejected {yaml:?}: {e:?}"))
    }

    #[test]
    fn valid_rules() {
        rule_ok("{name: [sub2.example.org], subtree: empty, tags: [t01]}");
        rule_ok("{name: [sub3.example.org, sub5.example.net.], subtree: nxdomain, ttl: 1h}");
        rule_ok("{name: [sub5.example.org], address: [127.0.0.1]}");
        rule_ok("{name: [sub6.example.org], subtree: redirect, address: [127.0.0.1]}");
        rule_ok("{records: '', ttl: 20m, nodata: true}");
        rule_ok("{name: [sub7.example.org], subtree: empty, address: 192.0.2.7}");
        rule_ok("{file: /etc/hosts, nodata: false}");
        rule_ok("{file: [/etc/hosts, /etc/hosts2], tags: [a, b]}");
        rule_ok("{name: x.example, subtree: nxdomain, nodata: false}");
        rule_ok("{name: x.example, subtree: empty, address: '::1', nodata: true}");
        let r = rule_ok("{name: a.example, address: ['::1', 127.0.0.1]}");
        assert_eq!(r.address.unwrap().items.len(), 2);
    }

    #[test]
    fn invalid_rules() {
        assert_eq!(rule_err("{subtree: empty}"), [""]);
        assert_eq!(rule_err("{name: [sub4.example.org], address: [127.0.0.1], subtree: nxdomain}"), [""]);
        assert_eq!(rule_err("{name: [sub4.example.org], subtree: redirect, file: /etc/hosts}"), [""]);
        assert_eq!(rule_err("{name: [sub9.example.org], subtree: nxdomain, nodata: true}"), [""]);
        assert_eq!(rule_err("{name: [sub9.example.org], subtree: forward}"), ["/subtree"]);
        assert_eq!(rule_err("{name: [x.example.org], address: [192.0.2.1], ttl: '5'}"), ["/ttl"]);
        assert_eq!(rule_err("{records: 'example.org. 300 A 192.0.2.1', file: /etc/hosts}"), [""]);
        assert_eq!(rule_err("{name: x.example}"), [""]);
        assert_eq!(rule_err("{address: 192.0.2.1}"), [""]);
        assert_eq!(rule_err("{name: x.example, records: 'x'}"), [""]);
        assert_eq!(rule_err("{name: x.example, file: /etc/hosts}"), [""]);
        assert_eq!(rule_err("{name: [], subtree: empty}"), ["/name"]);
        assert_eq!(rule_err("{name: x.example, address: 192.0.2.256}"), ["/address"]);
        assert_eq!(rule_err("{name: x.example, address: 192.0.2.1, tags: []}"), ["/tags"]);
        assert_eq!(rule_err("{name: x.example, address: 192.0.2.1, nodata: 'yes'}"), ["/nodata"]);
        // messages name the offending keys
        let msg = parse::<RuleSchema>("{name: x, address: 192.0.2.1, subtree: nxdomain}").unwrap_err();
        assert!(msg[0].1.contains("'address' and 'subtree'"), "{msg:?}");
        assert!(msg[0].1.contains("'nxdomain'"), "{msg:?}");
    }

    #[test]
    fn local_data_members() {
        let ld: LocalDataSchema = parse("{addresses: {foo.bar: 127.0.0.1, bar.foo: [127.0.0.1, '::1']}}").unwrap();
        let pairs: Vec<(String, String)> =
            ld.address_pairs().iter().map(|(n, a)| (n.to_string(), a.to_string())).collect();
        assert_eq!(
            pairs,
            [
                ("foo.bar".into(), "127.0.0.1".into()),
                ("bar.foo".into(), "127.0.0.1".into()),
                ("bar.foo".into(), "::1".into())
            ]
        );
        assert_eq!(
            serde_json::to_value(&ld).unwrap()["addresses"],
            json!({"foo.bar": "127.0.0.1", "bar.foo": ["127.0.0.1", "::1"]})
        );

        let ld: LocalDataSchema =
            parse("{ttl: 5m, nodata: false, records: \"example.net. TXT \\\"foo bar\\\"\\n\"}").unwrap();
        assert_eq!(ld.ttl.unwrap().seconds(), 300);
        assert!(!ld.nodata);

        let ld: LocalDataSchema = parse("{}").unwrap();
        assert!(ld.nodata);
        assert!(ld.address_pairs().is_empty());

        let ld: LocalDataSchema = parse(
            "{rpz: [{file: /etc/knot-resolver/blocklist.rpz, watchdog: false}, \
             {file: /x.rpz, tags: [t1], log: [ip, name]}]}",
        )
        .unwrap();
        let rpz = ld.rpz.unwrap();
        assert_eq!(rpz[0].watchdog, AutoBool::Bool(false));
        assert_eq!(rpz[1].watchdog, AutoBool::Bool(true));
        assert_eq!(rpz[1].log.as_deref(), Some(&[RpzLog::Ip, RpzLog::Name][..]));

        let err = |y: &str| parse::<LocalDataSchema>(y).unwrap_err().into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        assert_eq!(err("{addresses: {foo.bar: 999.0.0.1}}"), ["/addresses/foo.bar"]);
        assert_eq!(err("{addresses: {'a..b': 127.0.0.1}}"), ["/addresses/a..b"]);
        assert_eq!(err("{nodata: 'no'}"), ["/nodata"]);
        assert_eq!(err("{rpz: [{file: /x, log: [ip, dns]}]}"), ["/rpz/0/log/1"]);
        assert_eq!(err("{rpz: [{watchdog: true}]}"), ["/rpz/0/file"]);
        assert_eq!(err("{rpz: [{file: /x, watchdog: 'auto2'}]}"), ["/rpz/0/watchdog"]);
        assert_eq!(err("{addresses-files: []}"), ["/addresses-files"]);
        assert_eq!(err("{records: true}"), ["/records"]);
    }

    #[test]
    fn schema() {
        let s = LocalDataSchema::schema();
        assert_eq!(s["properties"]["rpz"]["items"]["properties"]["watchdog"]["default"], json!("auto"));
        assert_eq!(s["properties"]["rules"]["items"]["description"], json!("Local data advanced rule configuration."));
        assert_eq!(s["properties"]["nodata"]["default"], json!(true));
    }
}
