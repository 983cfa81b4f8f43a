//! `/forward` and `/fallback`: forwarding of subtrees to other servers, and the fallback on resolution failure.
//!
//! Both the policy-loader (which stores the rules in the rules database) and every worker (for the side effects
//! of `policy.rule_forward_add`, e.g. the negative trust anchor of non-DNSSEC authoritative forwarding) render the
//! forwarding rules.

use super::escape::quote;
use super::{Batched, Lua, boolean, string_table};
use crate::config::{FallbackSchema, ForwardSchema, ForwardServer};

/// `policy.rule_forward_add(<subtree>, {dnssec, auth}, {<targets>})` per subtree.
pub(super) fn rules(lua: &mut Lua, forward: &[ForwardSchema]) {
    if forward.is_empty() {
        lua.line("-- No forwarding rules.");
    }
    let lua = &mut Batched::new(lua);
    for item in forward {
        let options =
            format!("{{ dnssec = {}, auth = {} }}", boolean(item.options.dnssec), boolean(item.options.authoritative));
        let targets = targets(&item.servers);
        for subtree in &item.subtree {
            lua.line(format!("policy.rule_forward_add({}, {options}, {targets})", quote(subtree.punycode())));
        }
    }
}

/// `modules.load('fallback')` and its targets, when enabled.
pub(super) fn fallback(lua: &mut Lua, fallback: &FallbackSchema) {
    let Some(servers) = fallback.servers.as_deref().filter(|_| fallback.enable) else {
        lua.line("-- The fallback is disabled.");
        return;
    };
    lua.line("modules.load('fallback')");
    lua.line("fallback.config({");
    lua.line(format!("    targets = {},", targets(servers)));
    lua.line("    options = {},");
    lua.line("})");
}

/// The targets table of `policy.rule_forward_add` / `fallback.config`: one `{'<addr>[@<port>]', ...}` entry
/// per address, with the TLS authentication options of its server.
fn targets(servers: &[ForwardServer]) -> String {
    let mut entries = Vec::new();
    for server in servers {
        let mut auth = Vec::new();
        if let Some(options) = server.options() {
            if server.is_tls() {
                auth.push("tls = true".to_owned());
            }
            if let Some(hostname) = &options.hostname {
                auth.push(format!("hostname = {}", quote(hostname.punycode())));
            }
            if let Some(pins) = &options.pin_sha256 {
                auth.push(format!("pin_sha256 = {}", string_table(pins.iter().map(|p| p.as_str()))));
            }
            if let Some(ca_file) = &options.ca_file {
                auth.push(format!("ca_file = {}", quote(&ca_file.display())));
            }
        }
        for address in server.addresses() {
            let target = match address.port {
                Some(port) => format!("{}@{port}", address.addr),
                None => address.addr.to_string(),
            };
            let mut fields = vec![quote(&target)];
            fields.extend(auth.iter().cloned());
            entries.push(format!("{{{}}}", fields.join(", ")));
        }
    }
    format!("{{{}}}", entries.join(", "))
}
