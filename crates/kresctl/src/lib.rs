//! `kresctl`: the command-line client of the Knot Resolver 6 manager.
//!
//! One module per subcommand under [`commands`], dispatched by one `match` in [`run`]. The offline commands
//! (`validate`, `convert`, `schema`, `migrate`, `completion`) work on configuration files with [`kres_datamodel`];
//! the online ones (`config`, `reload`, `stop`, `metrics`, `cache`, `schema --live`, `pids`, `debug`) talk to the
//! manager's HTTP API with [`client::Client`], at the socket found by [`socket::determine_socket`].
//!
//! Results go to stdout, diagnostics to stderr. Exit codes, as the reference's: 0 success, 1 failure (invalid
//! configuration, unreadable file, no connection to the manager, a failure status from it: `status: N` and the
//! body on stderr), 2 bad command line (usage errors on stderr; `--help` and `-V` on stdout with 0).

pub mod client;
pub mod commands;
pub mod output;
pub mod socket;
pub mod watch;
pub mod yaml;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{Client, TlsOptions};
use crate::commands::hash_token;
use crate::commands::{
    cache, completion, config, convert, debug, fleet, history, metrics, migrate, pids, reload, rollback, schema, stop,
    validate,
};

/// The configuration file used when none is given (validate, convert, socket discovery).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/knot-resolver/config.yaml";

/// Knot Resolver command-line utility that serves as a client for communicating with the Knot Resolver management
/// API. The utility also provides tools to work with the resolver's declarative configuration (validate,
/// convert, ...).
#[derive(Debug, Parser)]
#[command(name = "kresctl", version, arg_required_else_help = true, max_term_width = 120)]
pub struct Cli {
    /// Path to the resolver's management API socket: a unix-domain socket path, or a URI
    /// (http+unix://<url-encoded path>, http://<address>:<port>, https://<host>:<port>). Cannot be used together
    /// with '--config'.
    #[arg(short, long, value_name = "SOCKET", conflicts_with = "config")]
    pub socket: Option<String>,

    /// The API token's secret, sent as 'Authorization: Bearer <secret>' over TCP and TLS (visible to other users
    /// in the process list: prefer '--token-file' or the KRES_API_TOKEN environment variable).
    #[arg(long, value_name = "SECRET", conflicts_with = "token_file")]
    pub token: Option<String>,

    /// A file whose first line is the API token's secret.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// CA certificates (PEM) that the manager's TLS certificate must chain to (default: the system's CAs).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// A client certificate (PEM) for mutual TLS; needs '--key'.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The private key (PEM) of '--cert'.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Path to the resolver's YAML or JSON configuration file with the management API configuration
    /// (/management). Cannot be used together with '--socket'.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Performs operations on the running resolver's configuration.
    Config(config::Args),
    /// Tells the resolver to reload its configuration files. Old processes are replaced by new ones (with the
    /// updated configuration) using rolling restarts, so DNS service is not interrupted.
    Reload(reload::Args),
    /// Lists the configuration generations the resolver recorded (newest first).
    History(history::Args),
    /// Applies the configuration of an earlier generation again (default: the one before the configuration in
    /// force).
    Rollback(rollback::Args),
    /// Tells the resolver to shut down everything.
    Stop,
    /// Gets the metrics of the running resolver in JSON (the default) or in the Prometheus format.
    Metrics(metrics::Args),
    /// Performs operations on the cache of the running resolver.
    Cache(cache::Args),
    /// Lists the PIDs of the resolver's processes (kresd workers, cache garbage collector).
    Pids(pids::Args),
    /// Runs GDB attached to the resolver's processes (a tool for Knot Resolver developers: the resolver stops
    /// answering while the debugger holds it).
    Debug(debug::Args),
    /// Validates configuration in JSON or YAML format.
    Validate(validate::Args),
    /// Converts JSON or YAML configuration to Lua script.
    Convert(convert::Args),
    /// Shows JSON-schema representation of the Knot Resolver's configuration.
    Schema(schema::Args),
    /// Migrates JSON or YAML configuration to the newer version.
    Migrate(migrate::Args),
    /// Prints a shell completion script for kresctl.
    Completion(completion::Args),
    /// Reads an API token's secret on stdin and prints its argon2id hash for /management/tokens.
    HashToken(hash_token::Args),
    /// Fleet mode through etcd: publish configuration generations, watch their rollout, halt, resume, roll back.
    Fleet(fleet::Args),
}

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    // Online commands find the API only after checking their own arguments.
    let client = || cli.client();
    match &cli.command {
        Command::Config(args) => config::run(args, client),
        Command::Reload(args) => reload::run(args, &client()?),
        Command::History(args) => history::run(args, &client()?),
        Command::Rollback(args) => rollback::run(args, &client()?),
        Command::Stop => stop::run(&client()?),
        Command::Metrics(args) => metrics::run(args, &client()?),
        Command::Cache(args) => cache::run(args, client),
        Command::Pids(args) => pids::run(args, &client()?),
        Command::Debug(args) => debug::run(args, &client()?),
        Command::Validate(args) => validate::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Schema(args) => schema::run(args, client),
        Command::Migrate(args) => migrate::run(args),
        Command::Completion(args) => completion::run(args),
        Command::HashToken(args) => hash_token::run(args),
        Command::Fleet(args) => fleet::run(args, cli.config.as_deref()),
    }
}

impl Cli {
    /// A client of the management API found by socket discovery (`-s`, `-c`, the default configuration file, the
    /// default socket).
    pub fn client(&self) -> anyhow::Result<Client> {
        let socket = socket::determine_socket(self.socket.as_deref(), self.config.as_deref())?;
        let tls = TlsOptions { cacert: self.cacert.clone(), cert: self.cert.clone(), key: self.key.clone() };
        Ok(Client::new(socket).with_token(self.token()?).with_tls(tls))
    }

    /// The token: '--token', else the first line of '--token-file', else `KRES_API_TOKEN` (if not empty).
    fn token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        if let Some(file) = &self.token_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("cannot read the --token-file '{}': {e}", file.display()))?;
            let token = text.lines().next().unwrap_or("").trim();
            if token.is_empty() {
                anyhow::bail!("the --token-file '{}' is empty", file.display());
            }
            return Ok(Some(token.to_owned()));
        }
        Ok(std::env::var("KRES_API_TOKEN").ok().filter(|t| !t.is_empty()))
    }
}

/// The whole program: parse the command line, run it, report failure on stderr with exit code 1.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `kresctl -V` prints the bare version, like the reference (`6.5.0`, not clap's `kresctl 6.5.0`).
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => e.exit(),
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `kresctl schema | head`: the reader went away, nothing more to say.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn socket_and_config_conflict() {
        let err = Cli::try_parse_from(["kresctl", "-s", "/x.sock", "-c", "c.yaml", "schema"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
