//! `/cache`: the shared LMDB cache, TTL bounds, prefill and prefetching.

use super::escape::quote;
use super::{Lua, path_text};
use crate::config::CacheSchema;

/// `cache.open(<bytes>, 'lmdb://<storage>')` (the policy-loader needs it too: the rules engine uses the cache).
pub(super) fn open(lua: &mut Lua, cache: &CacheSchema) {
    let uri = format!("lmdb://{}", path_text(cache.storage.path()));
    lua.line(format!("cache.open({}, {})", cache.size_max.bytes(), quote(&uri)));
}

pub(super) fn worker(lua: &mut Lua, cache: &CacheSchema) {
    open(lua, cache);
    lua.line(format!("cache.min_ttl({})", cache.ttl_min.seconds()));
    lua.line(format!("cache.max_ttl({})", cache.ttl_max.seconds()));
    lua.line(format!("cache.ns_tout({})", cache.ns_timeout.millis()));
    if let Some(prefill) = &cache.prefill {
        lua.line("modules.load('prefill')");
        lua.line("prefill.config({");
        for item in prefill {
            lua.line(format!("    [{}] = {{", quote(item.origin.punycode())));
            lua.line(format!("        url = {},", quote(item.url.as_str())));
            lua.line(format!("        interval = {},", item.refresh_interval.seconds()));
            if let Some(ca_file) = &item.ca_file {
                lua.line(format!("        ca_file = {},", quote(&ca_file.display())));
            }
            lua.line("    },");
        }
        lua.line("})");
    }
    if cache.prefetch.expiring {
        lua.line("modules.load('prefetch')");
    }
    let prediction = &cache.prefetch.prediction;
    if prediction.enable {
        lua.line("modules.load('predict')");
        lua.line(format!(
            "predict.config({{ window = {}, period = {} }})",
            prediction.window.minutes(),
            prediction.period.get()
        ));
    }
}
