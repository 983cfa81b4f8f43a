//! `/rate-limiting`: per-client query limits, state shared by the workers in `<rundir>/ratelimiting`.

use super::escape::quote;
use super::{Lua, RenderContext, boolean};
use crate::config::RateLimitingSchema;

pub(super) fn worker(lua: &mut Lua, rl: &RateLimitingSchema, cx: &RenderContext) {
    let Some(rate_limit) = rl.rate_limit.filter(|_| rl.enable) else {
        lua.line("-- Rate limiting is disabled.");
        return;
    };
    lua.line("assert(C.ratelimiting_init(");
    lua.line(format!("    {},", quote(&cx.rundir_file("ratelimiting"))));
    lua.line(format!("    {}, -- capacity", rl.capacity.get()));
    lua.line(format!("    {}, -- instant limit", rl.instant_limit.get()));
    lua.line(format!("    {}, -- rate limit", rate_limit.get()));
    lua.line(format!("    {}, -- slip", rl.slip.get()));
    lua.line(format!("    {}, -- log period (ms)", rl.log_period.millis()));
    lua.line(format!("    {} -- dry run", boolean(rl.dry_run)));
    lua.line(") == 0)");
}
