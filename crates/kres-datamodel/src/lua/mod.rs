//! Lua rendering for kresd workers and the policy-loader.
//!
//! The manager runs kresd with two generated scripts (reference-manager.md §8):
//! * the **worker** config `kresd<N>.conf` ([`render_worker`]): logging, the control socket and metrics helpers,
//!   options, network, DNSSEC, forwarding, cache, DNS64, rate limiting, defer, then the custom `/lua` script;
//! * the **policy-loader** config `policy-loader.conf` ([`render_policy_loader`]): it fills the rules database
//!   (`<rundir>/ruledb`) with views, local data and forwarding rules, then quits. Workers open that database
//!   without clearing it and never see views or local data otherwise.
//!
//! One module per configuration section renders that section's Lua. Every user-supplied string goes through
//! [`escape`] ([`escape::quote`] or [`escape::long_bracket`]); numbers, booleans and addresses are printed from
//! their typed values. The only text pasted raw is the explicit escape hatch: `/lua/script`,
//! `/lua/policy-script` and the contents of `/lua/script-file` / `/lua/policy-script-file` (read while rendering).

mod cache;
mod defer;
mod dns64;
mod dnssec;
pub mod escape;
mod forward;
mod local_data;
mod logging;
mod monitoring;
mod network;
mod options;
mod rate_limiting;
mod script;
mod views;

use std::path::{Path, PathBuf};

use crate::config::KresConfig;
use escape::quote;

/// Which of the two generated scripts to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderTarget {
    /// `kresd<N>.conf`, run by every worker (`SYSTEMD_INSTANCE=<N> kresd -c kresd<N>.conf -n`).
    Worker,
    /// `policy-loader.conf`, run once per configuration change (`kresd -c policy-loader.conf -c - -n`).
    PolicyLoader,
    /// A canary's config: the worker config without the service listeners (`/network/listen`), plus one plain-DNS
    /// listener on `127.0.0.1@probe_port` for the manager's health probe, so that a canary answers nobody but the
    /// manager until it has passed the probe. The `/lua` scripts are kept as they are (a `net.listen` in them
    /// still runs).
    Canary {
        /// The loopback port of the probe listener (chosen by the manager).
        probe_port: u16,
    },
}

/// Facts the scripts depend on besides the configuration itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// The absolute run directory (kresd's cwd): control sockets, `defer` and `ratelimiting` live there.
    pub rundir: PathBuf,
    /// The number of workers sharing the `defer` state.
    pub workers: usize,
}

impl RenderContext {
    /// The context a configuration implies: its resolved `/rundir` (made absolute against the current directory
    /// if it is not already) and its `/workers` count.
    pub fn from_config(config: &KresConfig) -> Self {
        let rundir = config.rundir.path();
        let rundir = std::path::absolute(rundir).unwrap_or_else(|_| rundir.to_path_buf());
        RenderContext { rundir, workers: config.workers.count }
    }

    fn rundir_file(&self, name: &str) -> String {
        path_text(&self.rundir.join(name))
    }
}

/// Why a script could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A file whose contents go into the script could not be read.
    #[error("{config_path}: cannot read '{}': {source}; fix the path or the file's permissions", file.display())]
    ReadFile { config_path: &'static str, file: PathBuf, source: std::io::Error },
    /// A file whose contents go into the script is not UTF-8 text.
    #[error("{config_path}: '{}' is not UTF-8 text (invalid byte at offset {offset})", file.display())]
    NotUtf8 { config_path: &'static str, file: PathBuf, offset: usize },
}

/// Renders the worker config (`kresd<N>.conf`) with the context the configuration implies.
pub fn render_worker(config: &KresConfig) -> Result<String, RenderError> {
    render_with(config, &RenderContext::from_config(config), RenderTarget::Worker)
}

/// Renders the policy-loader config (`policy-loader.conf`) with the context the configuration implies.
pub fn render_policy_loader(config: &KresConfig) -> Result<String, RenderError> {
    render_with(config, &RenderContext::from_config(config), RenderTarget::PolicyLoader)
}

/// Renders one of the scripts with the context the configuration implies.
pub fn render(config: &KresConfig, target: RenderTarget) -> Result<String, RenderError> {
    render_with(config, &RenderContext::from_config(config), target)
}

/// Renders one of the scripts with an explicit context.
pub fn render_with(config: &KresConfig, cx: &RenderContext, target: RenderTarget) -> Result<String, RenderError> {
    let mut lua = Lua::default();
    match target {
        RenderTarget::Worker => worker(&mut lua, config, cx, None)?,
        RenderTarget::Canary { probe_port } => worker(&mut lua, config, cx, Some(probe_port))?,
        RenderTarget::PolicyLoader => policy_loader(&mut lua, config)?,
    }
    Ok(lua.0)
}

/// The worker config; with `probe` (a canary), its listeners are the probe listener on that port only.
fn worker(lua: &mut Lua, config: &KresConfig, cx: &RenderContext, probe: Option<u16>) -> Result<(), RenderError> {
    lua.line("-- kresd worker configuration, generated by the Knot Resolver manager; do not edit.");
    if let Some(port) = probe.filter(|_| config.lua.script_only) {
        lua.blank();
        network::probe_listener(lua, port);
    }
    if !config.lua.script_only {
        lua.blank();
        lua.line("ffi = require('ffi')");
        lua.line("local C = ffi.C");
        lua.blank();
        lua.line("-- Open the rules database prepared by the policy-loader; do not clear it.");
        lua.line("assert(C.kr_rules_init(nil, 0, false) == 0)");
        lua.blank();
        lua.line(format!("hostname({})", quote(config.hostname())));
        if let Some(nsid) = &config.nsid {
            lua.line("modules.load('nsid')");
            lua.line(format!("nsid.name({} .. worker.id)", quote(nsid.as_str())));
        }
        lua.section("LOGGING");
        logging::worker(lua, &config.logging);
        lua.section("MONITORING");
        monitoring::worker(lua, &config.monitoring, cx);
        lua.section("OPTIONS");
        options::worker(lua, &config.options);
        lua.section("NETWORK");
        network::worker(lua, &config.network, probe);
        lua.section("DNSSEC");
        dnssec::worker(lua, &config.dnssec);
        lua.section("FORWARD and FALLBACK");
        forward::rules(lua, config.forward.as_deref().unwrap_or_default());
        forward::fallback(lua, &config.fallback);
        lua.section("CACHE");
        cache::worker(lua, &config.cache);
        lua.section("DNS64");
        dns64::worker(lua, &config.dns64);
        lua.section("RATE-LIMITING");
        rate_limiting::worker(lua, &config.rate_limiting, cx);
        lua.section("DEFER");
        defer::worker(lua, &config.defer, cx);
    }
    lua.section("LUA");
    script::custom(lua, "/lua/script-file", config.lua.script_file.as_ref(), config.lua.script.as_deref())
}

fn policy_loader(lua: &mut Lua, config: &KresConfig) -> Result<(), RenderError> {
    lua.line("-- kresd policy-loader configuration, generated by the Knot Resolver manager; do not edit.");
    lua.line("-- It fills the rules database (ruledb) shared by the workers, then quits.");
    if !config.lua.policy_script_only {
        lua.blank();
        lua.line("ffi = require('ffi')");
        lua.line("local C = ffi.C");
        lua.section("LOGGING");
        logging::policy_loader(lua, &config.logging);
        lua.section("CACHE");
        lua.line("-- The rules engine needs an open cache.");
        cache::open(lua, &config.cache);
        lua.section("VIEWS");
        views::policy_loader(lua, config.views.as_deref().unwrap_or_default());
        lua.section("LOCAL-DATA");
        local_data::policy_loader(lua, &config.local_data);
        lua.section("FORWARD");
        forward::rules(lua, config.forward.as_deref().unwrap_or_default());
        lua.section("DEFER");
        lua.line("-- The policy-loader answers no queries: keep it away from the workers' defer state.");
        defer::disabled(lua);
    }
    lua.section("LUA");
    script::custom(
        lua,
        "/lua/policy-script-file",
        config.lua.policy_script_file.as_ref(),
        config.lua.policy_script.as_deref(),
    )?;
    lua.blank();
    lua.line("-- The policy-loader's work is done.");
    lua.line("quit()");
    Ok(())
}

/// Lua source being built, one statement per line.
#[derive(Debug, Default)]
pub(crate) struct Lua(String);

impl Lua {
    /// Appends one line (a newline is added).
    pub(crate) fn line(&mut self, line: impl AsRef<str>) {
        self.0.push_str(line.as_ref());
        self.0.push('\n');
    }

    pub(crate) fn blank(&mut self) {
        self.0.push('\n');
    }

    /// A blank line and a section header comment (`title` is a constant, never user text).
    pub(crate) fn section(&mut self, title: &str) {
        let dashes = 60usize.saturating_sub(title.len());
        self.0.push_str(&format!("\n-- {title} section {}\n", "-".repeat(dashes)));
    }

    /// Appends text verbatim (the `/lua` escape hatch), ending it with a newline if it has none.
    pub(crate) fn raw(&mut self, text: &str) {
        self.0.push_str(text);
        if !text.is_empty() && !text.ends_with('\n') {
            self.0.push('\n');
        }
    }
}

/// A run of independent statements (rules) that may be long. LuaJIT allows at most 65536 constants per function
/// and the main chunk would exceed that with some 30 000 local-data addresses (two strings each), so after the
/// first [`Batched::SIZE`] statements every further batch is wrapped in a function of its own.
pub(crate) struct Batched<'a> {
    lua: &'a mut Lua,
    count: usize,
}

impl<'a> Batched<'a> {
    pub(crate) const SIZE: usize = 1000;

    pub(crate) fn new(lua: &'a mut Lua) -> Self {
        Batched { lua, count: 0 }
    }

    /// The writer for the next statement (which may span several lines).
    pub(crate) fn statement(&mut self) -> &mut Lua {
        if self.count > 0 && self.count.is_multiple_of(Self::SIZE) {
            if self.count > Self::SIZE {
                self.lua.line("end)() end");
            }
            // `do` first: a line starting with `(` would continue the previous statement as a call.
            self.lua.line("do (function() -- more rules (a function has room for 65536 constants)");
        }
        self.count += 1;
        self.lua
    }

    /// A one-line statement.
    pub(crate) fn line(&mut self, line: impl AsRef<str>) {
        self.statement().line(line);
    }
}

impl Drop for Batched<'_> {
    fn drop(&mut self) {
        if self.count > Self::SIZE {
            self.lua.line("end)() end");
        }
    }
}

/// `true` / `false`.
pub(crate) fn boolean(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// A Lua table of quoted strings: `{'a', 'b'}`.
pub(crate) fn string_table<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(quote).collect();
    format!("{{{}}}", items.join(", "))
}

/// A path as text for a quoted literal (paths from a YAML/JSON document are always UTF-8).
pub(crate) fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> KresConfig {
        let node = crate::parse::parse_document(yaml, "t").expect("parses");
        crate::validate(&node, &crate::ValidationOptions::lenient()).expect("valid")
    }

    /// The lines of `a` that `b` lacks.
    fn missing<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
        let b: Vec<&str> = b.lines().collect();
        a.lines().filter(|l| !b.contains(l)).collect()
    }

    #[test]
    fn a_canary_is_the_worker_without_its_service_listeners_plus_the_probe_listener() {
        let config = config(
            "network: {listen: [{interface: 127.0.0.1@5353}, {interface: '::1@853', kind: dot}, \
             {unix-socket: /run/x.sock}]}\nlua: {script: 'x = 1'}",
        );
        let worker = render(&config, RenderTarget::Worker).unwrap();
        let canary = render(&config, RenderTarget::Canary { probe_port: 40001 }).unwrap();
        let dropped = missing(&worker, &canary);
        assert_eq!(dropped.len(), 3, "{dropped:?}");
        assert!(dropped.iter().all(|l| l.starts_with("net.listen(")), "only the service listeners go: {dropped:?}");
        let added = missing(&canary, &worker);
        assert_eq!(added[1], "net.listen('127.0.0.1', 40001, { kind = 'dns', freebind = false })", "{added:?}");
        assert_eq!(added.len(), 2, "a comment and the probe listener: {added:?}");
        assert!(canary.contains("{ kind = 'control' }") && canary.contains("x = 1"), "control socket and script kept");
    }

    #[test]
    fn a_script_only_canary_gets_its_probe_listener_before_the_script() {
        let config = config("lua: {script-only: true, script: 'x = 1'}");
        let worker = render(&config, RenderTarget::Worker).unwrap();
        let canary = render(&config, RenderTarget::Canary { probe_port: 40002 }).unwrap();
        assert_eq!(missing(&worker, &canary), Vec::<&str>::new());
        let probe = canary.find("net.listen('127.0.0.1', 40002").expect("probe listener");
        assert!(probe < canary.find("x = 1").unwrap());
    }
}
