//! `kresctl rollback [GEN] [--if-match ETAG] [--watch]`: applies the configuration of history generation GEN
//! again (`POST /v1/history/{GEN}/rollback`), through the manager's whole pipeline; the manager records it as a
//! new generation. Prints the outcome like `config set`.
//!
//! Without GEN: the newest applied generation older than the one in force whose configuration differs from the
//! running one (so a rollback always changes something), sent with `If-Match` on the running ETag that choice was
//! made from: if the configuration changes meanwhile, the manager refuses (412) rather than roll back to a
//! generation chosen against another state.

use anyhow::bail;
use kres_datamodel::api::history::Source;
use kres_datamodel::api::http::{IF_MATCH, etag_value};
use kres_datamodel::api::routes;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The generation to roll back to (`kresctl history` lists them). Default: the applied generation before the
    /// one in force.
    #[arg(value_name = "GEN")]
    pub generation: Option<u64>,

    /// Roll back only if the running configuration still has this ETag (as `config diff --json` shows it).
    #[arg(long, value_name = "ETAG")]
    pub if_match: Option<String>,

    /// Show the manager's progress (validation, canary, each worker replaced, ...) until the rollback is done.
    #[arg(long)]
    pub watch: bool,
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let (generation, expected) = match args.generation {
        Some(generation) => (generation, args.if_match.clone()),
        None => {
            let (generation, running) = default_target(client)?;
            (generation, Some(args.if_match.clone().unwrap_or(running)))
        }
    };
    let client = match &expected {
        Some(etag) => client.clone().with_header(IF_MATCH, &etag_value(etag)),
        None => client.clone(),
    };
    let send = || super::config::send(&client, "POST", &routes::history_rollback_path(generation), None);
    if args.watch { crate::watch::around(&client, Source::Rollback { of: generation }, send) } else { send() }
}

/// The generation a bare `kresctl rollback` goes back to, and the running ETag it was chosen against.
fn default_target(client: &Client) -> anyhow::Result<(u64, String)> {
    let running = super::history::running_etag(client)?;
    let page = super::history::fetch(client, 0, 1000)?;
    let Some(in_force) = super::history::in_force(&page.generations, &running) else {
        bail!(
            "the configuration in force is not among the newest {} generations of the history; give the generation \
             to roll back to (kresctl history lists them)",
            page.generations.len()
        );
    };
    let previous = page
        .generations
        .iter()
        .filter(|g| g.number < in_force && g.result.is_applied() && g.etag != running)
        .map(|g| g.number)
        .next();
    match previous {
        Some(generation) => Ok((generation, running)),
        None => bail!(
            "no earlier applied generation with another configuration than the one in force (generation \
             {in_force}); nothing to roll back to"
        ),
    }
}
