//! The command line itself: usage errors, help, version.

use crate::support::kresctl;

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["validate", "--frobnicate"],
        &["convert", "--type", "nonsense"],
        &["migrate"],
        &["migrate", "--json", "--yaml", "x.yaml"],
        &["migrate", "a", "b", "c"],
        &["-s", "/x.sock", "-c", "/x.yaml", "schema"],
        &["schema", "a.json", "-o", "b.json"],
        &["--socket"],
    ] {
        let run = kresctl(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error:"), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn no_command_prints_help() {
    let run = kresctl::<[&str; 0], &str>([]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Commands:") && run.stderr.contains("validate"), "{}", run.stderr);
}

#[test]
fn help_and_version() {
    let run = kresctl(["--help"]).success();
    for command in ["validate", "convert", "schema", "migrate"] {
        assert!(run.stdout.contains(command), "{}", run.stdout);
    }
    assert!(run.stdout.contains("--socket") && run.stdout.contains("--config"), "{}", run.stdout);
    for flag in ["-V", "--version"] {
        let run = kresctl([flag]).success();
        assert_eq!(run.stdout, format!("{}\n", env!("CARGO_PKG_VERSION")), "the bare version, like the reference's");
    }
    let run = kresctl(["help", "convert"]).success();
    assert!(run.stdout.contains("policy-loader"), "{}", run.stdout);
}
