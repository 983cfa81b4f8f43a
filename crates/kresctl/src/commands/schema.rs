//! `kresctl schema [--live] [FILE | -o FILE]`: the JSON Schema of the configuration (indented by 4 like the
//! reference), built in or, with `--live`, the running manager's (`/schema`).

use std::path::PathBuf;

use kres_datamodel::api::routes;
use serde::Serialize;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Get the schema from the running resolver's management API.
    #[arg(short, long)]
    pub live: bool,

    /// File to write the JSON schema to. If not specified, the schema is printed.
    #[arg(value_name = "FILE", conflicts_with = "output")]
    pub file: Option<PathBuf>,

    /// The same as FILE.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &Args, client: impl FnOnce() -> anyhow::Result<Client>) -> anyhow::Result<()> {
    let text = if args.live {
        // Re-indented, so that the output is the same as the built-in schema's when the schemas are.
        to_json_indent4(&client()?.get(routes::SCHEMA)?.success()?.json()?)
    } else {
        to_json_indent4(&kres_datamodel::json_schema())
    };
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
