//! `kresctl fleet ...`: fleet mode's operator commands, straight to etcd (docs/fleet.md). The cluster is named by
//! `--etcd HOST:PORT[,...] --prefix P`, or by the `fleet` section of `-c CONFIG`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use kres_fleet::admin::{self, FleetStatus};
use kres_fleet::keys::Keys;
use kres_fleet::kv::{EtcdKv, EtcdOptions};
use kres_fleet::model::RolloutState;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// etcd endpoints, comma-separated host:port (default: /fleet/etcd/endpoints of '-c CONFIG').
    #[arg(long, value_name = "ENDPOINTS", global = true)]
    pub etcd: Option<String>,

    /// The fleet's key prefix in etcd (default: /fleet/etcd/prefix of '-c CONFIG', else /knot-resolver).
    #[arg(long, value_name = "PREFIX", global = true)]
    pub prefix: Option<String>,

    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum FleetCommand {
    /// Validates FILE and publishes it as the fleet's next configuration generation; prints its number.
    Publish {
        /// The configuration (YAML or JSON) every node merges over its local file.
        file: PathBuf,
    },
    /// Shows the desired and stable generations, the rollout and every node.
    Status {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Print the status again whenever it changes, until the rollout is done or halted.
        #[arg(long)]
        watch: bool,
    },
    /// Rolls the fleet out to an earlier generation (default: the one before the stable generation).
    Rollback {
        /// The generation to return to.
        generation: Option<u64>,
    },
    /// Stops the rollout in progress where it is (nodes already moved stay moved).
    Halt,
    /// Continues a rollout stopped by 'halt'.
    Resume,
}

/// The cluster and prefix from the arguments, else from the configuration file's `fleet` section (which also
/// supplies TLS and the etcd user).
fn connect(args: &Args, config: Option<&std::path::Path>) -> anyhow::Result<(EtcdKv, Keys)> {
    let from_file = match config {
        Some(path) => {
            let cfg = super::load(&[path.to_path_buf()], false)?;
            let (opts, keys) =
                kres_fleet::config::connection(&cfg.fleet).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Some((opts, keys))
        }
        None => None,
    };
    let endpoints: Vec<String> = match (&args.etcd, &from_file) {
        (Some(list), _) => list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from).collect(),
        (None, Some((o, _))) => o.endpoints.clone(),
        (None, None) => {
            bail!("name the etcd cluster: --etcd HOST:PORT[,HOST:PORT...], or -c CONFIG with a fleet section")
        }
    };
    if endpoints.is_empty() {
        bail!("no etcd endpoint given (--etcd, or /fleet/etcd/endpoints of the configuration)");
    }
    let prefix = match (&args.prefix, &from_file) {
        (Some(p), _) => p.clone(),
        (None, Some((_, k))) => k.prefix().to_string(),
        (None, None) => kres_datamodel::config::DEFAULT_FLEET_PREFIX.to_string(),
    };
    // TLS and the etcd user come from the configuration file only.
    let mut opts = match from_file {
        Some((o, _)) => o,
        None => EtcdOptions::new(Vec::<String>::new()),
    };
    opts.endpoints = endpoints;
    Ok((EtcdKv::new(opts), Keys::new(&prefix)))
}

pub fn run(args: &Args, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    // Validate a file to publish before anything reaches out to etcd.
    let document = match &args.command {
        FleetCommand::Publish { file } => {
            let (raw, config) = kres_datamodel::load_files(
                std::slice::from_ref(file),
                false,
                kres_datamodel::SystemFacts::from_system(),
            )?;
            // What belongs to each node stays in its local file: the generation is merged over it.
            for (path, present) in [
                ("/fleet", raw.get("fleet").is_some()),
                ("/management", raw.get("management").is_some()),
                ("/rundir", raw.get("rundir").is_some()),
                ("/network/listen", raw.get("network").and_then(|n| n.get("listen")).is_some()),
            ] {
                if present {
                    bail!(
                        "{}: {path} is node-specific: it stays in each node's local file, which the fleet's \
                         generation is merged over; remove it from the published configuration",
                        file.display()
                    );
                }
            }
            super::leak((raw, config));
            Some(std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?)
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
    runtime.block_on(async {
        let (kv, keys) = connect(args, config)?;
        match &args.command {
            FleetCommand::Publish { .. } => {
                let g = admin::publish(&kv, &keys, document.as_deref().unwrap_or_default()).await?;
                crate::output::stdout_line(&g.to_string())?;
            }
            FleetCommand::Status { json, watch } => status(&kv, &keys, *json, *watch).await?,
            FleetCommand::Rollback { generation } => {
                let g = admin::rollback(&kv, &keys, *generation).await?;
                crate::output::stdout_line(&format!("desired is generation {g} again; the coordinator rolls it out"))?;
            }
            FleetCommand::Halt => {
                let r = admin::halt(&kv, &keys).await?;
                crate::output::stdout_line(&format!(
                    "rollout of generation {} halted at node {} of {}",
                    r.generation,
                    r.cursor,
                    r.order.len()
                ))?;
            }
            FleetCommand::Resume => {
                let r = admin::resume(&kv, &keys).await?;
                crate::output::stdout_line(&format!("rollout of generation {} resumed", r.generation))?;
            }
        }
        Ok(())
    })
}

async fn status(kv: &EtcdKv, keys: &Keys, json: bool, watch: bool) -> anyhow::Result<()> {
    let mut last: Option<FleetStatus> = None;
    loop {
        let s = admin::status(kv, keys).await?;
        if last.as_ref() != Some(&s) {
            let text = if json { serde_json::to_string(&s)? } else { render(&s) };
            crate::output::stdout_line(&text)?;
        }
        // Settled: the rollout of `desired` finished or halted, or (after a rollback) `desired` is `stable` again.
        let settled = s.rollout.as_ref().is_some_and(|r| {
            matches!(r.state, RolloutState::Done | RolloutState::Halted)
                && (Some(r.generation) == s.desired || s.desired == s.stable)
        });
        if !watch || settled {
            return Ok(());
        }
        last = Some(s);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn gen_text(g: Option<u64>) -> String {
    g.map_or_else(|| "-".to_string(), |g| g.to_string())
}

/// The text form: the generations, the rollout, one line per node.
fn render(s: &FleetStatus) -> String {
    let mut out = format!("desired: {}  stable: {}", gen_text(s.desired), gen_text(s.stable));
    if let Some(c) = &s.coordinator {
        out.push_str(&format!("  coordinator: {c}"));
    }
    if let Some(r) = &s.rollout {
        out.push_str(&format!(
            "\nrollout: generation {} from {}: {} ({} of {} nodes)",
            r.generation,
            r.from,
            r.state.as_str(),
            r.cursor,
            r.order.len()
        ));
        if let Some(n) = &r.failed_node {
            out.push_str(&format!("\n  failed node: {n}"));
        }
        if let Some(why) = &r.reason {
            out.push_str(&format!("\n  reason: {why}"));
        }
    }
    for n in &s.nodes {
        out.push_str(&format!(
            "\n  {:<20} {:<5} generation {:<4} {}{}",
            n.name,
            if n.alive { "up" } else { "DOWN" },
            n.generation,
            n.state,
            n.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    out
}
