//! `kresctl stop`: the manager stops every worker, the policy-loader and the cache garbage collector, then exits.
//! Like the reference's, it prints nothing on success (exit 0) and the manager's answer on stderr with exit code 1
//! on failure.

use kres_datamodel::api::routes;

use crate::client::Client;

pub fn run(client: &Client) -> anyhow::Result<()> {
    client.post(routes::STOP, None)?.success()?;
    Ok(())
}
