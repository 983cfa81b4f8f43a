//! `kresctl pids [kresd|gc|all] [--json]`: the PIDs of the resolver's processes (`/processes/{type}`), one per line,
//! or with `--json` the manager's list of `{"type", "pid", "status"}` (indented by 2, like the reference).

use anyhow::bail;
use serde_json::Value;

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
    pub fn name(self) -> &'static str {
        match self {
            ProcessType::Kresd => "kresd",
            ProcessType::Gc => "gc",
            ProcessType::All => "all",
        }
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

/// One process as the manager lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub json: Value,
}

/// The processes of `kind` from `/processes/<kind>`.
pub fn processes(client: &Client, kind: ProcessType) -> anyhow::Result<Vec<Process>> {
    let value = client.get(&format!("/processes/{}", kind.name()))?.success()?.json()?;
    let Value::Array(items) = value else {
        bail!("unexpected answer from the manager: expected a list of processes, got {value}");
    };
    items
        .into_iter()
        .map(|item| match item.get("pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok()) {
            Some(pid) => Ok(Process { pid, json: item }),
            None => bail!("unexpected answer from the manager: a process without a PID: {item}"),
        })
        .collect()
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let processes = processes(client, args.proc_type)?;
    let text = if args.json {
        let list = Value::Array(processes.into_iter().map(|p| p.json).collect());
        serde_json::to_string_pretty(&list).expect("serializing a serde_json::Value cannot fail") + "\n"
    } else {
        processes.iter().map(|p| format!("{}\n", p.pid)).collect()
    };
    Ok(crate::output::stdout(&text)?)
}
