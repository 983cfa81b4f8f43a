//! YAML output (kresctl's `migrate`, `config get`, `cache clear`, and the unified diffs of [`crate::diff`]):
//! serde-saphyr's serializer with two options.
//!
//! What the output must be, checked by the tests below and by the CLI round trips (`migrate`, `config get`):
//! every value reads back unchanged with a YAML 1.1 reader (PyYAML in the reference, our `kres_datamodel` parser)
//! and a YAML 1.2 one; keys keep document order (serde_json's `preserve_order`); block style with two-space
//! indentation and sequences under a key not indented, as PyYAML writes them; multi-line text (`lua/script`)
//! as a literal block (`|`, `|-`, `|+`) when it survives one unchanged.
//!
//! serde-saphyr does all of that by default: with `yaml_12: false` (the default) it quotes strings that YAML 1.1
//! would type (`yes`, `on`, `y`, `~`, `0o17`, `1_000`, `12:30`, `2001-12-14`, `<<`, `=`), writes floats in the
//! YAML 1.1 form (`1.0e+20`), escapes what is not printable, and writes keys over 1024 characters or with line
//! breaks as explicit `? key` entries. The options set here:
//! * `folded_wrap_chars: usize::MAX`: a long single-line string stays on one line (plain or quoted) instead of
//!   becoming a folded block (`>`), so a long value can still be found with grep.
//! * the rest are serde-saphyr's defaults, spelled out because the layout is part of what we promise:
//!   `indent_step: 2`, `compact_list_indent: true`, `prefer_block_scalars: true` (literal blocks).
//!
//! This replaced a hand-written emitter (about 250 lines) because serde-saphyr passes every round-trip test
//! below and the property tests (our reader and PyYAML) without wrapper code. The text differs from that
//! emitter's, and from PyYAML's, in quoting only: serde-saphyr follows the YAML 1.1 spec's float pattern, which
//! matches dotted digits, so IPv4 addresses, versions and `.` come out quoted (`- "127.0.0.1"`,
//! `subtree: '.'`) where PyYAML writes them plain; it writes `x#y`, `-x`, `?x` plain where the old emitter quoted
//! them (PyYAML writes them plain too). Both read back as the same strings everywhere.

use serde_json::Value;

/// The YAML text of `value` (ends with a newline).
pub fn to_yaml(value: &Value) -> String {
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: true,
        prefer_block_scalars: true,
        folded_wrap_chars: usize::MAX,
    };
    match serde_saphyr::to_string_with_options(value, options) {
        Ok(text) => text,
        // Nothing a JSON value holds is refused (string keys, finite numbers); should it ever be, JSON is YAML too.
        Err(_) => serde_json::to_string_pretty(value).unwrap_or_default() + "\n",
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::parse_document;
    use serde_json::json;

    use super::*;

    /// Whether `s` is written plain (unquoted, on the line of its key).
    fn plain(s: &str) -> bool {
        to_yaml(&json!({ "k": s })) == format!("k: {s}\n")
    }

    /// Emits `value` under a key, parses it back with the project's YAML 1.1 reader and compares.
    fn round_trip(value: &Value) {
        let doc = json!({ "k": value, "list": [value], "nested": {"deeper": [{"x": value}]} });
        let text = to_yaml(&doc);
        let parsed = parse_document(&text, "emitted")
            .unwrap_or_else(|e| panic!("cannot parse emitted YAML ({e}):\n{text}"))
            .to_json();
        assert_eq!(parsed, doc, "round trip changed the value; emitted:\n{text}");
    }

    #[test]
    fn strings_that_look_like_other_types_are_quoted() {
        for s in [
            "yes",
            "no",
            "on",
            "Off",
            "TRUE",
            "y",
            "N",
            "null",
            "~",
            "",
            "1e5",
            "1E+5",
            "010",
            "0o17",
            "0x1F",
            "0b101",
            "1_000",
            "1:30",
            "190:20:30.15",
            "5.5",
            ".5",
            "-1",
            "+1",
            "6.5",
            ".inf",
            "-.Inf",
            ".nan",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "<<",
            "=",
            "12e3",
        ] {
            assert!(!plain(s), "{s:?} must be quoted");
            round_trip(&json!(s));
        }
    }

    #[test]
    fn strings_with_indicators_are_quoted() {
        for s in [
            "a: b",
            "a #b",
            "#x",
            "- a",
            "-",
            "? x",
            "?",
            ":x",
            "x:",
            "[a]",
            "{a}",
            ",",
            "*alias",
            "&anchor",
            "!tag",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%x",
            "@x",
            "`x",
            "::1",
            " lead",
            "trail ",
            "...",
            "---",
            "tab\there",
        ] {
            assert!(!plain(s), "{s:?} must be quoted");
            round_trip(&json!(s));
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for s in [
            "127.0.0.1@53",
            "2001:db8::1",
            "10.0.0.0/8",
            "10s",
            "100M",
            "/etc/knot-resolver/config.yaml",
            "dnstap.sock",
            "a,b",
            "a[0]",
            "x-y",
            "notice",
            "example.com.",
            "čeština",
            "a:b",
            "x?",
            "x!",
        ] {
            assert!(plain(s), "{s:?} should be plain");
            round_trip(&json!(s));
        }
        assert_eq!(to_yaml(&json!({"listen": "127.0.0.1@53"})), "listen: 127.0.0.1@53\n");
        // A long value stays on one line (no folded `>` block), whatever its spaces.
        let long = "policy.add(policy.suffix(policy.DENY, {todname('example.com.')})) -- ".repeat(4);
        let long = long.trim_end();
        assert_eq!(to_yaml(&json!({ "k": long })), format!("k: {long}\n"));
        // Either way is right for these (every reader takes them for strings): `#` only starts a comment after a
        // space; `...x` is no document end marker; YAML 1.1's float pattern (`[0-9.]*` after the dot) matches
        // `1.2.3`, `127.0.0.1` and `.`, PyYAML's does not. serde-saphyr quotes the dotted ones.
        for s in ["x#y", "...x", "1.2.3", "127.0.0.1", "6.0.17", "."] {
            round_trip(&json!(s));
        }
    }

    #[test]
    fn control_and_special_characters_are_escaped() {
        for s in [
            "a\u{0}b",
            "bell\u{7}",
            "del\u{7F}",
            "c1\u{85}\u{9F}",
            "ls\u{2028}ps\u{2029}",
            "bom\u{FEFF}",
            "back\\slash",
            "quote\"d",
            "cr\rlf",
            "emoji \u{1F600}",
            "nbsp\u{A0}",
        ] {
            round_trip(&json!(s));
        }
        assert_eq!(to_yaml(&json!("a\u{7}\u{2028}\"\\")), "\"a\\a\\L\\\"\\\\\"\n");
    }

    #[test]
    fn multi_line_strings() {
        for s in [
            "line1\nline2\n",
            "line1\nline2",
            "line1\nline2\n\n\n",
            "a\n\n  indented\n\tb\n",
            "-- lua\nlocal x = 'y' # not a comment\n",
            " leading\nspace\n",
            "trailing \nspace\n",
            "\nstarts with newline",
            "cr\r\nlf\n",
        ] {
            round_trip(&json!(s));
        }
        assert_eq!(to_yaml(&json!({"lua": {"script": "a\nb\n"}})), "lua:\n  script: |\n    a\n    b\n");
        assert_eq!(to_yaml(&json!(["a\nb"])), "- |-\n  a\n  b\n");
    }

    #[test]
    fn numbers_bools_nulls() {
        for v in
            [json!(0), json!(-7), json!(i64::MAX), json!(1.0), json!(0.5), json!(-2.25), json!(1e20), json!(1.5e-7)]
        {
            round_trip(&v);
        }
        // Floats in the YAML 1.1 form: a dot in the mantissa, a signed exponent.
        assert_eq!(to_yaml(&json!([1e20, 1.5e-7, 3.0])), "- 1.0e+20\n- 1.5e-7\n- 3.0\n");
        round_trip(&json!(true));
        round_trip(&json!(false));
        round_trip(&json!(null));
    }

    #[test]
    fn collections() {
        let doc = json!({
            "empty-map": {},
            "empty-list": [],
            "list": [1, "two", {"three": 3, "four": [4, [5, 6], {}]}, [], [[7]]],
            "map": {"a": {"b": {"c": [{"d": null}]}}},
            "yes": "key that is a boolean word",
            "1": "numeric key",
        });
        round_trip(&doc);
        let text = to_yaml(&json!({"network": {"listen": [{"interface": "lo", "port": 53}, {"interface": "eth0"}]}}));
        assert_eq!(text, "network:\n  listen:\n  - interface: lo\n    port: 53\n  - interface: eth0\n");
        assert_eq!(to_yaml(&json!([[1, 2], [3]])), "- - 1\n  - 2\n- - 3\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!("yes")), "\"yes\"\n");
    }

    #[test]
    fn long_and_odd_keys() {
        let long = "k".repeat(2000);
        round_trip(&json!({ long: 1, "multi\nline key": 2, "": 3, "a: b": 4 }));
        // Document markers at the start of a line, as keys and as a whole document.
        for s in ["...", "---", "... x", "--- x", "...x", "---x", "%YAML 1.1"] {
            round_trip(&json!({ s: s }));
            let parsed = parse_document(&to_yaml(&json!(s)), "emitted").unwrap().to_json();
            assert_eq!(parsed, json!(s));
        }
    }

    /// Every string over a small alphabet of troublesome characters, up to length 3.
    #[test]
    fn exhaustive_short_strings() {
        let alphabet = [
            'a', '0', '1', '.', '-', '+', ':', '#', ' ', '\n', 'e', 'x', '_', '\'', '"', '\\', '?', '!', '&', '*', '[',
            '{', ',', '|', '>', '%', '@', '`', '~', 'y', '<', '=', '\t',
        ];
        let mut strings = vec![String::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for s in strings.iter().filter(|s| s.chars().count() == len - 1) {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            strings.extend(next);
        }
        // Not "<<" as a key: the project's reader takes even a quoted "<<" key for a YAML merge key.
        // Keys up to length 2 (a mapping of every string would take the reader quadratic time).
        let map: serde_json::Map<String, Value> =
            strings.iter().filter(|s| *s != "<<" && s.chars().count() <= 2).map(|s| (s.clone(), json!(s))).collect();
        let doc = Value::Object(map);
        let text = to_yaml(&doc);
        let parsed = parse_document(&text, "emitted").unwrap_or_else(|e| panic!("{e}")).to_json();
        assert_eq!(parsed, doc);
        let list = Value::Array(strings.iter().map(|s| json!(s)).collect());
        let parsed = parse_document(&to_yaml(&json!({ "l": list })), "emitted").unwrap().to_json();
        assert_eq!(parsed["l"], list);
    }

    /// Property test: arbitrary JSON documents, rich in strings that YAML could read as something else, come
    /// back unchanged through our YAML 1.1 reader. `PROPTEST_CASES` (default 256) cases.
    mod properties {
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        use super::*;

        fn config() -> Config {
            let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
            Config { cases, failure_persistence: None, ..Config::default() }
        }

        /// Strings built from YAML's indicators, type-looking words and numbers, line breaks and control
        /// characters; and fully arbitrary Unicode.
        pub(super) fn yaml_string() -> impl Strategy<Value = String> {
            // Words that YAML 1.1 or 1.2 types, indicators, numbers' pieces (split at spaces).
            const WORDS: &str = "yes No ON off y n true False null Null ~ << = .inf -.Inf .nan 0x1F 0o17 0b101 \
                                 1_000 12:30 190:20:30.15 2001-12-14 1e5 1.0e+5 010 ... --- & * ! | > % @ ` ' \" \\ \
                                 [ ] { } , # : - + _ . 0 1 e x a é lua 127.0.0.1@53";
            // Line breaks, controls and non-ASCII, one character each.
            const CHARS: &str = "\t\n\r\u{0}\u{7}\u{1b}\u{7f}\u{85}\u{a0}\u{2028}\u{2029}\u{feff}\u{1F600}";
            let spaced = ["- ", "? ", ": ", " #", " ", "  ", "\r\n"];
            let pieces: Vec<String> = WORDS
                .split_whitespace()
                .chain(spaced)
                .map(String::from)
                .chain(CHARS.chars().map(String::from))
                .collect();
            let words = prop::sample::select(pieces);
            prop_oneof![
                2 => words.clone(),
                3 => prop::collection::vec(words, 0..6).prop_map(|parts| parts.concat()),
                1 => any::<String>(),
                1 => any::<i64>().prop_map(|n| n.to_string()),
                1 => any::<f64>().prop_map(|f| f.to_string()),
            ]
        }

        pub(super) fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                // Only i64: our reader makes a float of an integer above i64::MAX (no schema field holds one).
                any::<i64>().prop_map(Value::from),
                (prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO).prop_map(Value::from),
                yaml_string().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    // Not `<<` as a key: the project's reader takes even a quoted "<<" key for a merge key.
                    prop::collection::vec((yaml_string().prop_filter("merge key", |k| k != "<<"), inner), 0..6)
                        .prop_map(|entries| Value::Object(entries.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn emitted_yaml_reads_back_unchanged(value in json_value()) {
                // Under a key and in a list: our reader makes an empty configuration of a `null` document.
                let value = json!({ "v": value, "l": [value] });
                let text = to_yaml(&value);
                let parsed = parse_document(&text, "emitted")
                    .map_err(|e| TestCaseError::fail(format!("cannot parse emitted YAML ({e}):\n{text}")))?
                    .to_json();
                prop_assert_eq!(parsed, value, "emitted:\n{}", text);
            }
        }
    }
    /// What PyYAML (the reference's reader, in the sid root) makes of each text, as JSON.
    fn pyyaml_load(texts: &[String]) -> Vec<Value> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};

        kres_test_support::require_sid_root();
        let script = "import json, sys, yaml\n\
                      print(json.dumps([yaml.safe_load(t) for t in json.load(sys.stdin)]))";
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run /usr/bin/python3 (python3-yaml in the sid root)");
        let input = serde_json::to_vec(texts).expect("JSON list of texts");
        child.stdin.take().expect("stdin").write_all(&input).expect("write to python3");
        let out = child.wait_with_output().expect("python3 output");
        assert!(out.status.success(), "PyYAML rejected a text:\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("python3 prints JSON")
    }

    /// The reference's reader reads our output back unchanged too: the short strings of
    /// `exhaustive_short_strings` and arbitrary documents.
    #[test]
    fn pyyaml_reads_emitted_yaml_back_unchanged() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;

        let alphabet =
            ['a', '0', '.', '-', '+', ':', '#', ' ', '\n', 'e', '_', '\'', '"', '\\', '?', '&', '[', '|', '~', 'y'];
        let mut values: Vec<Value> = vec![json!("")];
        for a in alphabet {
            values.push(json!(a.to_string()));
            for b in alphabet {
                values.push(json!(format!("{a}{b}")));
            }
        }
        let mut runner = TestRunner::deterministic();
        let strategy = properties::json_value();
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
        for _ in 0..cases {
            values.push(strategy.new_tree(&mut runner).expect("a value").current());
        }
        let docs: Vec<Value> = values.into_iter().map(|v| json!({ "v": v, "l": [v] })).collect();
        let texts: Vec<String> = docs.iter().map(to_yaml).collect();
        for ((doc, text), read) in docs.iter().zip(&texts).zip(pyyaml_load(&texts)) {
            assert_eq!(&read, doc, "PyYAML read this differently:\n{text}");
        }
    }
}
