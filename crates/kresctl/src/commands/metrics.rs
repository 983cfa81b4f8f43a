//! `kresctl metrics [--prometheus] [FILE]`: the workers' statistics from `/metrics/json` (printed as JSON indented
//! by 4, like the reference) or `/metrics/prometheus` (the Prometheus text as the manager sends it).

use std::path::PathBuf;

use kres_datamodel::api::routes;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Get the metrics in the Prometheus text format.
    #[arg(long)]
    pub prometheus: bool,

    /// File to write the metrics to. If not specified, they are printed.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let text = if args.prometheus {
        client.get(routes::METRICS_PROMETHEUS)?.success()?.text()
    } else {
        let value = client.get(routes::METRICS_JSON)?.success()?.json()?;
        super::schema::to_json_indent4(&value) + "\n"
    };
    match &args.file {
        Some(file) => crate::output::file(file, &text),
        None => Ok(crate::output::stdout(&text)?),
    }
}
