//! `kresctl schema [FILE | -o FILE]`: the JSON Schema of the configuration (indented by 4 like the reference).
//! `--live` (ask the running manager) comes with the online commands.

use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to write the JSON schema to. If not specified, the schema is printed.
    #[arg(value_name = "FILE", conflicts_with = "output")]
    pub file: Option<PathBuf>,

    /// The same as FILE.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let text = to_json_indent4(&kres_datamodel::json_schema());
    crate::output::to_file_or_stdout(args.file.as_deref().or(args.output.as_deref()), &text)
}

/// Pretty JSON indented by 4 spaces (Python's `json.dumps(..., indent=4)` layout).
pub fn to_json_indent4(value: &serde_json::Value) -> String {
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    value.serialize(&mut ser).expect("serializing a serde_json::Value into memory cannot fail");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}
