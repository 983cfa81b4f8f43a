//! `kresctl debug [kresd|gc|all] [--sudo] [--gdb PATH] [--print-only] [-- GDB ARGS]`: runs GDB attached to the
//! resolver's processes (PIDs from `/processes/{type}`), one inferior per process:
//!
//! ```text
//! [sudo --] gdb -init-eval-command 'set detach-on-fork off' -init-eval-command 'set schedule-multiple on'
//!     -init-eval-command 'attach <pid1>'
//!     (-init-eval-command add-inferior -init-eval-command 'inferior <n>' -init-eval-command 'attach <pidn>')...
//!     [-init-eval-command 'inferior 1' -init-eval-command 'echo <hint>'] <GDB ARGS>
//! ```
//!
//! `--print-only` prints that command line (shell-quoted, on stdout) instead of running it. The reference puts a
//! `--` right after `gdb`, which makes GDB take `-init-eval-command` for the program to debug; we do not.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

use super::pids::{ProcessType, processes};
use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The type of processes to debug.
    #[arg(value_enum, value_name = "TYPE", default_value = "kresd")]
    pub proc_type: ProcessType,

    /// Run the debugger with sudo (tracing processes that are not the debugger's children needs privileges or
    /// the cap_sys_ptrace capability, or kernel.yama.ptrace_scope = 0).
    #[arg(long)]
    pub sudo: bool,

    /// The GDB executable: a command on PATH or a path.
    #[arg(long, value_name = "PATH", default_value = "gdb")]
    pub gdb: String,

    /// Print the debugger's command line instead of running it.
    #[arg(long)]
    pub print_only: bool,

    /// Further arguments for GDB (after '--').
    #[arg(last = true, value_name = "GDB_ARGS", allow_hyphen_values = true)]
    pub gdb_args: Vec<String>,
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let pids: Vec<u32> = processes(client, args.proc_type)?.into_iter().map(|p| p.pid).collect();
    if pids.is_empty() {
        bail!("there are no processes of type '{}' to debug", args.proc_type.name());
    }
    let gdb = match which(&args.gdb) {
        Some(path) => path.to_string_lossy().into_owned(),
        None if args.print_only => args.gdb.clone(),
        None => bail!("cannot find the debugger '{}' (install gdb, or give its path with --gdb)", args.gdb),
    };
    let sudo = match (args.sudo, which("sudo")) {
        (false, _) => None,
        (true, Some(path)) => Some(path.to_string_lossy().into_owned()),
        (true, None) if args.print_only => Some("sudo".to_owned()),
        (true, None) => bail!("--sudo: cannot find sudo on PATH"),
    };
    let argv = gdb_argv(sudo.as_deref(), &gdb, &pids, &args.gdb_args);
    if args.print_only {
        let line: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        return Ok(crate::output::stdout_line(&line.join(" "))?);
    }
    let err = Command::new(&argv[0]).args(&argv[1..]).exec();
    bail!("cannot run {}: {err}", argv[0])
}

/// The debugger's command line (see the module documentation).
pub fn gdb_argv(sudo: Option<&str>, gdb: &str, pids: &[u32], extra: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if let Some(sudo) = sudo {
        argv.extend([sudo.to_owned(), "--".to_owned()]);
    }
    argv.push(gdb.to_owned());
    let mut eval = |command: String| argv.extend(["-init-eval-command".to_owned(), command]);
    eval("set detach-on-fork off".into());
    eval("set schedule-multiple on".into());
    for (i, pid) in pids.iter().enumerate() {
        if i > 0 {
            eval("add-inferior".into());
            eval(format!("inferior {}", i + 1));
        }
        eval(format!("attach {pid}"));
    }
    if pids.len() > 1 {
        eval("inferior 1".into());
        eval(format!(
            "echo \\n\\nYou are now debugging {} inferiors. Use 'info inferiors' to list them and 'inferior <N>' \
             to switch between them.\\n\\n",
            pids.len()
        ));
    }
    argv.extend(extra.iter().cloned());
    argv
}

/// `name` if it is a path to a file, else the first executable `name` on `$PATH`.
fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if name.contains('/') {
        let path = PathBuf::from(name);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| executable(p))
}

/// `arg` quoted for a POSIX shell when it needs it.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process() {
        let argv = gdb_argv(None, "/usr/bin/gdb", &[42], &[]);
        assert_eq!(
            argv,
            [
                "/usr/bin/gdb",
                "-init-eval-command",
                "set detach-on-fork off",
                "-init-eval-command",
                "set schedule-multiple on",
                "-init-eval-command",
                "attach 42"
            ]
        );
    }

    #[test]
    fn several_processes_with_sudo_and_extra_arguments() {
        let argv = gdb_argv(Some("/usr/bin/sudo"), "gdb", &[1, 2, 3], &["-batch".into(), "-ex".into(), "bt".into()]);
        let evals: Vec<&str> =
            argv.windows(2).filter(|w| w[0] == "-init-eval-command").map(|w| w[1].as_str()).collect();
        assert_eq!(&argv[..3], ["/usr/bin/sudo", "--", "gdb"]);
        assert_eq!(
            &evals[..11],
            [
                "set detach-on-fork off",
                "set schedule-multiple on",
                "attach 1",
                "add-inferior",
                "inferior 2",
                "attach 2",
                "add-inferior",
                "inferior 3",
                "attach 3",
                "inferior 1",
                evals[10],
            ]
        );
        assert!(evals[10].starts_with("echo ") && evals[10].contains("debugging 3 inferiors"), "{}", evals[10]);
        assert_eq!(&argv[argv.len() - 3..], ["-batch", "-ex", "bt"]);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/gdb"), "/usr/bin/gdb");
        assert_eq!(shell_quote("attach 42"), "'attach 42'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
