//! `kresctl reload [--force]`: the manager re-reads its configuration files and applies them (a rolling restart of
//! the workers that need it). Unlike the reference's, our manager answers when the work is done and with a failure
//! status when it failed, so the exit code tells whether the new configuration is in force. Like the reference's,
//! it prints nothing on success (the manager's summary is in its log) and the manager's answer on stderr with
//! exit code 1 on failure. `--watch` shows the manager's progress until the reload is done ([`crate::watch`]).

use kres_datamodel::api::history::Source;
use kres_datamodel::api::routes;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Restart every worker and re-run the policy-loader, even if the configuration has not changed.
    #[arg(long)]
    pub force: bool,

    /// Show the manager's progress (validation, canary, each worker replaced, ...) until the reload is done.
    #[arg(long)]
    pub watch: bool,
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let send = || -> anyhow::Result<()> {
        client.post(routes::reload_path(args.force), None)?.success()?;
        Ok(())
    };
    if args.watch { crate::watch::around(client, Source::Reload, send) } else { send() }
}
