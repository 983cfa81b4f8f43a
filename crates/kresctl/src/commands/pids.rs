//! `kresctl pids [kresd|gc|all] [--json]`: the PIDs of the resolver's processes (`/processes/{type}`), one per line,
//! or with `--json` the manager's list of `{"type", "pid", "status"}` (the contract's [`Process`], indented by 2).

use anyhow::Context;
use kres_datamodel::api::processes::{Process, ProcessFilter};
use kres_datamodel::api::routes;
use serde::Deserialize;

use crate::client::Client;

/// Which of the manager's subprocesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProcessType {
    /// The kresd workers.
    Kresd,
    /// The cache garbage collector.
    Gc,
    /// Every subprocess.
    All,
}

impl ProcessType {
    /// The API's filter of the same name.
    pub fn filter(self) -> ProcessFilter {
        match self {
            ProcessType::Kresd => ProcessFilter::Kresd,
            ProcessType::Gc => ProcessFilter::Gc,
            ProcessType::All => ProcessFilter::All,
        }
    }

    pub fn name(self) -> &'static str {
        self.filter().as_str()
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The type of processes to list.
    #[arg(value_enum, value_name = "TYPE", default_value = "all")]
    pub proc_type: ProcessType,

    /// Print the manager's JSON: the type and status of every process besides its PID.
    #[arg(long)]
    pub json: bool,
}

/// The processes of `kind` from `/processes/<kind>`.
pub fn processes(client: &Client, kind: ProcessType) -> anyhow::Result<Vec<Process>> {
    let value = client.get(&routes::processes_path(kind.filter()))?.success()?.json()?;
    Vec::<Process>::deserialize(&value)
        .with_context(|| format!("unexpected answer from the manager: expected a list of processes, got {value}"))
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let processes = processes(client, args.proc_type)?;
    let text = if args.json {
        serde_json::to_string_pretty(&processes).expect("serializing processes cannot fail") + "\n"
    } else {
        processes.iter().map(|p| format!("{}\n", p.pid)).collect()
    };
    Ok(crate::output::stdout(&text)?)
}
