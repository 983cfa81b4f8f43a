//! `kresctl cache clear [--exact-name] [--rr-type T] [--chunk-size N] [NAME] [--json|--yaml]`: purges cache
//! records through `/cache/clear`. The request is checked here first, like the reference does (the name must be
//! a domain name, `--rr-type` needs `--exact-name`); the manager checks it again. Prints kresd's answer, e.g.
//! `count: 3`.

use anyhow::bail;
use kres_datamodel::api::cache::{CacheClearRequest, CacheClearResponse, DEFAULT_CHUNK_SIZE};
use kres_datamodel::api::routes;
use kres_datamodel::types::DomainName;

use crate::client::Client;

#[derive(Debug, clap::Args)]
#[command(arg_required_else_help = true)]
pub struct Args {
    #[command(subcommand)]
    pub operation: Operation,
}

#[derive(Debug, clap::Subcommand)]
pub enum Operation {
    /// Purge cache records that match the given criteria.
    Clear(ClearArgs),
}

#[derive(Debug, clap::Args)]
pub struct ClearArgs {
    /// Purge only the records with exactly this name (not the whole subtree).
    #[arg(long)]
    pub exact_name: bool,

    /// The record type to purge (e.g. AAAA). Only supported with --exact-name.
    #[arg(long, value_name = "TYPE")]
    pub rr_type: Option<String>,

    /// The number of records to remove in one round; the default is 100. The resolver repeats the clearing after
    /// one millisecond until all matching data is cleared, so that it is not blocked for long.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHUNK_SIZE, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_size: u64,

    /// The subtree (or, with --exact-name, the name) to purge. If omitted, the entire cache is purged (and the
    /// other parameters are ignored).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Print the result in JSON.
    #[arg(long, conflicts_with = "yaml")]
    pub json: bool,

    /// Print the result in YAML (the default).
    #[arg(long)]
    pub yaml: bool,
}

pub fn run(args: &Args, client: impl FnOnce() -> anyhow::Result<Client>) -> anyhow::Result<()> {
    match &args.operation {
        Operation::Clear(args) => clear(args, &client()?),
    }
}

/// The `/cache/clear` request, checked like the manager checks it (every problem listed with its path).
pub fn request(args: &ClearArgs) -> anyhow::Result<CacheClearRequest> {
    let mut errors = Vec::new();
    if let Some(name) = &args.name
        && let Err(e) = DomainName::parse(name)
    {
        errors.push(format!("[/name] {e}"));
    }
    if let Some(rr_type) = &args.rr_type {
        if !args.exact_name {
            errors.push("[/rr-type] 'rr-type' is only supported with 'exact-name: true' (add --exact-name)".into());
        }
        if rr_type.is_empty() || !rr_type.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            errors.push(format!("[/rr-type] '{rr_type}' is not a DNS record type (e.g. A, AAAA, MX)"));
        }
    }
    if !errors.is_empty() {
        bail!("invalid cache clear request:\n{}", errors.join("\n"));
    }
    Ok(CacheClearRequest {
        name: args.name.clone(),
        exact_name: args.exact_name,
        rr_type: args.rr_type.as_ref().map(|t| t.to_ascii_uppercase()),
        chunk_size: args.chunk_size,
    })
}

fn clear(args: &ClearArgs, client: &Client) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&request(args)?).expect("serializing a cache clear request cannot fail");
    // kresd's result, printed as the manager passed it on (its keys in kresd's order).
    let result: CacheClearResponse = client.post(routes::CACHE_CLEAR, Some(&body))?.success()?.json()?;
    let text = if args.json { super::schema::to_json_indent4(&result) + "\n" } else { crate::yaml::to_yaml(&result) };
    Ok(crate::output::stdout(&text)?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(name: Option<&str>, exact_name: bool, rr_type: Option<&str>) -> ClearArgs {
        ClearArgs {
            exact_name,
            rr_type: rr_type.map(Into::into),
            chunk_size: 100,
            name: name.map(Into::into),
            json: false,
            yaml: false,
        }
    }

    #[test]
    fn bodies() {
        let body = |a: &ClearArgs| serde_json::to_value(request(a).unwrap()).unwrap();
        assert_eq!(body(&args(None, false, None)), json!({"exact-name": false, "chunk-size": 100}));
        assert_eq!(
            body(&args(Some("example.com."), true, Some("aaaa"))),
            json!({"name": "example.com.", "exact-name": true, "rr-type": "AAAA", "chunk-size": 100})
        );
        // What kresctl sends, the manager accepts as it is.
        let sent = request(&args(Some("example.com."), true, Some("aaaa"))).unwrap();
        assert_eq!(CacheClearRequest::from_json(&serde_json::to_value(&sent).unwrap()).unwrap(), sent);
    }

    #[test]
    fn errors_are_listed_with_paths() {
        let e = request(&args(Some("a..b"), false, Some("A"))).unwrap_err().to_string();
        assert!(e.contains("[/name]") && e.contains("only supported with 'exact-name: true'"), "{e}");
        let e = request(&args(None, true, Some("A A"))).unwrap_err().to_string();
        assert!(e.contains("[/rr-type]"), "{e}");
    }
}
