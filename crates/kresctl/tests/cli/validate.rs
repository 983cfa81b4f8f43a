//! `kresctl validate`.

use kres_test_support::TempDir;

use crate::support::{example, kresctl, kresctl_in, valid_examples};

#[test]
fn every_valid_example_validates() {
    for file in valid_examples() {
        let run = kresctl(["validate".as_ref(), file.as_os_str()]).success();
        assert!(run.stdout.starts_with("Basic validation was successful."), "{}: {}", file.display(), run.stdout);
        assert!(run.stdout.contains("'--strict'"), "{}", run.stdout);
        assert_eq!(run.stderr, "", "{}", file.display());
    }
}

#[test]
fn old_format_examples_are_rejected_with_every_location() {
    let cases = [
        (
            "config.old-format.yaml",
            &["/network/tls", "/local-data", "/dnssec", "/dns64", "/logging", "/monitoring", "/defer"][..],
        ),
        (
            "config.old-format-disabled.yaml",
            &[
                "/network/proxy-protocol",
                "/cache/garbage-collector",
                "/cache/prefetch/prediction",
                "/dnssec",
                "/dns64",
                "/logging/dnstap",
                "/monitoring/graphite",
            ][..],
        ),
    ];
    for (name, paths) in cases {
        let run = kresctl(["validate".as_ref(), example(name).as_os_str()]).failure(1);
        assert_eq!(run.stdout, "", "results only on success");
        run.stderr_has("Configuration validation errors detected:");
        for path in paths {
            run.stderr_has(&format!("[{path}]"));
        }
        run.stderr_has(&format!("{name}:"));
    }
}

#[test]
fn several_errors_with_path_and_position() {
    let dir = TempDir::new("validate");
    let file = dir.write("bad.yaml", "workers: 0\ncache:\n  size-max: 10MB\nlogging:\n  level: noticed\n");
    let run = kresctl(["validate".as_ref(), file.as_os_str()]).failure(1);
    assert_eq!(run.stdout, "");
    let name = file.display().to_string();
    run.stderr_has("Configuration validation errors detected:");
    for (path, line, col) in [("/workers", 1, 10), ("/cache/size-max", 3, 13), ("/logging/level", 5, 10)] {
        let line_text = run
            .stderr
            .lines()
            .find(|l| l.contains(&format!("[{path}]")))
            .unwrap_or_else(|| panic!("no error for {path}:\n{}", run.stderr));
        assert!(line_text.starts_with('\t'), "{line_text:?}");
        assert!(line_text.contains(&format!("{name}:{line}:{col}")), "{line_text:?}");
    }
}

#[test]
fn strict_checks_files_relative_to_the_first_config() {
    let dir = TempDir::new("validate-strict");
    let config = dir.write("conf/config.yaml", "local-data:\n  rpz:\n    - file: block.rpz\n");
    let elsewhere = TempDir::new("validate-cwd");

    // Not strict: paths are not checked.
    kresctl_in(Some(elsewhere.path()), ["validate".as_ref(), config.as_os_str()]).success();

    let run =
        kresctl_in(Some(elsewhere.path()), ["validate".as_ref(), "--strict".as_ref(), config.as_os_str()]).failure(1);
    run.stderr_has("[/local-data/rpz/0/file]").stderr_has(&dir.join("conf/block.rpz").display().to_string());

    dir.write("conf/block.rpz", "");
    let run =
        kresctl_in(Some(elsewhere.path()), ["validate".as_ref(), "--strict".as_ref(), config.as_os_str()]).success();
    assert_eq!(run.stdout, "", "no note after strict validation");
}

#[test]
fn multiple_files_merge() {
    let dir = TempDir::new("validate-merge");
    let a = dir.write("a.yaml", "workers: 2\ncache:\n  size-max: 10M\n");
    let b = dir.write("b.json", r#"{"cache": {"ttl-min": "2d"}, "logging": {"level": "debug"}}"#);
    // Together they break a cross-field rule (ttl-min > default ttl-max) that neither breaks alone.
    kresctl(["validate".as_ref(), a.as_os_str()]).success();
    kresctl(["validate".as_ref(), b.as_os_str()]).failure(1).stderr_has("[/cache]");
    kresctl(["validate".as_ref(), a.as_os_str(), b.as_os_str()]).failure(1).stderr_has("[/cache]");
    let c = dir.write("c.yaml", "cache:\n  ttl-max: 3d\n");
    kresctl(["validate".as_ref(), a.as_os_str(), b.as_os_str(), c.as_os_str()]).success();

    let twice = dir.write("twice.yaml", "workers: 3\n");
    kresctl(["validate".as_ref(), a.as_os_str(), twice.as_os_str()])
        .failure(1)
        .stderr_has("/workers")
        .stderr_has("more than one file");
}

#[test]
fn unreadable_and_unparsable_files() {
    let dir = TempDir::new("validate-io");
    let missing = dir.join("missing.yaml");
    kresctl(["validate".as_ref(), missing.as_os_str()]).failure(1).stderr_has(&missing.display().to_string());

    let broken = dir.write("broken.yaml", "a: 1\nb: [1, 2\n");
    let run = kresctl(["validate".as_ref(), broken.as_os_str()]).failure(1);
    run.stderr_has(&format!("{}:", broken.display()));
    assert_eq!(run.stdout, "");

    let dup = dir.write("dup.yaml", "workers: 1\nworkers: 2\n");
    kresctl(["validate".as_ref(), dup.as_os_str()]).failure(1).stderr_has("duplicate key 'workers'");

    let list = dir.write("list.yaml", "- 1\n- 2\n");
    kresctl(["validate".as_ref(), list.as_os_str()]).failure(1).stderr_has("mapping");
}

#[test]
fn empty_file_is_valid() {
    let dir = TempDir::new("validate-empty");
    let empty = dir.write("empty.yaml", "");
    kresctl(["validate".as_ref(), empty.as_os_str()]).success();
}

#[test]
fn default_file_is_etc_knot_resolver_config_yaml() {
    const DEFAULT: &str = "/etc/knot-resolver/config.yaml";
    let implicit = kresctl(["validate"]);
    let explicit = kresctl(["validate", DEFAULT]);
    assert_eq!(
        (implicit.code, &implicit.stdout, &implicit.stderr),
        (explicit.code, &explicit.stdout, &explicit.stderr)
    );
    if !std::path::Path::new(DEFAULT).exists() {
        implicit.failure(1).stderr_has(DEFAULT);
    }
}
