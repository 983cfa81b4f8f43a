//! `kresctl convert [--strict] [--type worker|policy-loader] [-o FILE] [FILE...]`: offline rendering of the Lua
//! script a kresd worker or the policy-loader would run.

use std::path::PathBuf;

use kres_datamodel::lua;

use crate::DEFAULT_CONFIG_FILE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScriptType {
    /// The kresd worker configuration (kresd<N>.conf).
    Worker,
    /// The policy-loader configuration (policy-loader.conf).
    PolicyLoader,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Enable strict rules during validation, e.g. path/file existence and permissions.
    #[arg(long)]
    pub strict: bool,

    /// The type of Lua script to generate.
    #[arg(long = "type", value_enum, default_value_t = ScriptType::Worker)]
    pub script_type: ScriptType,

    /// Output file for the Lua script. If not specified, the script is printed.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// File or combination of files with configuration in YAML or JSON format.
    #[arg(value_name = "INPUT_FILE", default_value = DEFAULT_CONFIG_FILE)]
    pub input_file: Vec<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let config = super::load(&args.input_file, args.strict)?;
    let script = match args.script_type {
        ScriptType::Worker => lua::render_worker(&config)?,
        ScriptType::PolicyLoader => lua::render_policy_loader(&config)?,
    };
    super::leak(config);
    crate::output::to_file_or_stdout(args.output.as_deref(), &script)
}
