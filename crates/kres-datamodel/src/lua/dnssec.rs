//! `/dnssec`: validation modules and trust anchors.

use super::escape::quote;
use super::options::load_or_unload;
use super::{Lua, boolean, string_table};
use crate::config::DnssecSchema;

pub(super) fn worker(lua: &mut Lua, dnssec: &DnssecSchema) {
    if !dnssec.enable {
        lua.line("-- DNSSEC validation is disabled: no root trust anchor.");
        lua.line("trust_anchors.remove('.')");
        return;
    }
    if dnssec.log_bogus {
        lua.line("modules.load('bogus_log')");
    }
    load_or_unload(lua, "ta_sentinel", dnssec.sentinel);
    load_or_unload(lua, "ta_signal_query", dnssec.signal_query);
    for anchor in dnssec.trust_anchors.iter().flatten() {
        lua.line(format!("trust_anchors.add({})", quote(anchor.as_str())));
    }
    if let Some(names) = &dnssec.negative_trust_anchors {
        lua.line(format!("trust_anchors.set_insecure({})", string_table(names.iter().map(|n| n.punycode()))));
    }
    for file in dnssec.trust_anchors_files.iter().flatten() {
        lua.line(format!("trust_anchors.add_file({}, {})", quote(&file.file.display()), boolean(file.read_only)));
    }
}
