//! `/dns64`: AAAA synthesis from A records.

use super::escape::quote;
use super::{Lua, string_table};
use crate::config::Dns64Schema;

pub(super) fn worker(lua: &mut Lua, dns64: &Dns64Schema) {
    if !dns64.enable {
        lua.line("-- DNS64 is disabled.");
        return;
    }
    lua.line("modules.load('dns64')");
    lua.line("dns64.config({");
    lua.line(format!("    prefix = {},", quote(&dns64.prefix.network().addr.to_string())));
    if let Some(ttl) = &dns64.reverse_ttl {
        lua.line(format!("    rev_ttl = {},", ttl.seconds()));
    }
    if let Some(subnets) = &dns64.exclude_subnets {
        lua.line(format!("    exclude_subnets = {},", string_table(subnets.iter().map(|s| s.as_str()))));
    }
    lua.line("})");
}
