//! The generated completions and man pages cover the whole command line (ripgrep-style consistency checks): every
//! subcommand at every level and every long option of every command appear in the completion script of every
//! shell and in the man pages, and bash really completes them.

use std::collections::BTreeSet;
use std::process::Command as Process;

use clap::Command;
use kres_dist::{Program, SHELLS, completion, man_pages, programs, subcommands};

/// Every command of `program` (itself first) with its full name.
fn all_commands(program: &Program) -> Vec<(String, Command)> {
    let cmd = program.command();
    let mut all = vec![(program.name.to_string(), cmd.clone())];
    all.extend(subcommands(&cmd));
    all
}

fn long_options(cmd: &Command) -> Vec<String> {
    cmd.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect()
}

/// Whether `word` occurs in `text` as a whole word (not as part of a longer name).
fn has_word(text: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        // `--flag` may be preceded by a dash-free delimiter only; a subcommand name by anything but a name char.
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

#[test]
fn programs_have_subcommands_and_options_to_check() {
    let [manager, kresctl] = programs();
    assert!(long_options(&manager.command()).contains(&"--config".to_string()));
    let subs: Vec<String> = subcommands(&kresctl.command()).into_iter().map(|(n, _)| n).collect();
    for expected in ["kresctl validate", "kresctl convert", "kresctl schema", "kresctl migrate"] {
        assert!(subs.iter().any(|s| s == expected), "{expected} missing from {subs:?}");
    }
}

#[test]
fn completions_list_every_subcommand_and_option() {
    for program in programs() {
        for shell in SHELLS {
            let script = completion(&program, shell);
            let mut missing = BTreeSet::new();
            for (full, cmd) in all_commands(&program) {
                if full != program.name && !has_word(&script, cmd.get_name()) {
                    missing.insert(format!("subcommand {full}"));
                }
                for option in long_options(&cmd) {
                    // fish writes `-l config`, bash and zsh `--config`.
                    let long = option.trim_start_matches('-');
                    let found = has_word(&script, &option) || has_word(&script, &format!("-l {long}"));
                    if !found {
                        missing.insert(format!("{full} {option}"));
                    }
                }
            }
            assert!(missing.is_empty(), "the {shell} completion of {} misses {missing:?}", program.name);
        }
    }
}

#[test]
fn man_pages_document_every_subcommand_and_option() {
    for program in programs() {
        let pages = man_pages(&program).unwrap();
        let (main_name, main_page) = &pages[0];
        assert_eq!(main_name, &format!("{}.8", program.name));
        assert!(main_page.contains(&format!(".TH {} 8 ", program.name)), "{main_page}");
        for (full, cmd) in all_commands(&program) {
            let page_name = format!("{}.8", full.replace(' ', "-"));
            let (_, page) = pages.iter().find(|(n, _)| *n == page_name).unwrap_or_else(|| panic!("no {page_name}"));
            for option in long_options(&cmd) {
                let escaped = option.replace('-', "\\-");
                assert!(page.contains(&escaped), "{page_name} does not document {option}");
            }
            if let Some((parent, _)) = full.rsplit_once(' ') {
                // The parent's SUBCOMMANDS section lists it (`kresctl-config.8` lists `kresctl-config-get(8)`),
                // and the program's SEE ALSO names every page (in bold: `\fBkresctl\-config\-get\fR(8)`).
                let name = full.replace(' ', "-").replace('-', "\\-");
                let parent_page_name = format!("{}.8", parent.replace(' ', "-"));
                let (_, parent_page) = pages.iter().find(|(n, _)| *n == parent_page_name).unwrap();
                let reference = format!("{name}(8)");
                assert!(parent_page.contains(&reference), "{parent_page_name} does not list {reference}");
                let see_also = format!("\\fB{name}\\fR(8)");
                assert!(main_page.contains(&see_also), "{} does not refer to {see_also}", program.name);
            }
        }
        assert!(!pages.iter().any(|(n, _)| n.contains("-help.")), "no page for the help subcommand");
    }
}

/// Runs the bash completion function of `program` on `words` (the last one being completed); returns COMPREPLY.
fn bash_complete(program: &Program, words: &[&str]) -> Vec<String> {
    let script = completion(program, clap_complete::Shell::Bash);
    let function = format!("_{}", program.name.replace('-', "__"));
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let driver = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         {function} '{name}' '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" "),
        line = words.join(" "),
        name = program.name,
        cur = words[cword],
    );
    let out = Process::new("bash").arg("-c").arg(&driver).output().expect("run bash");
    assert!(out.status.success(), "bash failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
}

#[test]
fn bash_completes_every_subcommand_and_option() {
    if Process::new("bash").arg("-c").arg("true").status().is_err() {
        eprintln!("no bash here; skipping");
        return;
    }
    for program in programs() {
        let cmd = program.command();
        let top = bash_complete(&program, &[program.name, ""]);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            assert!(top.iter().any(|w| w == sub.get_name()), "{}: bash offers {top:?}", sub.get_name());
        }
        let options = bash_complete(&program, &[program.name, "--"]);
        for option in long_options(&cmd) {
            assert!(options.contains(&option), "{} {option}: bash offers {options:?}", program.name);
        }
        for (full, sub) in subcommands(&cmd) {
            let mut words: Vec<&str> = full.split(' ').collect();
            words.push("--");
            let offered = bash_complete(&program, &words);
            for option in long_options(&sub) {
                assert!(offered.contains(&option), "{full} {option}: bash offers {offered:?}");
            }
        }
    }
}

#[test]
fn scripts_are_valid_shell_syntax() {
    for program in programs() {
        let bash = completion(&program, clap_complete::Shell::Bash);
        let out = Process::new("bash").arg("-n").arg("-c").arg(&bash).output().expect("bash -n");
        assert!(out.status.success(), "{}: {}", program.name, String::from_utf8_lossy(&out.stderr));
        for (shell, script) in [
            ("zsh", completion(&program, clap_complete::Shell::Zsh)),
            ("fish", completion(&program, clap_complete::Shell::Fish)),
        ] {
            match Process::new(shell).arg("-n").arg("-c").arg(&script).output() {
                Ok(out) => assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr)),
                Err(_) => eprintln!("no {shell} here; not checking the syntax of its completion"),
            }
        }
    }
}
