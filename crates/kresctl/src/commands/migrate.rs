//! `kresctl migrate [--json|--yaml] INPUT [OUTPUT]`: rewrites a configuration written for Knot Resolver < 6.0.17
//! into the current schema (the transformation is [`kres_datamodel::migrate`]).
//!
//! Unlike the reference, which prints its report and a `New migrated configuration` header on stdout together
//! with the document, the report (`removed /x`, `added /y`) goes to stderr, so stdout holds only the migrated
//! document: `kresctl migrate old.yaml > new.yaml` works.

use std::path::PathBuf;

use anyhow::Context;
use kres_datamodel::migrate::migrate;
use kres_datamodel::parse::parse_document;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Get migrated configuration data in JSON format.
    #[arg(long, conflicts_with = "yaml")]
    pub json: bool,

    /// Get migrated configuration data in YAML format (the default).
    #[arg(long)]
    pub yaml: bool,

    /// File with configuration in YAML or JSON format.
    #[arg(value_name = "INPUT_FILE")]
    pub input_file: PathBuf,

    /// Output file for the migrated configuration. If not specified, it is printed.
    #[arg(value_name = "OUTPUT_FILE")]
    pub output_file: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let name = args.input_file.display().to_string();
    let text = std::fs::read_to_string(&args.input_file)
        .with_context(|| format!("cannot read configuration file '{name}'"))?;
    let document = parse_document(&text, &name).with_context(|| format!("cannot parse configuration '{name}'"))?;
    let migration = migrate(&document.to_json()).with_context(|| format!("cannot migrate '{name}'"))?;

    for change in &migration.changes {
        eprintln!("{change}");
    }
    let out = if args.json {
        super::schema::to_json_indent4(&migration.config) + "\n"
    } else {
        crate::yaml::to_yaml(&migration.config)
    };
    match &args.output_file {
        Some(path) => crate::output::file(path, &out),
        None => {
            eprintln!("New migrated configuration (v{}):", env!("CARGO_PKG_VERSION"));
            Ok(crate::output::stdout(&out)?)
        }
    }
}
