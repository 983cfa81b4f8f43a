//! `/v1/config{pointer}` writes (PUT, PATCH, DELETE): the query parameters ([`WriteOptions`]) and the answer
//! ([`WriteOutcome`]). Reads answer the configuration (or the part the pointer names) as JSON.

use serde::{Deserialize, Serialize};

/// `?dry-run=true`: validate the change and run the canary, apply nothing.
pub const DRY_RUN: &str = "dry-run";
/// Other spellings of [`DRY_RUN`] the server accepts.
pub const DRY_RUN_ALIASES: [&str; 2] = ["dry_run", "dryrun"];
/// `?force=true`: restart every worker even if nothing changed.
pub const FORCE: &str = "force";

/// The query parameters of a configuration write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub force: bool,
}

impl WriteOptions {
    /// Parses the decoded query parameters. Unknown parameters are refused (a typo must not apply a change);
    /// a flag is `true`/`1`/`yes` or empty, or `false`/`0`/`no`. The error is the message for the client.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<WriteOptions, String> {
        let mut options = WriteOptions::default();
        for (key, value) in pairs {
            let flag = if key == DRY_RUN || DRY_RUN_ALIASES.contains(&key.as_str()) {
                &mut options.dry_run
            } else if key == FORCE {
                &mut options.force
            } else {
                return Err(format!(
                    "unknown query parameter '{key}'; the configuration routes accept '{DRY_RUN}' and '{FORCE}'"
                ));
            };
            *flag = match value.to_ascii_lowercase().as_str() {
                "" | "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(format!("query parameter '{key}': '{value}' is not true or false")),
            };
        }
        Ok(options)
    }

    /// The query string for a request path: empty, or `?dry-run=true`, `?force=true`, joined with `&`.
    pub fn query(&self) -> String {
        let set: Vec<String> = [(DRY_RUN, self.dry_run), (FORCE, self.force)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| format!("{name}=true"))
            .collect();
        if set.is_empty() { String::new() } else { format!("?{}", set.join("&")) }
    }
}

/// The answer of a successful write: what the change did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// ETag of the configuration in force afterwards (for a dry run: of the tested document).
    pub etag: String,
    /// Whether the document changed.
    pub changed: bool,
    pub dry_run: bool,
    /// Worker instances that were (would be) replaced by a rolling restart.
    pub restarted_workers: Vec<u32>,
    /// Whether the policy-loader ran (rules were reloaded in the workers).
    pub rules_reloaded: bool,
    /// Whether a canary kresd accepted the new worker configuration (`null`: no canary was needed).
    pub canary: Option<bool>,
    /// How long the change took.
    pub seconds: f64,
    /// The history generation the change was recorded as (absent for a dry run, a change that applied nothing,
    /// or when the history is not available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// What applying the change takes (would take, for a dry run): the worst `x-kres-apply` of the changed fields
    /// (`live`, `rules`, `restart`, `manager`); absent when nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<crate::impact::Impact>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn write_options_are_strict() {
        let parse = |q: &str| WriteOptions::from_pairs(&pairs(q));
        assert_eq!(parse("dry-run=true").unwrap(), WriteOptions { dry_run: true, force: false });
        assert_eq!(parse("dry-run").unwrap(), WriteOptions { dry_run: true, force: false });
        assert_eq!(parse("dry_run=yes").unwrap(), WriteOptions { dry_run: true, force: false });
        assert_eq!(parse("force=1&dry-run=false").unwrap(), WriteOptions { dry_run: false, force: true });
        assert_eq!(parse("").unwrap(), WriteOptions::default());
        assert!(parse("dryrn=true").unwrap_err().contains("unknown query parameter 'dryrn'"));
        assert!(parse("dry-run=maybe").unwrap_err().contains("'maybe' is not true or false"));
    }

    #[test]
    fn query_strings_round_trip() {
        assert_eq!(WriteOptions::default().query(), "");
        assert_eq!(WriteOptions { dry_run: true, force: false }.query(), "?dry-run=true");
        for options in [
            WriteOptions { dry_run: true, force: true },
            WriteOptions { dry_run: false, force: true },
            WriteOptions::default(),
        ] {
            let query = options.query();
            assert_eq!(WriteOptions::from_pairs(&pairs(query.trim_start_matches('?'))).unwrap(), options);
        }
    }
}
