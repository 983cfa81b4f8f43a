//! `kresctl validate` on hostile documents: alias bombs, deep nesting and huge mappings are refused with an error
//! naming the input limit and where it was hit, and the process's peak memory stays small (measured with
//! `getrusage(RUSAGE_CHILDREN)`; nextest runs each test in its own process, so the children are ours).

use kres_test_support::TempDir;

use crate::support::kresctl;

/// The largest peak RSS of the waited-for children of this process, in MiB.
fn children_peak_rss_mib() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` through a pointer to memory we own and that is large enough for it;
    // a zeroed `rusage` (integers only) is a valid value, so reading it is sound even if the call failed.
    #[allow(unsafe_code)]
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    // ru_maxrss is in KiB on Linux.
    u64::try_from(usage.ru_maxrss).unwrap_or(0) >> 10
}

/// The classic "billion laughs": `levels` anchors, each a list of ten aliases of the previous one (about 300
/// bytes for 7 levels; fully expanded, 10^levels strings).
pub(crate) fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [\"lol\"]\n");
    for i in 1..=levels {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    text
}

/// Runs `kresctl validate FILE`, expects it to refuse the file for a limit, returns stderr.
fn refused(dir: &TempDir, name: &str, text: &str, needle: &str) -> String {
    let file = dir.write(name, text);
    let run = kresctl(["validate".as_ref(), file.as_os_str()]);
    assert_ne!(run.code, 0, "{name} was accepted");
    run.stderr_has("input limit exceeded").stderr_has(needle).stderr_has(&format!("{}:", file.display()));
    run.stderr
}

#[test]
fn alias_bombs_are_refused_in_little_memory() {
    let dir = TempDir::new("limits");
    for levels in [7, 9] {
        let stderr = refused(&dir, &format!("bomb{levels}.yaml"), &alias_bomb(levels), "YAML anchors and aliases");
        // The alias that exhausts the budget (level 4) is named with its line.
        assert!(stderr.contains(&format!("bomb{levels}.yaml:5:")), "{stderr}");
    }
    // Unbounded, 7 levels took 1.1 GB.
    let peak = children_peak_rss_mib();
    assert!(peak < 24, "kresctl peaked at {peak} MiB on an alias bomb");
}

#[test]
fn deep_nesting_and_long_strings_are_refused() {
    let dir = TempDir::new("limits");
    refused(&dir, "deep-flow.yaml", &"[".repeat(1_000_000), "nested");
    refused(&dir, "deep-block.yaml", &"- ".repeat(5000), "nested");
    refused(&dir, "deep.json", &format!("{}{}", "{\"a\": ".repeat(100_000), "1"), "nested");
    refused(&dir, "long.yaml", &format!("lua:\n  script: '{}'\n", "x".repeat(5 << 20)), "a string is longer than");
    let peak = children_peak_rss_mib();
    assert!(peak < 64, "kresctl peaked at {peak} MiB");
}

#[test]
fn huge_mappings_are_refused() {
    let dir = TempDir::new("limits");
    let yaml: String = (0..510_000).map(|i| format!("k{i}: 0\n")).collect();
    refused(&dir, "keys.yaml", &yaml, "a mapping has more than 500000 keys");
    let json = format!("{{{}}}", (0..510_000).map(|i| format!("\"k{i}\":0")).collect::<Vec<_>>().join(","));
    refused(&dir, "keys.json", &json, "a mapping has more than 500000 keys");
    // The mapping is built up to the limit before it is refused: bounded, not small.
    let peak = children_peak_rss_mib();
    assert!(peak < 256, "kresctl peaked at {peak} MiB");
}
