//! Differential validation: our `kresctl validate FILE` against the installed reference's (`/usr/bin/kresctl`,
//! Python, knot-resolver6 6.5.0 in the sid root) on documents generated from our JSON Schema (`confgen.rs`).
//!
//! Both must give the same verdict (exit status), and when both reject a document, the places they name must
//! agree: every path the reference reports must be one of ours, or above or below one of ours (the reference
//! stops at the first bad item of a list, skips the unknown-key check of an object with a bad field and skips an
//! object's cross-field checks when a field is bad, so it reports a subset of our errors). For a valid document
//! changed in one place, each of our paths must also match one of the reference's. The reference loses the
//! location inside a "list or item" value and of its cross-field checks of the root (it prints `[/]`); such a path
//! matches anything. Intentional differences are listed in [`KNOWN`], each with its reason (docs/differential.md).
//!
//! The reference runs in one Python process per half of the documents (`DRIVER`: what its `kresctl validate` does,
//! without the start-up cost per file); `reference_driver_agrees_with_reference_cli` checks on a sample that it
//! gives the CLI's exit status and text.
//!
//! `KRES_DIFF_COUNT` (default 300) and `KRES_DIFF_SEED` (default 20250) choose the documents; `bench/differential.sh`
//! runs thousands. Disagreeing documents are written to `target/tmp/differential-<seed>/` with both outputs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kres_test_support::{TempDir, require_sid_root};
use serde_json::Value as Json;

use crate::confgen::{Doc, Generator};
use crate::support::{parse, valid_examples};

const REFERENCE_KRESCTL: &str = "/usr/bin/kresctl";

/// What the reference's `kresctl validate` does with each file named on stdin (one per line): read it, parse
/// it (JSON, else YAML), validate it non-strictly with the file's directory as the resolve root. Prints one JSON
/// line per file: the exit status the CLI would have and its stderr text (`crash`: an uncaught exception, which
/// the CLI reports with a traceback and exit status 1).
const DRIVER: &str = r#"
import json, sys, traceback
from pathlib import Path
from knot_resolver.datamodel import KresConfig
from knot_resolver.datamodel.globals import Context, reset_global_validation_context, set_global_validation_context
from knot_resolver.utils.modeling import try_to_parse
from knot_resolver.utils.modeling.exceptions import DataParsingError, DataValidationError
from knot_resolver.utils.modeling.parsing import data_combine

for line in sys.stdin:
    name = line.rstrip("\n")
    if not name:
        continue
    try:
        data = {}
        with Path(name).open() as f:
            raw = f.read()
        data = data_combine(data, try_to_parse(raw))
        set_global_validation_context(Context(Path(name).parent, False))
        KresConfig(data)
        reset_global_validation_context()
        res = {"code": 0, "stderr": "", "crash": False}
    except (FileNotFoundError, DataParsingError, DataValidationError) as e:
        res = {"code": 1, "stderr": str(e) + "\n", "crash": False}
    except Exception:
        res = {"code": 1, "stderr": traceback.format_exc(), "crash": True}
    print(json.dumps(res), flush=True)
"#;

/// One validator's answer for one document.
#[derive(Debug, Clone)]
struct Verdict {
    code: i32,
    text: String,
    crash: bool,
}

/// One document with both answers.
struct Case<'a> {
    doc: &'a Doc,
    file: PathBuf,
    ours: &'a Verdict,
    reference: &'a Verdict,
}

/// An intentional difference: which disagreements it explains, and why we differ.
struct Known {
    id: &'static str,
    reason: &'static str,
    rule: Rule,
}

enum Rule {
    /// We refuse what the reference accepts: our error lines containing one of these texts. A document is
    /// explained when each of our errors is one (the reference accepting the document, or reporting only
    /// cross-field tag errors, which we skip once a field is wrong).
    OursRefuses(&'static [&'static str]),
    /// Any other disagreement this predicate recognizes.
    Other(fn(&Case, &Problem) -> bool),
}

/// The reference's cross-field tag errors (checks of the whole configuration).
const TAG_CHECKS: &[&str] = &["unused tags", "not found in '/views' tags"];

/// The intentional differences (docs/differential.md explains each). Anything not explained here fails the test.
const KNOWN: &[Known] = &[
    Known {
        id: "version",
        reason: "we accept only `version: 1`; the reference accepts any integer and drops it (docs/schema.md, item 7)",
        rule: Rule::OursRefuses(&["[/version] value "]),
    },
    Known {
        id: "domain-name-characters",
        reason: "the reference's domain-name pattern accepts any character but '.' in a label (spaces, quotes, \
                 '*' in the middle, control characters); we refuse them, they are typos (types/names.rs)",
        rule: Rule::OursRefuses(&["is not a valid domain name: ", "is neither an IP address nor a domain name"]),
    },
    Known {
        id: "control-characters",
        reason: "a control character (tab, line feed, NUL, ...) in a one-line text value (nsid, hostname, paths, \
                 the TLS session ticket secret) is refused; the reference escapes it into the Lua or passes it on",
        rule: Rule::OursRefuses(&[": control character U+"]),
    },
    Known {
        id: "empty-path",
        reason: "an empty file or directory path is refused; the reference resolves `\"\"` to the directory of the \
                 configuration (non-strict validation does not look at it)",
        rule: Rule::OursRefuses(&["the path is empty"]),
    },
    Known {
        id: "unit-overflow",
        reason: "a size or time too large for 64 bits (`99999999999G`, `99999999999d`) is refused; the reference \
                 takes any Python integer and renders it for kresd",
        rule: Rule::OursRefuses(&["is too large"]),
    },
    Known {
        id: "root-not-a-mapping",
        reason: "the reference takes an empty list `[]` as the whole document for an empty configuration; we \
                 require a mapping",
        rule: Rule::OursRefuses(&["the configuration must be a mapping"]),
    },
    Known {
        id: "ipv6-scope",
        reason: "an IPv6 address with a zone index (`fe80::1%eth0`) is refused in addresses and networks; Python's \
                 ipaddress accepts it, kresd's address parsing does not",
        rule: Rule::OursRefuses(&["%lo' is not a valid IP"]),
    },
    Known {
        id: "trailing-line-break",
        reason: "reference quirk: Python's `$` matches before a final line break, so a value ending in one (a YAML \
                 block scalar `>` or `|`) passes its patterns (interface names, tags); we refuse it",
        rule: Rule::OursRefuses(&["\n': ", "\n' is "]),
    },
    Known {
        id: "mapping-as-list",
        reason: "reference quirk: a mapping where a list is expected is read as the list of its keys \
                 (`negative-trust-anchors: {example.com: 1}`); we refuse it",
        rule: Rule::OursRefuses(&[
            "expected a list, got a mapping",
            "expected a single value or a list of values, got a mapping",
        ]),
    },
    Known {
        id: "ttl-precision",
        reason: "reference quirk: it compares `ttl-min` and `ttl-max` in whole seconds, so `ttl-max: 0us` with \
                 `ttl-min: 1ms` passes; we compare the exact durations",
        rule: Rule::OursRefuses(&["'ttl-max' ("]),
    },
    Known {
        id: "integer-as-name",
        reason: "the reference turns an integer into text for every string-based value type, so `interface: 42`, \
                 `subtree: 1` or `tags: [7]` are valid there; we take numbers only in free-text fields \
                 (docs/schema.md, item 5): a number where a name, an address or a tag is expected is a YAML \
                 typing accident (`subtree: 1`), refused with its path rather than turned into a name",
        rule: Rule::OursRefuses(&["expected a string, got integer"]),
    },
    Known {
        id: "reference-crash",
        reason: "the reference raises an uncaught Python exception (its CLI prints a traceback, exit status 1) on a \
                 document that we reject with a validation error",
        rule: Rule::Other(|case, _| case.reference.crash && case.ours.code == 1),
    },
    Known {
        id: "reference-crash-empty-document",
        reason: "the reference crashes (TypeError in data_combine) on a document that is empty or `null`; we read \
                 it as an empty configuration, all defaults",
        rule: Rule::Other(|case, _| case.reference.crash && case.ours.code == 0 && empty_document(case)),
    },
    Known {
        id: "yaml-timestamp",
        reason: "a plain YAML 1.1 timestamp (`2001-01-01`) is text for us; PyYAML makes it a date, which no field \
                 of the reference accepts",
        rule: Rule::Other(|case, _| {
            case.ours.code == 0 && case.doc.ext == "yaml" && case.reference.text.contains("<class 'datetime.")
        }),
    },
    Known {
        id: "duplicate-unused-tag",
        reason: "the reference's bug (what is left of the one 6.5.0 fixed in !1883, 'unused tags error when \
                 repeating a tag in views'): it counts unused view tags with repetitions, so `tags: [t1, t1]` is two \
                 unused tags and refused; we count distinct tags (one, tolerated like any single unused tag)",
        rule: Rule::Other(|case, _| {
            case.ours.code == 0
                && reference_only(case, &["unused tags"])
                && reference_line(case, "/views").is_some_and(|l| {
                    let tags: Vec<&str> = l.split('\'').skip(1).step_by(2).collect();
                    tags.iter().enumerate().any(|(i, t)| tags[..i].contains(t))
                })
        }),
    },
    Known {
        id: "tag-check-paths",
        reason: "reference quirk (reference-manager.md §3.3): a tag of an RPZ item that no view defines is reported \
                 under `/local-data/rules[i]/tags`, with `i` counting only the rules that have tags; we name the \
                 RPZ item or rule",
        rule: Rule::Other(|case, p| {
            let path_ok = match p {
                Problem::MissingPath(path) => path.starts_with("/local-data/rules["),
                Problem::ExtraPath(path) => path.ends_with("/tags"),
                Problem::Verdict => false,
            };
            path_ok
                && reference_only(case, &["not found in '/views' tags"])
                && case.ours.text.contains("are not assigned by any view")
        }),
    },
];

/// Our top-level errors, one string each (a value with a line break continues on the next lines).
fn our_lines(case: &Case) -> Vec<String> {
    let mut errors: Vec<String> = Vec::new();
    for line in case.ours.text.lines() {
        if line.starts_with("\t[") {
            errors.push(line.to_owned());
        } else if let Some(last) = errors.last_mut().filter(|_| !line.starts_with('\t')) {
            last.push('\n');
            last.push_str(line);
        }
    }
    errors
}

/// The `OursRefuses` differences matching an error line.
fn refusals(line: &str) -> Vec<&'static str> {
    KNOWN
        .iter()
        .filter(|k| matches!(k.rule, Rule::OursRefuses(needles) if needles.iter().any(|n| line.contains(n))))
        .map(|k| k.id)
        .collect()
}

/// The intentional differences that explain a problem, or `None`.
fn explain(case: &Case, problem: &Problem) -> Option<Vec<&'static str>> {
    let lines = our_lines(case);
    let refused: Vec<Vec<&'static str>> = lines.iter().map(|l| refusals(l)).collect();
    let by_refusal = match problem {
        // The reference accepts, or reports only cross-field checks we skip: each of our errors is a refusal.
        Problem::Verdict => {
            case.ours.code == 1
                && !case.reference.crash
                && !lines.is_empty()
                && refused.iter().all(|r| !r.is_empty())
                && reference_only(case, TAG_CHECKS)
        }
        // A cross-field error of the reference that we skipped because of a refused field.
        Problem::MissingPath(path) => {
            reference_line(case, path).is_some_and(|l| TAG_CHECKS.iter().any(|n| l.contains(n)))
                && refused.iter().any(|r| !r.is_empty())
        }
        Problem::ExtraPath(path) => {
            let prefix = format!("\t[{path}]");
            lines.iter().any(|l| l.starts_with(&prefix) && !refusals(l).is_empty())
        }
    };
    if by_refusal {
        let mut ids: Vec<&'static str> = refused.into_iter().flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        return Some(ids);
    }
    let ids: Vec<&'static str> =
        KNOWN.iter().filter(|k| matches!(k.rule, Rule::Other(f) if f(case, problem))).map(|k| k.id).collect();
    if ids.is_empty() { None } else { Some(ids) }
}

/// The reference's top-level error line for a path.
fn reference_line<'a>(case: &'a Case, path: &str) -> Option<&'a str> {
    let prefix = format!("\t[{path}]");
    case.reference.text.lines().find(|l| l.starts_with(&prefix))
}

/// True when every top-level error line of the reference contains one of `needles` (true when it has none).
fn reference_only(case: &Case, needles: &[&str]) -> bool {
    case.reference.text.lines().filter(|l| l.starts_with("\t[")).all(|l| needles.iter().any(|n| l.contains(n)))
}

/// True for a document that is empty or just `null`.
fn empty_document(case: &Case) -> bool {
    matches!(case.doc.text.trim(), "" | "null" | "~" | "Null" | "NULL")
}

/// How the two answers disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// Different exit status.
    Verdict,
    /// A path the reference reports that matches none of ours.
    MissingPath(String),
    /// One of our paths that matches none of the reference's (only for one-change documents).
    ExtraPath(String),
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Our schema without the properties the reference does not have (`schema::reference::extension_properties`):
/// documents that use them are refused by the reference as unknown keys, which says nothing about either validator.
fn without_extensions(mut schema: Json) -> Json {
    for path in crate::schema::reference::extension_properties() {
        let tokens: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (last, parents) = tokens.split_last().expect("a property path");
        let properties: String = parents.iter().map(|t| format!("/properties/{t}")).collect::<String>() + "/properties";
        if let Some(properties) = schema.pointer_mut(&properties).and_then(Json::as_object_mut) {
            properties.remove(*last);
        }
    }
    schema
}

/// `count` documents from `seed`: the valid examples, then random documents and one-change mutations of the valid
/// ones (valid by our validator), about half each.
fn generate(count: usize, seed: u64) -> Vec<Doc> {
    let mut generator = Generator::new(without_extensions(kres_datamodel::json_schema()), seed);
    let mut docs = Vec::new();
    let mut bases: Vec<(Json, String)> = Vec::new();
    for file in valid_examples() {
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let json = parse(&std::fs::read_to_string(&file).expect("read example"));
        if docs.len() < count / 10 {
            docs.push(generator.render(&json, format!("example {name}"), false));
        }
        bases.push((json, name));
    }
    let opts = kres_datamodel::ValidationOptions::new(false, "/", kres_datamodel::SystemFacts::from_system());
    let mut random_n = 0;
    while docs.len() < count {
        if generator.rng().chance(45) {
            let json = generator.random_document();
            random_n += 1;
            let node = kres_datamodel::parse::parse_json_value(&json.to_string()).expect("generated JSON parses");
            if kres_datamodel::validate(&node, &opts).is_ok() {
                bases.push((json.clone(), format!("random #{random_n}")));
            }
            docs.push(generator.render(&json, format!("random #{random_n}"), false));
        } else {
            let (base, name) = bases[generator.rng().below(bases.len())].clone();
            let (json, what) = generator.mutate(&base);
            docs.push(generator.render(&json, format!("mutation of {name}: {what}"), true));
        }
    }
    docs
}

/// Writes the documents into `dir` as `NNNNN.json` / `NNNNN.yaml`.
fn write_docs(dir: &TempDir, docs: &[Doc]) -> Vec<PathBuf> {
    docs.iter().enumerate().map(|(i, d)| dir.write(format!("{i:05}.{}", d.ext), &d.text)).collect()
}

/// Our `kresctl validate FILE` on each file, two at a time.
fn run_ours(files: &[PathBuf]) -> Vec<Verdict> {
    let half = files.len().div_ceil(2).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(half)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| {
                            let out = Command::new(env!("CARGO_BIN_EXE_kresctl"))
                                .arg("validate")
                                .arg(f)
                                .output()
                                .expect("cannot run our kresctl");
                            let code = out.status.code().unwrap_or(-1);
                            Verdict { code, text: String::from_utf8_lossy(&out.stderr).into_owned(), crash: code > 1 }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("our runner panicked")).collect()
    })
}

/// The reference on each file through [`DRIVER`], two Python processes at a time.
fn run_reference(dir: &TempDir, files: &[PathBuf]) -> Vec<Verdict> {
    let driver = dir.write("driver.py", DRIVER);
    let half = files.len().div_ceil(2).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(half)
            .map(|chunk| {
                let driver = driver.clone();
                s.spawn(move || {
                    let mut child = Command::new("python3")
                        .arg(&driver)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("cannot run python3");
                    let mut list = String::new();
                    for f in chunk {
                        list.push_str(&f.display().to_string());
                        list.push('\n');
                    }
                    let mut stdin = child.stdin.take().expect("piped stdin");
                    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
                    let out = child.wait_with_output().expect("python3 driver");
                    writer.join().expect("writer").expect("write the file list");
                    assert!(out.status.success(), "the reference driver failed: {:?}", out.status);
                    let verdicts: Vec<Verdict> = String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(|line| {
                            let v: Json = serde_json::from_str(line).expect("driver output is JSON");
                            Verdict {
                                code: v["code"].as_i64().expect("code") as i32,
                                text: v["stderr"].as_str().expect("stderr").to_owned(),
                                crash: v["crash"].as_bool().unwrap_or(false),
                            }
                        })
                        .collect();
                    assert_eq!(verdicts.len(), chunk.len(), "the driver answered every file");
                    verdicts
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("reference runner panicked")).collect()
    })
}

/// The paths of the top-level errors (`\t[PATH] message`) of a validation error text.
fn error_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("\t["))
        .filter_map(|l| l.find("] ").or_else(|| l.strip_suffix(']').map(str::len)).map(|end| l[..end].to_owned()))
        .collect()
}

/// A reference path as a list of segments: `/network/listen[0]/interface` → `network, listen, 0, interface`;
/// `None` when it names no place (`/` and `/[i]`: the lost location of a "list or item" value or the root's
/// cross-field checks). The root (`""`) is an empty list.
fn reference_segments(raw: &str) -> Option<Vec<String>> {
    if raw == "/" || raw.starts_with("/[") {
        return None;
    }
    let mut segments = Vec::new();
    for part in raw.split('/').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            segments.push(rest[..open].to_owned());
            rest = &rest[open..];
            while let Some(inner) = rest.strip_prefix('[') {
                let close = inner.find(']').unwrap_or(inner.len());
                segments.push(inner[..close].to_owned());
                rest = inner.get(close + 1..).unwrap_or("");
            }
        } else {
            segments.push(rest.to_owned());
        }
    }
    Some(segments)
}

/// Our path (`/network/listen/0/interface`, RFC 6901) as segments, `_` read as `-` like the reference prints them.
fn our_segments(raw: &str) -> Vec<String> {
    raw.split('/')
        .filter(|p| !p.is_empty())
        .map(|p| p.replace("~1", "/").replace("~0", "~").replace('_', "-"))
        .collect()
}

/// Same place, or one above the other (not counting the root, which is above everything).
fn related(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// True when `ours` names a later item of a list in which `reference` names an earlier one: the reference stops
/// at the first bad item of a list.
fn later_item(ours: &[String], reference: &[String]) -> bool {
    let Some(k) = ours.iter().zip(reference).position(|(a, b)| a != b) else { return false };
    matches!((ours[k].parse::<usize>(), reference[k].parse::<usize>()), (Ok(a), Ok(b)) if a > b)
}

fn problems(doc: &Doc, ours: &Verdict, reference: &Verdict) -> Vec<Problem> {
    if ours.code != reference.code || ours.crash {
        return vec![Problem::Verdict];
    }
    if ours.code == 0 {
        return Vec::new();
    }
    let ref_raw = error_paths(&reference.text);
    let wildcard = ref_raw.iter().any(|p| reference_segments(p).is_none());
    let refs: Vec<Vec<String>> = ref_raw.iter().filter_map(|p| reference_segments(p)).collect();
    let ours_p: Vec<Vec<String>> = error_paths(&ours.text).iter().map(|p| our_segments(p)).collect();
    let mut out = Vec::new();
    for (raw, r) in ref_raw.iter().filter(|p| reference_segments(p).is_some()).zip(&refs) {
        if !ours_p.iter().any(|o| related(o, r)) {
            out.push(Problem::MissingPath(raw.clone()));
        }
    }
    if doc.near_valid && !wildcard && !reference.crash {
        for (raw, o) in error_paths(&ours.text).iter().zip(&ours_p) {
            if !refs.iter().any(|r| related(o, r) || later_item(o, r)) {
                out.push(Problem::ExtraPath(raw.clone()));
            }
        }
    }
    out
}

/// Runs the comparison on `count` documents from `seed`; panics listing every unexplained disagreement.
fn differential(count: usize, seed: u64) {
    require_sid_root();
    assert!(Path::new(REFERENCE_KRESCTL).is_file(), "the reference {REFERENCE_KRESCTL} is not installed in the root");
    let docs = generate(count, seed);
    let dir = TempDir::new("differential");
    let files = write_docs(&dir, &docs);
    let ours = run_ours(&files);
    let reference = run_reference(&dir, &files);

    // The report of an earlier run with this seed is stale now.
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("differential-{seed}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut agreed = 0;
    let mut valid_both = 0;
    let mut known_counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut known_docs = 0;
    let mut failures = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let case = Case { doc, file: files[i].clone(), ours: &ours[i], reference: &reference[i] };
        let found = problems(doc, case.ours, case.reference);
        if found.is_empty() {
            agreed += 1;
            valid_both += usize::from(case.ours.code == 0);
            continue;
        }
        let explained: Vec<Option<Vec<&str>>> = found.iter().map(|p| explain(&case, p)).collect();
        if explained.iter().all(Option::is_some) {
            let mut ids: Vec<&str> = explained.into_iter().flatten().flatten().collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                *known_counts.entry(id).or_default() += 1;
            }
            known_docs += 1;
        } else {
            let unexplained: Vec<Problem> =
                found.iter().zip(&explained).filter(|(_, e)| e.is_none()).map(|(p, _)| p.clone()).collect();
            failures.push((case, unexplained));
        }
    }
    eprintln!(
        "differential: seed {seed}: {} documents, {agreed} agreed ({valid_both} valid in both, {} invalid in both), \
         {known_docs} with known differences, {} disagreements",
        docs.len(),
        agreed - valid_both,
        failures.len()
    );
    for k in KNOWN {
        eprintln!("differential: known difference {}: {} ({})", k.id, known_counts.get(k.id).unwrap_or(&0), k.reason);
    }
    if failures.is_empty() {
        return;
    }
    std::fs::create_dir_all(&out_dir).expect("create the report directory");
    let mut report = String::new();
    let mut shown = String::new();
    for (n, (case, found)) in failures.iter().enumerate() {
        let name = case.file.file_name().expect("file name").to_string_lossy().into_owned();
        let kept = out_dir.join(&name);
        std::fs::write(&kept, &case.doc.text).expect("keep the document");
        let entry = format!(
            "=== {} ({})\nproblems: {found:?}\n--- ours (exit {}):\n{}--- reference (exit {}{}):\n{}\n",
            kept.display(),
            case.doc.origin,
            case.ours.code,
            case.ours.text,
            case.reference.code,
            if case.reference.crash { ", crashed" } else { "" },
            case.reference.text,
        );
        std::fs::write(out_dir.join(format!("{name}.txt")), &entry).expect("write the report");
        if n < 40 {
            shown.push_str(&entry);
        }
        report.push_str(&entry);
    }
    std::fs::write(out_dir.join("report.txt"), &report).expect("write the report");
    panic!(
        "{} of {} documents disagree with the reference (not on the KNOWN list); documents and outputs in {} \
         (all in report.txt; the first 40 here):\n{shown}",
        failures.len(),
        docs.len(),
        out_dir.display()
    );
}

#[test]
fn differential_validate_agrees_with_reference() {
    let count = env_number("KRES_DIFF_COUNT", 300) as usize;
    let seed = env_number("KRES_DIFF_SEED", 20250);
    differential(count, seed);
}

/// The Python driver answers like the reference's CLI (exit status and error text) on a sample of documents.
#[test]
fn reference_driver_agrees_with_reference_cli() {
    require_sid_root();
    let docs = generate(16, 7);
    let dir = TempDir::new("differential-cli");
    let files = write_docs(&dir, &docs);
    let driver = run_reference(&dir, &files);
    let cli: Vec<Verdict> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(files.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| {
                            let out = Command::new(REFERENCE_KRESCTL)
                                .arg("validate")
                                .arg(f)
                                .output()
                                .expect("cannot run the reference kresctl");
                            Verdict {
                                code: out.status.code().unwrap_or(-1),
                                text: String::from_utf8_lossy(&out.stderr).into_owned(),
                                crash: false,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("runner panicked")).collect()
    });
    let mut failed = 0;
    for (i, (d, c)) in driver.iter().zip(&cli).enumerate() {
        assert_eq!(d.code, c.code, "{}: driver {d:?}, CLI {c:?}", files[i].display());
        if d.crash {
            assert!(c.text.contains("Traceback"), "{}: CLI did not crash: {c:?}", files[i].display());
        } else {
            assert!(c.text.contains(&d.text), "{}: driver {d:?}, CLI {c:?}", files[i].display());
        }
        failed += usize::from(c.code != 0);
    }
    assert!(failed > 0 && failed < files.len(), "the sample has both valid and invalid documents ({failed} invalid)");
}

#[test]
fn error_path_parsing() {
    let reference = "Configuration validation errors detected:\n\t[/workers] could not parse\n\t\t[/workers] x\n\
                     \t[/local-data/rpz[0]] unexpected extra key(s) 'bogus'\n\t[/] could not parse\n\t[] unexpected\n";
    let paths = error_paths(reference);
    assert_eq!(paths, ["/workers", "/local-data/rpz[0]", "/", ""]);
    assert_eq!(
        reference_segments("/local-data/rpz[0]/file"),
        Some(vec!["local-data".into(), "rpz".into(), "0".into(), "file".into()])
    );
    assert_eq!(
        reference_segments("/local-data/addresses[a.b][1]"),
        Some(vec!["local-data".into(), "addresses".into(), "a.b".into(), "1".into()])
    );
    assert_eq!(reference_segments("/"), None);
    assert_eq!(reference_segments("/[1]"), None);
    assert_eq!(reference_segments(""), Some(vec![]));
    assert_eq!(our_segments("/local-data/rpz/0/file"), reference_segments("/local-data/rpz[0]/file").unwrap());
    assert!(related(&our_segments("/a/b/c"), &our_segments("/a/b")));
    assert!(!related(&our_segments("/a/b"), &our_segments("/a/c")));
    assert!(!related(&our_segments("/"), &our_segments("/a")));
    assert!(related(&our_segments("/"), &reference_segments("").unwrap()));
}
