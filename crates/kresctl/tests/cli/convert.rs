//! `kresctl convert`.

use kres_test_support::TempDir;

use crate::support::{example, kresctl, valid_examples};

#[test]
fn every_valid_example_converts_for_both_types() {
    let dir = TempDir::new("convert");
    for file in valid_examples() {
        let worker = kresctl(["convert".as_ref(), file.as_os_str()]).success();
        assert_eq!(worker.stderr, "", "{}", file.display());
        assert!(worker.stdout.contains("hostname("), "{}: not a worker script:\n{}", file.display(), worker.stdout);

        let loader =
            kresctl(["convert".as_ref(), "--type".as_ref(), "policy-loader".as_ref(), file.as_os_str()]).success();
        assert!(loader.stdout.contains("quit()"), "{}: not a policy-loader script:\n{}", file.display(), loader.stdout);
        assert_ne!(worker.stdout, loader.stdout);

        let explicit = kresctl(["convert".as_ref(), "--type".as_ref(), "worker".as_ref(), file.as_os_str()]).success();
        assert_eq!(explicit.stdout, worker.stdout, "--type worker is the default");

        // -o writes the same script to a file and nothing to stdout.
        let out = dir.join("out.lua");
        let run = kresctl(["convert".as_ref(), "-o".as_ref(), out.as_os_str(), file.as_os_str()]).success();
        assert_eq!(run.stdout, "");
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(written.trim_end(), worker.stdout.trim_end(), "{}", file.display());
    }
}

#[test]
fn local_data_goes_to_the_policy_loader() {
    let file = example("config.local-data.yaml");
    let loader =
        kresctl(["convert".as_ref(), "--type".as_ref(), "policy-loader".as_ref(), file.as_os_str()]).success().stdout;
    let worker = kresctl(["convert".as_ref(), file.as_os_str()]).success().stdout;
    for name in ["intranet.example.com", "ads.example.net", "printer.example.com"] {
        assert!(loader.contains(name), "policy-loader script lacks {name}:\n{loader}");
        assert!(!worker.contains(name), "worker script has {name}:\n{worker}");
    }
}

#[test]
fn multiple_files_merge() {
    let dir = TempDir::new("convert-merge");
    let a = dir.write("a.yaml", "workers: 2\n");
    let b = dir.write("b.yaml", "logging:\n  level: debug\n");
    let alone = kresctl(["convert".as_ref(), a.as_os_str()]).success().stdout;
    let merged = kresctl(["convert".as_ref(), a.as_os_str(), b.as_os_str()]).success().stdout;
    assert!(!alone.contains("log_level('debug')"), "{alone}");
    assert!(merged.contains("log_level('debug')"), "{merged}");
}

#[test]
fn invalid_configuration_fails_without_output() {
    let run = kresctl(["convert".as_ref(), example("config.old-format-disabled.yaml").as_os_str()]).failure(1);
    assert_eq!(run.stdout, "");
    run.stderr_has("[/dns64]");

    let dir = TempDir::new("convert-invalid");
    let out = dir.join("out.lua");
    kresctl(["convert".as_ref(), "-o".as_ref(), out.as_os_str(), example("config.old-format.yaml").as_os_str()])
        .failure(1);
    assert!(!out.exists(), "no output file for an invalid configuration");
}

#[test]
fn unwritable_output_fails() {
    let dir = TempDir::new("convert-unwritable");
    let out = dir.join("no/such/dir/out.lua");
    let file = example("config.defer.yaml");
    kresctl(["convert".as_ref(), "-o".as_ref(), out.as_os_str(), file.as_os_str()])
        .failure(1)
        .stderr_has(&out.display().to_string());
}
