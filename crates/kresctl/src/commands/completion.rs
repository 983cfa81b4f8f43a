//! `kresctl completion [--bash|--fish|--zsh]`: prints the shell completion script generated from the command-line
//! definition (`clap_complete`), the same script the packages install (see the kres-dist crate). Source it, e.g.
//! `source <(kresctl completion --bash)`. The reference's `completion --args WORDS` protocol (completion words for
//! its own bash script) is not implemented: the generated scripts complete by themselves.

use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct Args {
    /// Print the bash completion script (the default).
    #[arg(long)]
    pub bash: bool,

    /// Print the fish completion script.
    #[arg(long)]
    pub fish: bool,

    /// Print the zsh completion script.
    #[arg(long)]
    pub zsh: bool,
}

impl Args {
    pub fn shell(&self) -> Shell {
        if self.fish {
            Shell::Fish
        } else if self.zsh {
            Shell::Zsh
        } else {
            Shell::Bash
        }
    }
}

/// The completion script of `kresctl` for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = crate::Cli::command().name("kresctl").bin_name("kresctl");
    cmd.build();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kresctl", &mut out);
    String::from_utf8(out).expect("completion scripts are UTF-8")
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    Ok(crate::output::stdout(&script(args.shell()))?)
}
