//! Golden files: the rendered worker and policy-loader Lua of every example config (`etc/config/examples/`, golden
//! name `example.<name>`) and feature config (`feature.<name>`), compared with
//! `tests/golden/<golden name>.{worker,policy-loader}.lua`. Regenerate with
//! `KRES_UPDATE_GOLDEN=1 cargo xtask test -p kres-datamodel -E 'test(golden)'`.

use std::path::Path;

use super::{config_name, load_file, render_both};
use crate::data::{feature_configs, feature_dir, golden_dir, valid_examples};

/// Examples are rendered as if their file were `/etc/knot-resolver/config.yaml`, so relative paths (the
/// `blocklist.rpz` of the ISP and local-data examples) do not depend on where the checkout is.
const EXAMPLE_ROOT: &str = "/etc/knot-resolver";

/// Feature configs resolve relative paths against their own directory (they read script files from there); the
/// directory is replaced by this placeholder in the golden files.
const FEATURE_DIR_PLACEHOLDER: &str = "@FEATURE_CONFIG_DIR@";

/// Whether to rewrite the golden files: `KRES_UPDATE_GOLDEN=1` (passed into the sid root by `cargo xtask test`) or
/// `UPDATE_GOLDEN=1` (a plain `cargo test` on the host).
fn updating() -> bool {
    ["KRES_UPDATE_GOLDEN", "UPDATE_GOLDEN"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Compares `actual` with the golden file `name`, or writes it when `updating()`. Returns a problem.
fn check(name: &str, actual: &str) -> Option<String> {
    let path = golden_dir().join(name);
    if updating() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return Some(format!("{}: {e} (create it with KRES_UPDATE_GOLDEN=1)", path.display())),
    };
    if expected == actual {
        return None;
    }
    let line = expected
        .lines()
        .zip(actual.lines())
        .position(|(e, a)| e != a)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    Some(format!(
        "{} differs from the rendered Lua at line {}:\n  golden:   {:?}\n  rendered: {:?}\n(review and regenerate with KRES_UPDATE_GOLDEN=1)",
        path.display(),
        line + 1,
        expected.lines().nth(line).unwrap_or("<end of file>"),
        actual.lines().nth(line).unwrap_or("<end of file>"),
    ))
}

fn check_config(name: &str, worker: &str, loader: &str, problems: &mut Vec<String>) {
    problems.extend(check(&format!("{name}.worker.lua"), worker));
    problems.extend(check(&format!("{name}.policy-loader.lua"), loader));
}

#[test]
fn examples_match_golden_files() {
    let mut problems = Vec::new();
    for path in valid_examples() {
        let config = load_file(&path, Path::new(EXAMPLE_ROOT));
        let (worker, loader) = render_both(&config);
        check_config(&format!("example.{}", config_name(&path)), &worker, &loader, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn feature_configs_match_golden_files() {
    let dir = feature_dir();
    let dir_text = dir.display().to_string();
    let mut problems = Vec::new();
    for path in feature_configs() {
        let config = load_file(&path, &dir);
        let (worker, loader) = render_both(&config);
        let normalize = |s: &str| s.replace(&dir_text, FEATURE_DIR_PLACEHOLDER);
        check_config(
            &format!("feature.{}", config_name(&path)),
            &normalize(&worker),
            &normalize(&loader),
            &mut problems,
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_golden_file_belongs_to_a_config() {
    let mut expected: Vec<String> = Vec::new();
    for path in valid_examples() {
        expected.push(format!("example.{}", config_name(&path)));
    }
    for path in feature_configs() {
        expected.push(format!("feature.{}", config_name(&path)));
    }
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(golden_dir()).expect("golden dir") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let Some(base) = name.strip_suffix(".worker.lua").or_else(|| name.strip_suffix(".policy-loader.lua")) else {
            continue;
        };
        if !expected.iter().any(|e| e == base) {
            stale.push(name);
        }
    }
    assert!(stale.is_empty(), "golden files without a config (delete them): {stale:?}");
}
