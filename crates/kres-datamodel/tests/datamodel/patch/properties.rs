//! Property tests (proptest): the parsers never panic on arbitrary or mutated input, and JSON Pointer / JSON Patch
//! obey the RFC 6901/6902 laws on arbitrary documents.
//!
//! Case counts are bounded for CI: 256 per property unless `PROPTEST_CASES` says otherwise (bench/fuzz.sh runs
//! them with a large count). A hang is caught by nextest's timeout.

use std::path::PathBuf;

use kres_datamodel::json_patch::{apply_patch, json_equal, parse_json_strict};
use kres_datamodel::json_pointer::JsonPointer;
use kres_datamodel::parse::{parse_document, parse_yaml};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

use crate::data::{examples_dir, feature_dir};

/// `PROPTEST_CASES` (default 256) cases, no persistence files in the source tree.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    Config { cases, failure_persistence: None, max_global_rejects: cases.max(1024), ..Config::default() }
}

/// Arbitrary JSON documents (a few levels, a few dozen values).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[a-z~/0-9 ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z~/]{0,4}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every location in `doc` (the root included).
fn locations(doc: &Value, at: JsonPointer, out: &mut Vec<JsonPointer>) {
    match doc {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                locations(item, at.child(i.to_string()), out);
            }
        }
        Value::Object(members) => {
            for (k, v) in members {
                locations(v, at.child(k.clone()), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn all_locations(doc: &Value) -> Vec<JsonPointer> {
    let mut out = Vec::new();
    locations(doc, JsonPointer::root(), &mut out);
    out
}

fn op(name: &str, path: &JsonPointer, value: Option<&Value>, from: Option<&JsonPointer>) -> Value {
    let mut o = json!({"op": name, "path": path.to_string()});
    if let Some(v) = value {
        o["value"] = v.clone();
    }
    if let Some(f) = from {
        o["from"] = Value::String(f.to_string());
    }
    o
}

/// The files every mutation starts from: the example configurations and the feature configs of the Lua tests.
fn corpus() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in [examples_dir(), feature_dir()] {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "json") {
                let text = std::fs::read_to_string(&path).expect("a readable corpus file");
                files.push((path, text));
            }
        }
    }
    files.sort();
    assert!(files.len() > 10, "the corpus is too small: {}", files.len());
    files
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// Copy a slice to another place (repeats structure: anchors, brackets, indentation).
    Splice(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(
        b"[]{}:-,&*!|>'\"#%@`<=~\\\n\t \r\x00\xff"
            .iter()
            .map(|b| vec![*b])
            .chain([b"<<".to_vec(), b"&a".to_vec(), b"*a".to_vec(), b"- ".to_vec(), b"\n  ".to_vec(), b": ".to_vec()])
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), interesting).prop_map(|(p, s)| Mutation::Insert(p, s)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), 1usize..256, any::<usize>()).prop_map(|(p, n, to)| Mutation::Splice(p, n, to)),
    ]
}

/// Applies `mutations` to `text` (positions are taken modulo the current length).
fn mutate(text: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(p, b) if !bytes.is_empty() => bytes[p % len] = *b,
            Mutation::Flip(..) => {}
            Mutation::Insert(p, s) => {
                let at = p % (bytes.len() + 1);
                bytes.splice(at..at, s.iter().copied());
            }
            Mutation::Delete(p, n) => {
                let at = p % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Splice(p, n, to) => {
                let at = p % len;
                let end = (at + n).min(bytes.len());
                let piece: Vec<u8> = bytes.get(at..end).map(<[u8]>::to_vec).unwrap_or_default();
                let to = to % (bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

/// Every parser on one input: none may panic; a result is either a document or an error.
fn parse_everything(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(node) = parse_document(&text, "fuzz") {
        // Whatever parsed converts to JSON and back.
        let _ = kres_datamodel::node::Node::from_json(&node.to_json());
    }
    let _ = parse_yaml(&text, "fuzz");
    let _ = parse_json_strict(&text);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_yaml_like_text(text in "([-:{}\\[\\],&*!|>'\"#%@ \n\ta-c0-9<.~]|<<|&a|\\*a|\n  ){0,200}") {
        parse_everything(text.as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_mutated_configs(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let corpus = corpus();
        let (_, text) = &corpus[file.index(corpus.len())];
        parse_everything(&mutate(text.as_bytes(), &mutations));
        // The JSON form of the same document, mutated.
        if let Ok(node) = parse_document(text, "corpus") {
            let json = serde_json::to_string(&node.to_json()).expect("JSON text");
            parse_everything(&mutate(json.as_bytes(), &mutations));
        }
    }

    #[test]
    fn json_text_reads_back_as_the_same_document(inner in json_value()) {
        // A document is a mapping or a list (a bare `null` is read as an empty configuration).
        let doc = json!({"d": inner});
        let text = serde_json::to_string(&doc).expect("JSON text");
        let node = parse_document(&text, "t").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(json_equal(&node.to_json(), &doc), "{} != {}", node.to_json(), doc);
        prop_assert!(json_equal(&parse_json_strict(&text).map_err(TestCaseError::fail)?, &doc));
    }

    #[test]
    fn pointer_escape_round_trips(tokens in prop::collection::vec("([~/a-z0-9]|~0|~1|/)*", 0..6)) {
        let pointer = JsonPointer::from_tokens(tokens.clone());
        let text = pointer.to_string();
        let parsed = JsonPointer::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.tokens(), &tokens[..]);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn pointer_parse_then_print_is_the_identity(text in "(/([a-z~/]|~0|~1)*){0,5}") {
        if let Ok(pointer) = JsonPointer::parse(&text) {
            prop_assert_eq!(pointer.to_string(), text);
        }
    }

    #[test]
    fn every_location_resolves_to_its_value(doc in json_value()) {
        for location in all_locations(&doc) {
            let by_walk = location.get(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let by_serde = doc.pointer(&location.to_string()).expect("serde_json finds it");
            prop_assert_eq!(by_walk, by_serde);
        }
    }

    #[test]
    fn add_then_remove_is_the_identity(
        doc in json_value(),
        pick in any::<prop::sample::Index>(),
        key in "[a-z~/]{0,5}",
        slot in any::<prop::sample::Index>(),
        value in json_value(),
    ) {
        let containers: Vec<JsonPointer> =
            all_locations(&doc).into_iter().filter(|p| p.get(&doc).is_ok_and(|v| v.is_array() || v.is_object())).collect();
        prop_assume!(!containers.is_empty());
        let parent = &containers[pick.index(containers.len())];
        let target = match parent.get(&doc).expect("exists") {
            Value::Array(items) => parent.child(slot.index(items.len() + 1).to_string()),
            Value::Object(members) => {
                prop_assume!(!members.contains_key(&key));
                parent.child(key)
            }
            _ => unreachable!(),
        };
        let patch = json!([op("add", &target, Some(&value), None), op("remove", &target, None, None)]);
        let out = apply_patch(&doc, &patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(json_equal(&out, &doc), "{patch}: {out} != {doc}");
        // Appending with '-' then removing the last item, likewise.
        if let Value::Array(items) = parent.get(&doc).expect("exists") {
            let patch = json!([
                op("add", &parent.child("-"), Some(&value), None),
                op("remove", &parent.child(items.len().to_string()), None, None),
            ]);
            let out = apply_patch(&doc, &patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(json_equal(&out, &doc));
        }
    }

    #[test]
    fn test_after_replace_succeeds(doc in json_value(), pick in any::<prop::sample::Index>(), value in json_value()) {
        let locations = all_locations(&doc);
        let target = &locations[pick.index(locations.len())];
        let patch = json!([op("replace", target, Some(&value), None), op("test", target, Some(&value), None)]);
        let out = apply_patch(&doc, &patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(json_equal(target.get(&out).expect("replaced"), &value));
        // And testing for the old value fails unless it was equal.
        let old = target.get(&doc).expect("exists").clone();
        let stale = json!([op("replace", target, Some(&value), None), op("test", target, Some(&old), None)]);
        prop_assert_eq!(apply_patch(&doc, &stale).is_ok(), json_equal(&old, &value));
    }

    #[test]
    fn copy_then_test_and_move_is_copy_then_remove(
        // Inside a mapping, so there is always an object to copy into.
        doc in json_value().prop_map(|v| json!({"r": v})),
        from_pick in any::<prop::sample::Index>(),
        to_pick in any::<prop::sample::Index>(),
        key in "[a-z]{1,4}",
    ) {
        let locations = all_locations(&doc);
        let from = &locations[from_pick.index(locations.len())];
        let objects: Vec<&JsonPointer> =
            locations.iter().filter(|p| p.get(&doc).is_ok_and(Value::is_object)).collect();
        prop_assume!(!objects.is_empty());
        let to = objects[to_pick.index(objects.len())].child(format!("new-{key}"));
        prop_assume!(to.get(&doc).is_err());
        let value = from.get(&doc).expect("exists").clone();
        let copy = json!([op("copy", &to, None, Some(from)), op("test", &to, Some(&value), None)]);
        prop_assert!(apply_patch(&doc, &copy).is_ok(), "{copy}");
        // move = remove the source, then add its value at the target (RFC 6902 4.4); when removing the source
        // shifts nothing (it is an object member), that is also copy + remove.
        let moved = apply_patch(&doc, &json!([op("move", &to, None, Some(from))]));
        if from.is_root() || to.starts_with(from) {
            prop_assert!(moved.is_err(), "moving {from} into itself ({to}) must fail");
        } else {
            let remove_add = apply_patch(&doc, &json!([op("remove", from, None, None), op("add", &to, Some(&value), None)]));
            match (&moved, &remove_add) {
                (Ok(a), Ok(b)) => prop_assert!(json_equal(a, b), "{a} != {b}"),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "move {from} → {to}: {moved:?} but remove+add: {remove_add:?}"),
            }
            let (parent, _) = from.split_last().expect("not the root");
            if parent.get(&doc).is_ok_and(Value::is_object) {
                let copied_removed = apply_patch(&doc, &json!([op("copy", &to, None, Some(from)), op("remove", from, None, None)]))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let moved = moved.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(json_equal(&moved, &copied_removed), "{moved} != {copied_removed}");
            }
        }
    }
}
