//! `kresctl validate [--strict] [FILE...]`: offline validation of configuration files.

use std::path::PathBuf;

use crate::DEFAULT_CONFIG_FILE;

/// Printed after a successful non-strict validation (wording of the reference).
pub const NON_STRICT_NOTE: &str = "\
Basic validation was successful.
If you want more strict validation, you can use the '--strict' switch.
During strict validation, the existence and access rights of paths are also checked.

However, if you are using an additional file system permission control mechanism,
such as access control lists (ACLs), this validation will likely fail.
This is because the validation runs under a different user/group than the resolver itself
and attempts to access the configured paths directly.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Enable strict rules during validation, e.g. paths/files existence and permissions.
    #[arg(long)]
    pub strict: bool,

    /// File or combination of files with the declarative configuration in YAML or JSON format.
    #[arg(value_name = "INPUT_FILE", default_value = DEFAULT_CONFIG_FILE)]
    pub input_file: Vec<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    super::leak(super::load(&args.input_file, args.strict)?);
    if !args.strict {
        crate::output::stdout_line(NON_STRICT_NOTE)?;
    }
    Ok(())
}
