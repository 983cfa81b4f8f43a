//! `/options`: resolver behaviour switches.

use super::escape::quote;
use super::{Lua, boolean};
use crate::config::OptionsSchema;

pub(super) fn worker(lua: &mut Lua, options: &OptionsSchema) {
    lua.line(format!("mode({})", quote(options.glue_checking.as_str())));
    if options.rebinding_protection {
        lua.line("modules.load('rebinding < iterate')");
    }
    if options.violators_workarounds {
        lua.line("modules.load('workarounds < iterate')");
    }
    if options.serve_stale {
        lua.line("modules.load('serve_stale < cache')");
    }
    load_or_unload(lua, "priming", options.priming);
    load_or_unload(lua, "detect_time_jump", options.time_jump_detection);
    load_or_unload(lua, "refuse_nord", options.refuse_no_rd);
    lua.line(format!("option('NO_MINIMIZE', {})", boolean(!options.minimize)));
    lua.line(format!("option('ALLOW_LOCAL', {})", boolean(options.query_loopback)));
    lua.line(format!("option('REORDER_RR', {})", boolean(options.reorder_rrset)));
    lua.line(format!("option('NO_0X20', {})", boolean(!options.query_case_randomization)));
}

/// `modules.load('<module>')` or `modules.unload('<module>')`; `module` is a constant name.
pub(super) fn load_or_unload(lua: &mut Lua, module: &str, load: bool) {
    let verb = if load { "load" } else { "unload" };
    lua.line(format!("modules.{verb}({})", quote(module)));
}
