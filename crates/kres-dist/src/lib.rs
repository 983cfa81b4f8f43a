//! Distribution files derived from the clap definitions of `knot-resolver` and `kresctl`, so they can never drift
//! from the binaries: man pages (`clap_mangen`; section 8 like the reference's `kresctl.8`, one page per program
//! and one per `kresctl` subcommand, `git`-style) and shell completions (`clap_complete`: bash, fish, zsh).
//!
//! `cargo xtask dist` runs the `kres-dist` binary, which calls [`generate`]; the Debian package installs the
//! result (paths in [`Shells`] and [`MAN_DIR`] follow Debian's conventions).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

/// The man section of both programs (system administration, like the reference's `kresctl.8` and `kresd.8`).
pub const MAN_SECTION: &str = "8";
/// Where [`generate`] puts the man pages, relative to its output directory.
pub const MAN_DIR: &str = "man/man8";
/// The shells completions are generated for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Fish, Shell::Zsh];

/// A program shipped in the package.
pub struct Program {
    pub name: &'static str,
    command: fn() -> Command,
    /// Extra man page sections: (heading, [(term, description)]).
    sections: &'static [(&'static str, &'static [(&'static str, &'static str)])],
}

impl Program {
    /// The program's clap command, built (subcommands know their full names).
    pub fn command(&self) -> Command {
        let mut cmd = (self.command)().name(self.name).bin_name(self.name);
        cmd.build();
        cmd
    }

    /// The command without the `help` subcommand (documented by `--help` in every page instead).
    fn command_for_man(&self) -> Command {
        let mut cmd = (self.command)().name(self.name).bin_name(self.name).disable_help_subcommand(true);
        cmd.build();
        cmd
    }
}

const FILES: &str = "FILES";
const ENVIRONMENT: &str = "ENVIRONMENT";

/// `knot-resolver` and `kresctl`.
pub fn programs() -> [Program; 2] {
    [
        Program {
            name: "knot-resolver",
            command: kres_manager::cli::Args::command,
            sections: &[
                (
                    "SIGNALS",
                    &[
                        (
                            "SIGHUP",
                            "Reload: re-read the configuration files and apply the changes (like kresctl reload). \
                             Under systemd with Type=notify-reload, RELOADING=1 and READY=1 frame the reload.",
                        ),
                        (
                            "SIGTERM, SIGINT",
                            "Stop the manager, then every kresd worker, the policy-loader and the cache garbage \
                             collector. A second signal kills whatever is left.",
                        ),
                    ],
                ),
                (
                    ENVIRONMENT,
                    &[
                        ("NOTIFY_SOCKET", "Set by systemd (Type=notify): readiness, reload and status go there."),
                        (
                            "WATCHDOG_USEC",
                            "Set by systemd (WatchdogSec=): WATCHDOG=1 is sent every half of it while the manager \
                             is responsive and no kresd worker is FATAL.",
                        ),
                        ("KRES_WORKER_READY_TIMEOUT", "Seconds a kresd worker may take to become ready (default 60)."),
                        (
                            "KRES_KRESD_EXECUTABLE, KRES_CACHE_GC_EXECUTABLE",
                            "Override /usr/sbin/kresd and /usr/sbin/kres-cache-gc.",
                        ),
                    ],
                ),
                (
                    FILES,
                    &[
                        ("/etc/knot-resolver/config.yaml", "The default configuration file."),
                        (
                            "/run/knot-resolver",
                            "The default rundir: knot-resolver.pid, supervisor.sock, the generated kresd*.conf, \
                             control/ sockets of the workers, the rules database.",
                        ),
                        ("/run/knot-resolver/kres-api.sock", "The default management API socket."),
                        ("/var/cache/knot-resolver", "The default cache storage."),
                    ],
                ),
            ],
        },
        Program {
            name: "kresctl",
            command: kresctl::Cli::command,
            sections: &[
                (
                    "EXIT STATUS",
                    &[
                        ("0", "Success."),
                        ("1", "Failure: invalid configuration, unreadable file, error from the manager."),
                        ("2", "Bad command line."),
                    ],
                ),
                (
                    FILES,
                    &[
                        (
                            "/etc/knot-resolver/config.yaml",
                            "Read for the management API address when neither --socket nor --config is given, and \
                             the default input of validate and convert.",
                        ),
                        ("/run/knot-resolver/kres-api.sock", "The management API socket used as the last resort."),
                    ],
                ),
            ],
        },
    ]
}

/// Where the completion of `program` for `shell` goes, relative to the output directory (and, under `/usr/share`,
/// where Debian's bash-completion, fish and zsh look for it).
pub fn completion_path(program: &str, shell: Shell) -> PathBuf {
    match shell {
        Shell::Bash => PathBuf::from(format!("bash-completion/completions/{program}")),
        Shell::Fish => PathBuf::from(format!("fish/vendor_completions.d/{program}.fish")),
        Shell::Zsh => PathBuf::from(format!("zsh/vendor-completions/_{program}")),
        other => PathBuf::from(format!("{other}/{program}")),
    }
}

/// The completion script of `program` for `shell`.
pub fn completion(program: &Program, shell: Shell) -> String {
    let mut cmd = program.command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, program.name, &mut out);
    String::from_utf8(out).expect("completion scripts are UTF-8")
}

/// Every visible command below `cmd` (depth first), with its full name (`kresctl config get`).
pub fn subcommands(cmd: &Command) -> Vec<(String, Command)> {
    fn walk(prefix: &str, cmd: &Command, out: &mut Vec<(String, Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let name = format!("{prefix} {}", sub.get_name());
            out.push((name.clone(), sub.clone()));
            walk(&name, sub, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd.get_name(), cmd, &mut out);
    out
}

/// The man pages of `program`: (file name, roff text). The program's own page comes first, then one page per
/// subcommand (`kresctl-config-get.8`).
pub fn man_pages(program: &Program) -> io::Result<Vec<(String, String)>> {
    let cmd = program.command_for_man();
    let subs = subcommands(&cmd);
    let page_name = |full: &str| full.replace(' ', "-");

    let mut see_also: Vec<String> = subs.iter().map(|(full, _)| page_name(full)).collect();
    see_also
        .extend(["knot-resolver", "kresctl", "kresd"].iter().filter(|p| **p != program.name).map(|p| p.to_string()));
    let mut pages =
        vec![(format!("{}.{MAN_SECTION}", program.name), render(cmd.clone(), program.sections, &see_also)?)];
    for (full, sub) in subs {
        let name = page_name(&full);
        let sub = sub.display_name(name.clone()).bin_name(full);
        pages.push((format!("{name}.{MAN_SECTION}"), render(sub, &[], &[program.name.to_string()])?));
    }
    Ok(pages)
}

fn render(cmd: Command, sections: &[(&str, &[(&str, &str)])], see_also: &[String]) -> io::Result<String> {
    let man = Man::new(cmd.clone())
        .section(MAN_SECTION)
        .date(page_date())
        .manual("Knot Resolver")
        .source(format!("Knot Resolver {}", cmd.get_version().unwrap_or(env!("CARGO_PKG_VERSION"))));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::default();
    for (heading, items) in sections {
        roff.control("SH", [*heading]);
        for (term, text) in *items {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*text)]);
        }
    }
    if !see_also.is_empty() {
        roff.control("SH", ["SEE ALSO"]);
        let mut refs = Vec::new();
        for (i, page) in see_also.iter().enumerate() {
            if i > 0 {
                refs.push(roman(", "));
            }
            refs.push(bold(page.as_str()));
            refs.push(roman(format!("({MAN_SECTION})")));
        }
        roff.text(refs);
        roff.text([roman("Upstream documentation: "), italic("https://www.knot-resolver.cz/documentation/")]);
    }
    roff.to_writer(&mut out)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok(String::from_utf8(out).expect("roff output is UTF-8"))
}

/// The date in the pages' title: `$SOURCE_DATE_EPOCH` (reproducible builds; `cargo xtask dist` sets it to the
/// last commit's time), else today.
fn page_date() -> String {
    let epoch =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        });
    iso_date(epoch)
}

/// `YYYY-MM-DD` of a Unix time (UTC): the date part of the history's RFC 3339 time stamps.
fn iso_date(epoch: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    let mut stamp = kres_manager::history::rfc3339_utc(time);
    stamp.truncate("YYYY-MM-DD".len());
    stamp
}

/// Writes every man page to `<out>/man/man8/` and every completion to `<out>/<completion_path>`; returns the
/// files written.
pub fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut write = |path: PathBuf, text: &str| -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    for program in programs() {
        for (name, text) in man_pages(&program)? {
            write(out.join(MAN_DIR).join(name), &text)?;
        }
        for shell in SHELLS {
            write(out.join(completion_path(program.name, shell)), &completion(&program, shell))?;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
        assert_eq!(iso_date(1_798_761_599), "2026-12-31");
    }
}
