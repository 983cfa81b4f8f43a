//! `/monitoring` (worker side): the control socket the manager talks to and the metrics helpers it calls.

use super::escape::quote;
use super::{Lua, RenderContext};
use crate::config::{MetricsMode, MonitoringSchema};

/// The control socket `<rundir>/control/<SYSTEMD_INSTANCE>` and `collect_lazy_statistics()` /
/// `collect_statistics()` (reference-manager.md §6); the `stats` module is loaded up front for `always`.
pub(super) fn worker(lua: &mut Lua, monitoring: &MonitoringSchema, cx: &RenderContext) {
    let control_dir = format!("{}/", cx.rundir_file("control"));
    lua.line("-- The manager controls this worker through the socket <rundir>/control/<worker id>.");
    lua.line("do");
    lua.line("    local id = os.getenv('SYSTEMD_INSTANCE')");
    lua.line("    if id == nil or id == '' then");
    lua.line(
        "        log_error(C.LOG_GRP_SYSTEM, 'environment variable SYSTEMD_INSTANCE is not set, so this worker has \
         no control socket; kresd workers are meant to be started by the manager with SYSTEMD_INSTANCE=<worker id>')",
    );
    lua.line("    else");
    lua.line(format!("        local path = {} .. id", quote(&control_dir)));
    lua.line("        local ok, err = pcall(net.listen, path, nil, { kind = 'control' })");
    lua.line("        if not ok then");
    lua.line(
        "            log_error(C.LOG_GRP_NETWORK, 'cannot listen on the control socket ' .. path .. ': ' .. tostring(err))",
    );
    lua.line("        end");
    lua.line("    end");
    lua.line("end");
    lua.blank();
    if monitoring.metrics == MetricsMode::Always {
        lua.line("modules.load('stats')");
        lua.blank();
    }
    lua.line(
        "-- The manager collects metrics with this when /monitoring/metrics is 'lazy' (stats is loaded on first use).",
    );
    lua.line("function collect_lazy_statistics()");
    lua.line("    if stats == nil then");
    lua.line("        modules.load('stats')");
    lua.line("    end");
    lua.line("    return stats.list()");
    lua.line("end");
    lua.blank();
    lua.line(
        "-- The manager collects metrics with this when /monitoring/metrics is 'always' (stats is loaded at start).",
    );
    lua.line("function collect_statistics()");
    lua.line("    return stats.list()");
    lua.line("end");
}
