//! `kresctl config get|set|delete|patch`: the running resolver's configuration through `/v1/config{pointer}`.
//!
//! As in the reference, `get` prints YAML by default (`--json` for JSON indented by 4) and `set` takes the new
//! value from a file if one of that name exists, else from the argument itself, else from stdin; the value is
//! parsed as JSON, then YAML, and sent as JSON with PUT. Beyond the reference: `patch` (a JSON Patch, RFC 6902,
//! sent with PATCH) and `--dry-run` on the writes (the manager validates the change and runs the canary but
//! applies nothing). A successful write prints the manager's outcome (new ETag, restarted workers, ...).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kres_datamodel::api::config::WriteOptions;
use kres_datamodel::api::http::content_type;
use kres_datamodel::api::routes;
use kres_datamodel::parse::parse_document;

use crate::client::Client;

#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct Args {
    #[command(subcommand)]
    pub operation: Operation,
}

const PATH_HELP: &str = "JSON pointer (RFC 6901) to the configuration resource, e.g. /network/listen/0. By default, \
                         the entire configuration is selected.";

#[derive(Debug, clap::Subcommand)]
pub enum Operation {
    /// Get the current configuration from the resolver.
    Get(GetArgs),
    /// Set a new configuration (or a part of it, with --path) for the resolver.
    Set(SetArgs),
    /// Delete the configuration property or list item at the given path.
    Delete(DeleteArgs),
    /// Apply a JSON Patch (RFC 6902) to the resolver's configuration, atomically.
    Patch(PatchArgs),
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    #[arg(short, long, value_name = "PTR", default_value = "", hide_default_value = true, help = PATH_HELP)]
    pub path: String,

    /// Get the configuration data in JSON format.
    #[arg(long, conflicts_with = "yaml")]
    pub json: bool,

    /// Get the configuration data in YAML format (the default).
    #[arg(long)]
    pub yaml: bool,

    /// File to save the configuration data to. If not specified, it is printed.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    #[arg(short, long, value_name = "PTR", default_value = "", hide_default_value = true, help = PATH_HELP)]
    pub path: String,

    /// Validate the change and run the canary, but apply nothing; prints what would happen.
    #[arg(long)]
    pub dry_run: bool,

    /// A file with the new value, or the value itself (JSON or YAML). If not specified, it is read from stdin.
    #[arg(value_name = "VALUE|FILE", allow_hyphen_values = true)]
    pub value: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[arg(short, long, value_name = "PTR", default_value = "", hide_default_value = true, help = PATH_HELP)]
    pub path: String,

    /// Validate the change and run the canary, but apply nothing; prints what would happen.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct PatchArgs {
    /// Validate the change and run the canary, but apply nothing; prints what would happen.
    #[arg(long)]
    pub dry_run: bool,

    /// A file with the JSON Patch (a list of operations such as {"op": "replace", "path": "/workers", "value":
    /// 2}, in JSON or YAML), or the patch itself. If not specified, it is read from stdin.
    #[arg(value_name = "PATCH|FILE", allow_hyphen_values = true)]
    pub patch: Option<String>,
}

pub fn run(args: &Args, client: impl FnOnce() -> anyhow::Result<Client>) -> anyhow::Result<()> {
    match &args.operation {
        Operation::Get(args) => {
            let target = config_target(&args.path)?;
            get(args, &target, &client()?)
        }
        Operation::Set(args) => {
            let target = config_target(&args.path)?;
            let value = read_value(args.value.as_deref(), "configuration")?;
            write(&client()?, "PUT", &target, Some(value), args.dry_run)
        }
        Operation::Delete(args) => {
            let target = config_target(&args.path)?;
            write(&client()?, "DELETE", &target, None, args.dry_run)
        }
        Operation::Patch(args) => {
            let patch = read_value(args.patch.as_deref(), "JSON Patch")?;
            if !patch.is_array() {
                bail!(
                    "a JSON Patch is a list of operations, such as [{{\"op\": \"replace\", \"path\": \"/workers\", \
                     \"value\": 2}}]; got {}",
                    kind(&patch)
                );
            }
            write(&client()?, "PATCH", routes::CONFIG, Some(patch), args.dry_run)
        }
    }
}

fn get(args: &GetArgs, target: &str, client: &Client) -> anyhow::Result<()> {
    let response = client.get(target)?.success()?;
    if response.body.is_empty() {
        // The reference's manager answers a pointer to nothing with an empty 200; its client prints nothing.
        return Ok(());
    }
    let value = response.json()?;
    let text = if args.json { super::schema::to_json_indent4(&value) + "\n" } else { crate::yaml::to_yaml(&value) };
    match &args.file {
        Some(file) => {
            crate::output::file(file, &text)?;
            Ok(crate::output::stdout_line(&format!("saved to: {}", file.display()))?)
        }
        None => Ok(crate::output::stdout(&text)?),
    }
}

/// Sends a write; prints the outcome (indented JSON).
fn write(
    client: &Client,
    method: &str,
    target: &str,
    body: Option<serde_json::Value>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let target = format!("{target}{}", WriteOptions { dry_run, force: false }.query());
    let body = body.map(|v| serde_json::to_vec(&v).expect("serializing a serde_json::Value cannot fail"));
    let response = client.request(method, &target, body.as_deref().map(|b| (content_type::JSON, b)))?.success()?;
    if response.body.is_empty() {
        return Ok(());
    }
    let text = match response.json() {
        Ok(outcome) => super::schema::to_json_indent4(&outcome),
        Err(_) => response.text(),
    };
    Ok(crate::output::stdout_line(&text)?)
}

/// `/v1/config` followed by the percent-encoded pointer (which must be empty or start with `/`).
fn config_target(pointer: &str) -> anyhow::Result<String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        bail!(
            "invalid --path '{pointer}': a JSON pointer (RFC 6901) is empty (the whole configuration) or starts \
             with '/', e.g. '/{pointer}'"
        );
    }
    Ok(routes::config_path(pointer))
}

/// The reference's input rule: the contents of the file named `arg` if it exists, else `arg` itself, else stdin
/// (one line typed at a terminal, everything when stdin is a pipe or a file); parsed as JSON, then YAML.
fn read_value(arg: Option<&str>, what: &str) -> anyhow::Result<serde_json::Value> {
    let (text, source) = match arg {
        Some(arg) if Path::new(arg).is_file() => {
            let text = std::fs::read_to_string(arg).with_context(|| format!("cannot read '{arg}'"))?;
            (text, arg.to_owned())
        }
        Some(arg) => (arg.to_owned(), "the command line".to_owned()),
        None => (read_stdin(what)?, "stdin".to_owned()),
    };
    if text.trim().is_empty() {
        bail!("no {what} given ({source} is empty)");
    }
    let node = parse_document(&text, &source).with_context(|| format!("cannot parse the {what} from {source}"))?;
    Ok(node.to_json())
}

fn read_stdin(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "Type new {what}: ");
        let _ = stderr.flush();
        stdin.lock().read_line(&mut text).context("cannot read stdin")?;
    } else {
        stdin.lock().read_to_string(&mut text).context("cannot read stdin")?;
    }
    Ok(text)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(config_target("").unwrap(), "/v1/config");
        assert_eq!(config_target("/workers").unwrap(), "/v1/config/workers");
        assert_eq!(config_target("/a b").unwrap(), "/v1/config/a%20b");
        let e = config_target("workers").unwrap_err().to_string();
        assert!(e.contains("'/workers'"), "{e}");
    }

    #[test]
    fn values_are_json_then_yaml() {
        assert_eq!(read_value(Some("3"), "x").unwrap(), serde_json::json!(3));
        assert_eq!(read_value(Some("{\"a\": [1]}"), "x").unwrap(), serde_json::json!({"a": [1]}));
        assert_eq!(read_value(Some("a: b"), "x").unwrap(), serde_json::json!({"a": "b"}));
        assert_eq!(read_value(Some("text"), "x").unwrap(), serde_json::json!("text"));
        assert!(read_value(Some("  "), "x").is_err());
        assert!(read_value(Some("a: [b"), "x").is_err());
    }
}
