//! `/defer`: request prioritization, state shared by the workers in `<rundir>/defer`.

use super::escape::quote;
use super::{Lua, RenderContext};
use crate::config::DeferSchema;

pub(super) fn worker(lua: &mut Lua, defer: &DeferSchema, cx: &RenderContext) {
    if defer.enable {
        lua.line(format!(
            "assert(C.defer_init({}, {}, {}) == 0)",
            quote(&cx.rundir_file("defer")),
            defer.log_period.millis(),
            cx.workers
        ));
    } else {
        disabled(lua);
    }
}

/// Turns defer off (without a `defer_init` call kresd would set up a default one).
pub(super) fn disabled(lua: &mut Lua) {
    lua.line("assert(C.defer_init(nil, 0, 0) == 0)");
}
