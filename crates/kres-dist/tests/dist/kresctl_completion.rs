//! `kresctl completion --bash|--fish|--zsh` prints the very scripts the package installs, and they cover the online
//! commands too.

use kres_dist::{SHELLS, completion, programs, subcommands};

#[test]
fn kresctl_prints_the_packaged_completion() {
    let [_, kresctl] = programs();
    for shell in SHELLS {
        assert_eq!(kresctl::commands::completion::script(shell), completion(&kresctl, shell), "{shell}");
    }
}

#[test]
fn online_commands_are_packaged() {
    let [_, kresctl] = programs();
    let subs: Vec<String> = subcommands(&kresctl.command()).into_iter().map(|(n, _)| n).collect();
    for expected in [
        "kresctl config get",
        "kresctl config set",
        "kresctl config delete",
        "kresctl config patch",
        "kresctl reload",
        "kresctl stop",
        "kresctl metrics",
        "kresctl cache clear",
        "kresctl pids",
        "kresctl debug",
        "kresctl completion",
    ] {
        assert!(subs.iter().any(|s| s == expected), "{expected} missing from {subs:?}");
    }
}
