//! `/local-data`: static addresses, hosts files, zone-file records, rules and RPZ, stored in the rules database
//! by the policy-loader.

use super::escape::{long_bracket, quote};
use super::{Batched, Lua, boolean, string_table};
use crate::config::{LocalDataSchema, RpzLog, RpzSchema, RuleSchema, RuleSubtree};
use crate::types::{IdPattern, TimeUnit};

/// How a batch of rules is stored: TTL, tags and whether other types get NODATA.
struct RuleArgs {
    ttl: String,
    tags: String,
    nodata: bool,
}

impl RuleArgs {
    fn new(ttl: Option<&TimeUnit>, tags: &[IdPattern], nodata: bool) -> Self {
        RuleArgs {
            ttl: ttl.map_or_else(|| "C.KR_RULE_TTL_DEFAULT".to_owned(), |t| t.seconds().to_string()),
            tags: if tags.is_empty() {
                "0".to_owned()
            } else {
                format!("policy.get_tagset({})", string_table(tags.iter().map(|t| t.as_str())))
            },
            nodata,
        }
    }
}

pub(super) fn policy_loader(lua: &mut Lua, local_data: &LocalDataSchema) {
    lua.line("modules = { 'hints > iterate' }");
    let ttl = local_data.ttl.as_ref();
    let defaults = RuleArgs::new(ttl, &[], local_data.nodata);
    let lua = &mut Batched::new(lua);
    for (name, address) in local_data.address_pairs() {
        local_address(lua, name.punycode(), &address.addr.to_string(), &defaults);
    }
    for file in local_data.addresses_files.iter().flatten() {
        local_hosts(lua, &file.display(), &defaults);
    }
    if let Some(records) = &local_data.records {
        zonefile(lua, Zonefile::Records(records.as_str()), &defaults, None);
    }
    for rule in local_data.rules.iter().flatten() {
        self::rule(lua, rule, local_data);
    }
    for rpz in local_data.rpz.iter().flatten() {
        let args = RuleArgs::new(ttl, rpz.tag_list(), local_data.nodata);
        zonefile(lua, Zonefile::Rpz(&rpz.file.display()), &args, Some(Opts::Rpz(rpz)));
    }
}

fn rule(lua: &mut Batched, rule: &RuleSchema, local_data: &LocalDataSchema) {
    let args = RuleArgs::new(
        rule.ttl.as_ref().or(local_data.ttl.as_ref()),
        rule.tag_list(),
        rule.nodata.unwrap_or(local_data.nodata),
    );
    for name in rule.name.iter().flatten() {
        for address in rule.address.iter().flatten() {
            local_address(lua, name.punycode(), &address.addr.to_string(), &args);
        }
        if let Some(subtree) = rule.subtree {
            let kind = match subtree {
                RuleSubtree::Empty => "EMPTY",
                RuleSubtree::Nxdomain => "NXDOMAIN",
                RuleSubtree::Redirect => "REDIRECT",
            };
            lua.line(format!(
                "assert(C.kr_rule_local_subtree(todname({}), C.KR_RULE_SUB_{kind}, {}, {}, C.KR_RULE_OPTS_DEFAULT) == 0)",
                quote(name.punycode()),
                args.ttl,
                args.tags
            ));
        }
    }
    if rule.name.is_none() {
        for file in rule.file.iter().flatten() {
            local_hosts(lua, &file.display(), &args);
        }
        if let Some(records) = &rule.records {
            zonefile(lua, Zonefile::Records(records.as_str()), &args, Some(Opts::Rule));
        }
    }
}

fn local_address(lua: &mut Batched, name: &str, address: &str, args: &RuleArgs) {
    lua.line(format!(
        "assert(C.kr_rule_local_address({}, {}, {}, {}, {}, C.KR_RULE_OPTS_DEFAULT) == 0)",
        quote(name),
        quote(address),
        boolean(args.nodata),
        args.ttl,
        args.tags
    ));
}

fn local_hosts(lua: &mut Batched, file: &str, args: &RuleArgs) {
    lua.line(format!(
        "assert(C.kr_rule_local_hosts({}, {}, {}, {}, C.KR_RULE_OPTS_DEFAULT) == 0)",
        quote(file),
        boolean(args.nodata),
        args.ttl,
        args.tags
    ));
}

enum Zonefile<'a> {
    /// Zone-file text from the configuration.
    Records(&'a str),
    /// An RPZ file, read by kresd.
    Rpz(&'a str),
}

/// Rule options beyond the defaults: rules from `/local-data/rules` and RPZ get score 9, RPZ may log matches.
enum Opts<'a> {
    Rule,
    Rpz(&'a RpzSchema),
}

fn zonefile(lua: &mut Batched, input: Zonefile, args: &RuleArgs, opts: Option<Opts>) {
    let lua = lua.statement();
    lua.line("do");
    lua.line("    local rrs = ffi.new('struct kr_rule_zonefile_config')");
    lua.line(format!("    rrs.ttl = {}", args.ttl));
    lua.line(format!("    rrs.tags = {}", args.tags));
    lua.line(format!("    rrs.nodata = {}", boolean(args.nodata)));
    match input {
        Zonefile::Records(text) => {
            lua.line("    rrs.is_rpz = false");
            // A string constant of this chunk: it outlives the kr_rule_zonefile() call that reads it.
            lua.line(format!("    rrs.input_str = {}", long_bracket(text)));
        }
        Zonefile::Rpz(file) => {
            lua.line("    rrs.is_rpz = true");
            lua.line(format!("    rrs.filename = {}", quote(file)));
        }
    }
    lua.line("    rrs.opts = C.KR_RULE_OPTS_DEFAULT");
    if let Some(opts) = opts {
        lua.line("    rrs.opts.score = 9");
        if let Opts::Rpz(RpzSchema { log: Some(log), .. }) = opts {
            lua.line("    rrs.opts.log_level = 3 -- notice");
            if log.contains(&RpzLog::Ip) {
                lua.line("    rrs.opts.log_ip = true");
            }
            if log.contains(&RpzLog::Name) {
                lua.line("    rrs.opts.log_name = true");
            }
        }
    }
    lua.line("    assert(C.kr_rule_zonefile(rrs) == 0)");
    lua.line("end");
}
