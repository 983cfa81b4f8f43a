//! `kresctl config get|set|delete|patch`: the running resolver's configuration through `/v1/config{pointer}`.
//!
//! As in the reference, `get` prints YAML by default (`--json` for JSON indented by 4) and `set` takes the new
//! value from a file if one of that name exists, else from the argument itself, else from stdin; the value is
//! parsed as JSON, then YAML, and sent as JSON with PUT. Beyond the reference: `patch` (a JSON Patch, RFC 6902,
//! sent with PATCH) and `--dry-run` on the writes (the manager validates the change and runs the canary but
//! applies nothing). A successful write prints the manager's outcome (new ETag, restarted workers, ...).
//! `--if-match ETAG` sends `If-Match`: the write applies only if the running configuration still has that ETag
//! (412 otherwise); `--watch` shows the manager's progress until the change is done ([`crate::watch`]).
//!
//! `config diff [FILE | GEN] [--json]`: what would change from the running configuration to FILE (read and
//! validated like `kresctl validate` does) or to history generation GEN (`GET /v1/history/{GEN}`): the changed
//! values by JSON pointer, then a unified diff of the two documents as YAML; `--json` prints the contract's
//! `Diff`, whose `from.etag` is the running configuration's: `kresctl config set --if-match <from.etag> FILE`
//! applies exactly what was diffed, or nothing if the configuration changed in between.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kres_datamodel::api::config::WriteOptions;
use kres_datamodel::api::history::{DiffSide, Source};
use kres_datamodel::api::http::{self, content_type};
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
    /// Show what changes from the running configuration to a file or to a generation of the history.
    Diff(DiffArgs),
}

/// `--if-match` and `--watch` of the writes.
#[derive(Debug, clap::Args)]
pub struct WriteFlags {
    /// Apply only if the running configuration still has this ETag (`config get` and `config diff --json` show
    /// it); the manager answers 412 and changes nothing otherwise.
    #[arg(long, value_name = "ETAG")]
    pub if_match: Option<String>,

    /// Show the manager's progress (validation, canary, each worker replaced, ...) until the change is done.
    #[arg(long, conflicts_with = "dry_run")]
    pub watch: bool,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// A configuration file (YAML or JSON; relative paths in it are resolved like `kresctl validate` does), or the
    /// number of a generation of the history (`kresctl history`).
    #[arg(value_name = "FILE|GEN")]
    pub target: String,

    /// Print the diff as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
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

    #[command(flatten)]
    pub flags: WriteFlags,

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

    #[command(flatten)]
    pub flags: WriteFlags,
}

#[derive(Debug, clap::Args)]
pub struct PatchArgs {
    /// Validate the change and run the canary, but apply nothing; prints what would happen.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub flags: WriteFlags,

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
            write(&client()?, "PUT", &target, Some(value), args.dry_run, &args.flags)
        }
        Operation::Delete(args) => {
            let target = config_target(&args.path)?;
            write(&client()?, "DELETE", &target, None, args.dry_run, &args.flags)
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
            write(&client()?, "PATCH", routes::CONFIG, Some(patch), args.dry_run, &args.flags)
        }
        Operation::Diff(args) => diff(args, &client()?),
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

/// Sends a write (with `If-Match`, watched, as `flags` say).
fn write(
    client: &Client,
    method: &str,
    target: &str,
    body: Option<serde_json::Value>,
    dry_run: bool,
    flags: &WriteFlags,
) -> anyhow::Result<()> {
    let client = match &flags.if_match {
        Some(etag) => client.clone().with_header(http::IF_MATCH, &http::etag_value(etag)),
        None => client.clone(),
    };
    let query = format!("{target}{}", WriteOptions { dry_run, force: false }.query());
    let send = || send(&client, method, &query, body);
    if flags.watch {
        // The manager records the request's path as the change's source.
        let source = Source::Api { method: method.to_owned(), route: target.to_owned() };
        crate::watch::around(&client, source, send)
    } else {
        send()
    }
}

/// Sends a change; prints the outcome (indented JSON).
pub(crate) fn send(client: &Client, method: &str, target: &str, body: Option<serde_json::Value>) -> anyhow::Result<()> {
    let body = body.map(|v| serde_json::to_vec(&v).expect("serializing a serde_json::Value cannot fail"));
    let response = client.request(method, target, body.as_deref().map(|b| (content_type::JSON, b)))?.success()?;
    if response.body.is_empty() {
        return Ok(());
    }
    let text = match response.json() {
        Ok(outcome) => super::schema::to_json_indent4(&outcome),
        Err(_) => response.text(),
    };
    Ok(crate::output::stdout_line(&text)?)
}

/// `config diff`: from the running configuration to a file or a generation.
fn diff(args: &DiffArgs, client: &Client) -> anyhow::Result<()> {
    let running = client.get(routes::CONFIG)?.success()?;
    let from = DiffSide { generation: None, etag: etag_of(&running)? };
    let running = running.json()?;
    let generation = args.target.parse::<u64>().ok().filter(|_| !Path::new(&args.target).exists());
    let (document, to, label) = match generation {
        Some(generation) => {
            let response = client.get(&routes::history_path(generation))?.success()?;
            let to = DiffSide { generation: Some(generation), etag: etag_of(&response)? };
            (response.json()?, to, format!("generation {generation}"))
        }
        None => {
            let file = PathBuf::from(&args.target);
            let (raw, config) = kres_datamodel::load_files(
                std::slice::from_ref(&file),
                false,
                kres_datamodel::SystemFacts::from_system(),
            )?;
            super::leak(config);
            let document = raw.to_json();
            let to = DiffSide { generation: None, etag: kres_datamodel::etag::etag(&document) };
            (document, to, args.target.clone())
        }
    };
    let diff = kres_datamodel::diff::diff((&running, from), (&document, to), ("running configuration", &label));
    if args.json {
        let value = serde_json::to_value(&diff).expect("a diff is JSON");
        return Ok(crate::output::stdout_line(&super::schema::to_json_indent4(&value))?);
    }
    if diff.changes.is_empty() {
        return Ok(crate::output::stdout_line(&format!(
            "no differences between the running configuration and {label}"
        ))?);
    }
    let mut text = String::new();
    for change in &diff.changes {
        let value = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        text.push_str(&match change.op.as_str() {
            "add" => format!("+ {}: {}\n", change.path, value(&change.new)),
            "remove" => format!("- {}\n", change.path),
            _ => format!("~ {}: {} -> {}\n", change.path, value(&change.old), value(&change.new)),
        });
    }
    text.push('\n');
    text.push_str(&diff.unified);
    Ok(crate::output::stdout(&text)?)
}

/// The ETag of a response (without quotes).
fn etag_of(response: &crate::client::Response) -> anyhow::Result<String> {
    let etag = response.header("etag").context("the manager sent no ETag")?;
    Ok(http::entity_tags(etag).next().unwrap_or_default().to_owned())
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
