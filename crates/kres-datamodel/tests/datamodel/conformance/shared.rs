//! Extra checks against the project's shared data directory (`shared/` next to the checkout, or
//! `$KRES_SHARED_DIR`): the reference's example configurations and the shared conformance case files.
//!
//! The repository has its own case files (copied from the shared ones, then maintained here) and its own example
//! configurations, so these tests only add coverage where the shared directory exists. Without it (a plain clone)
//! they print "skipped: ../shared not present" and pass.

use std::path::PathBuf;

use super::check_examples;
use super::runner::{CATEGORIES, run_cases};
use crate::data::{self, Category, configs_in};

/// The shared directory, or `None` after printing the skip line.
fn shared_or_skip(test: &str) -> Option<PathBuf> {
    let dir = data::shared_dir();
    if dir.is_none() {
        eprintln!("{test}: skipped: ../shared not present (set KRES_SHARED_DIR to run it against another directory)");
    }
    dir
}

/// The reference's example files (`shared/reference/examples/`): `config.example.*` and `config.test-*` validate,
/// the old-format `config.migrate-test*` files are rejected.
#[test]
fn shared_reference_examples() {
    let Some(shared) = shared_or_skip("shared_reference_examples") else { return };
    let dir = shared.join("reference/examples");
    let examples = configs_in(&dir, |name| !name.starts_with("config.migrate-test"));
    assert!(
        examples.iter().any(|(_, valid)| *valid) && examples.iter().any(|(_, valid)| !*valid),
        "{}: expected valid and old-format example files, found {examples:?}",
        dir.display()
    );
    let failures = check_examples(&examples);
    eprintln!("{} of {} shared example files as expected", examples.len() - failures.len(), examples.len());
    assert!(failures.is_empty(), "{} shared example files failed:\n{}", failures.len(), failures.join("\n"));
}

/// Every shared conformance case that our own case files do not replace: a case whose id also appears in our copy
/// of the file with different content (a case corrected or updated here) runs only in its in-repo version.
#[test]
fn shared_conformance_cases() {
    let Some(shared) = shared_or_skip("shared_conformance_cases") else { return };
    let dir = shared.join("reference/conformance");
    assert!(dir.is_dir(), "{} has no reference/conformance/ folder", shared.display());
    // Shared `file` cases name paths relative to the parent of the shared directory.
    let canonical = shared.canonicalize().unwrap_or_else(|_| shared.clone());
    let file_base = canonical.parent().map_or_else(|| PathBuf::from("/"), PathBuf::from);

    let mut failures = Vec::new();
    let (mut run, mut replaced) = (0, 0);
    for category in CATEGORIES {
        let ours = Category::load(category);
        let ours = ours.cases();
        let theirs = Category::load_from(&dir, file_base.clone(), category);
        let cases: Vec<_> = theirs
            .cases()
            .into_iter()
            .filter(|c| {
                let differs = ours.iter().any(|o| o.id() == c.id() && !same_case(o, c));
                replaced += usize::from(differs);
                !differs
            })
            .collect();
        run += cases.len();
        failures.extend(run_cases(&cases).into_iter().map(|f| format!("shared {category}.yaml: {f}")));
    }
    eprintln!(
        "{} of {run} shared cases passed ({replaced} replaced by different in-repo versions)",
        run - failures.len()
    );
    assert!(run > 0, "no shared cases in {}", dir.display());
    assert!(failures.is_empty(), "{} shared cases failed:\n\n{}\n", failures.len(), failures.join("\n\n"));
}

/// The same case: equal fields and the same group rule (its embedding template).
fn same_case(a: &data::Case, b: &data::Case) -> bool {
    a.case == b.case && a.group.get("embed") == b.group.get("embed") && a.group_name() == b.group_name()
}
