//! `kresctl history [--json] [--limit N] [--offset N]`: the configuration generations the manager recorded,
//! newest first (`GET /v1/history`). For people, a table with the generation in force marked `*` (the newest
//! applied generation whose ETag is the running configuration's); for scripts, `--json` prints the page as the
//! manager sends it.

use anyhow::Context;
use kres_datamodel::api::history::{Client as Who, Generation, HistoryPage, Outcome, Source};
use kres_datamodel::api::routes;

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the page of history as JSON (for scripts).
    #[arg(long)]
    pub json: bool,

    /// How many generations to show (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: u64,

    /// Skip the N newest generations.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u64,
}

pub fn run(args: &Args, client: &Client) -> anyhow::Result<()> {
    let page = fetch(client, args.offset, args.limit)?;
    if args.json {
        let value = serde_json::to_value(&page).expect("a history page is JSON");
        return Ok(crate::output::stdout_line(&super::schema::to_json_indent4(&value))?);
    }
    let running = running_etag(client)?;
    Ok(crate::output::stdout(&table(&page, in_force(&page.generations, &running)))?)
}

/// One page of the history.
pub(crate) fn fetch(client: &Client, offset: u64, limit: u64) -> anyhow::Result<HistoryPage> {
    let response = client.get(&format!("{}?offset={offset}&limit={limit}", routes::HISTORY))?.success()?;
    serde_json::from_slice(&response.body).context("the manager's history page is not what kresctl expects")
}

/// The ETag of the configuration in force (`GET /v1/config`).
pub(crate) fn running_etag(client: &Client) -> anyhow::Result<String> {
    let response = client.get(routes::CONFIG)?.success()?;
    let etag = response.header("etag").context("the manager sent no ETag with the configuration")?;
    Ok(kres_datamodel::api::http::entity_tags(etag).next().unwrap_or_default().to_owned())
}

/// The generation in force: the newest applied one whose document is the running configuration.
pub(crate) fn in_force(generations: &[Generation], running: &str) -> Option<u64> {
    generations.iter().find(|g| g.result.is_applied() && g.etag == running).map(|g| g.number)
}

/// How the table (and `--watch`) names a source.
pub fn source_text(source: &Source) -> String {
    match source {
        Source::Startup { .. } => "files at start".into(),
        Source::Api { method, route } => format!("{method} {route}"),
        Source::Reload => "reload".into(),
        Source::Sighup => "SIGHUP".into(),
        Source::Watcher { path } => format!("watcher {path}"),
        Source::Rollback { of } => format!("rollback to {of}"),
        Source::Fleet => "fleet".into(),
    }
}

fn table(page: &HistoryPage, in_force: Option<u64>) -> String {
    let header = ["GEN", "TIME", "RESULT", "SOURCE", "CLIENT", "ETAG", "RESTARTED", "DURATION"].map(String::from);
    let mut rows = vec![header.to_vec()];
    for g in &page.generations {
        let mark = if Some(g.number) == in_force { "*" } else { " " };
        let result = match &g.result {
            Outcome::Applied => "applied",
            Outcome::Refused { .. } => "refused",
            Outcome::RolledBack { .. } => "rolled-back",
        };
        let client = match &g.client {
            Some(Who::Peer { uid, pid }) => format!("uid {uid} pid {pid}"),
            Some(Who::Token { name }) => format!("token {name}"),
            None => "-".into(),
        };
        let restarted = if g.restarted_workers.is_empty() {
            "-".to_owned()
        } else {
            g.restarted_workers.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        };
        rows.push(vec![
            format!("{mark}{}", g.number),
            g.time.clone(),
            result.into(),
            source_text(&g.source),
            client,
            g.etag.clone(),
            restarted,
            format!("{} ms", g.duration_ms),
        ]);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let reasons: Vec<String> = page
        .generations
        .iter()
        .filter_map(|g| match &g.result {
            Outcome::Refused { reason } | Outcome::RolledBack { reason } => Some(format!("  {}: {reason}", g.number)),
            Outcome::Applied => None,
        })
        .collect();
    if !reasons.is_empty() {
        out.push_str("\nwhy not applied:\n");
        out.push_str(&reasons.join("\n"));
        out.push('\n');
    }
    out.push_str(&match in_force {
        Some(n) => format!("\n* in force: generation {n}. {} of {} shown.\n", page.generations.len(), page.total),
        None => format!("\n{} of {} generations shown.\n", page.generations.len(), page.total),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(number: u64, etag: &str, result: Outcome) -> Generation {
        Generation {
            number,
            etag: etag.into(),
            time: "2026-01-01T00:00:00.000Z".into(),
            source: Source::Api { method: "PUT".into(), route: "/v1/config/workers".into() },
            client: Some(Who::Peer { uid: 0, pid: 7 }),
            result,
            duration_ms: 12,
            restarted_workers: vec![0, 1],
        }
    }

    #[test]
    fn table_marks_the_generation_in_force() {
        let generations = vec![
            generation(3, "c", Outcome::Refused { reason: "canary".into() }),
            generation(2, "b", Outcome::Applied),
            generation(1, "a", Outcome::Applied),
        ];
        assert_eq!(in_force(&generations, "b"), Some(2));
        assert_eq!(in_force(&generations, "c"), None, "a refused generation is never in force");
        let page = HistoryPage { total: 3, offset: 0, generations };
        let text = table(&page, Some(2));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("GEN  TIME"), "{text}");
        assert!(lines[2].starts_with("*2 ") && lines[2].contains("uid 0 pid 7"), "{text}");
        assert!(lines[1].contains("refused") && lines[2].contains("0,1") && lines[2].ends_with("12 ms"), "{text}");
        assert!(text.contains("  3: canary") && text.contains("* in force: generation 2"), "{text}");
    }
}
