//! `/logging`: kresd's log level, target and debug groups, and dnstap.

use super::escape::quote;
use super::{Lua, boolean, string_table};
use crate::config::{LogGroup, LoggingSchema};

/// Worker logging: level (debug when the `kresd` group is listed), target, kresd debug groups, dnstap.
pub(super) fn worker(lua: &mut Lua, logging: &LoggingSchema) {
    common(lua, logging, LogGroup::Kresd);
    let dnstap = &logging.dnstap;
    if let (true, Some(socket)) = (dnstap.enable, &dnstap.unix_socket) {
        lua.line("modules.load('dnstap')");
        lua.line("dnstap.config({");
        lua.line(format!("    socket_path = {},", quote(&socket.display())));
        lua.line("    client = {");
        lua.line(format!("        log_queries = {},", boolean(dnstap.log_queries)));
        lua.line(format!("        log_responses = {},", boolean(dnstap.log_responses)));
        lua.line(format!("        log_tcp_rtt = {},", boolean(dnstap.log_tcp_rtt)));
        lua.line("    },");
        lua.line("})");
    }
}

/// Policy-loader logging: level (debug when the `policy-loader` group is listed), target, kresd debug groups.
pub(super) fn policy_loader(lua: &mut Lua, logging: &LoggingSchema) {
    common(lua, logging, LogGroup::PolicyLoader);
}

fn common(lua: &mut Lua, logging: &LoggingSchema, process: LogGroup) {
    let level = if logging.debug_for(process) { "debug" } else { logging.level.as_str() };
    lua.line(format!("log_level({})", quote(level)));
    lua.line(format!("log_target({})", quote(logging.target.as_str())));
    let groups: Vec<&str> =
        logging.groups.iter().flatten().filter(|g| g.is_kresd_group()).map(|g| g.as_str()).collect();
    if !groups.is_empty() {
        lua.line(format!("log_groups({})", string_table(groups)));
    }
}
