//! `kresctl stop`: the manager stops every worker, the policy-loader and the cache garbage collector, then exits.

use crate::client::Client;

pub fn run(client: &Client) -> anyhow::Result<()> {
    let response = client.post("/stop", None)?.success()?;
    Ok(crate::output::stdout_line(response.text().trim_end())?)
}
