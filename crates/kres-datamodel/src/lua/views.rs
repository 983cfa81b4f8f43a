//! `/views`: per-client actions stored in the rules database by the policy-loader.
//!
//! `kr_view_insert_action` stores the action as Lua source that workers evaluate for matching clients; it is
//! built here only from typed values (flags, a number, tags validated as `[a-z0-9-]`), never from free text.

use super::escape::quote;
use super::{Batched, Lua, string_table};
use crate::config::{ViewAnswer, ViewProtocol, ViewSchema};

pub(super) fn policy_loader(lua: &mut Lua, views: &[ViewSchema]) {
    if views.is_empty() {
        lua.line("-- No views.");
    }
    let lua = &mut Batched::new(lua);
    for view in views {
        let dst = view.dst_subnet.as_ref().map_or("", |s| s.as_str());
        let protocols = protocol_set(view.protocols.as_deref().unwrap_or_default());
        let action = format!("policy.COMBINE({{{}}})", actions(view).join(", "));
        for subnet in &view.subnets {
            lua.line(format!(
                "assert(C.kr_view_insert_action({}, {}, {protocols}, {action}) == 0)",
                quote(subnet.as_str()),
                quote(dst)
            ));
        }
    }
}

/// `0` (any protocol) or `0 + 2^C.KR_PROTO_<P> + ...`.
fn protocol_set(protocols: &[ViewProtocol]) -> String {
    let mut set = String::from("0");
    for p in protocols {
        let name = match p {
            ViewProtocol::Udp53 => "UDP53",
            ViewProtocol::Tcp53 => "TCP53",
            ViewProtocol::Dot => "DOT",
            ViewProtocol::Doh => "DOH",
            ViewProtocol::Doq => "DOQ",
        };
        set.push_str(&format!(" + 2^C.KR_PROTO_{name}"));
    }
    set
}

/// The items of the view's `policy.COMBINE`: flags, price factor, then the tags or the answer. Each item is a
/// Lua expression yielding the action's source text.
fn actions(view: &ViewSchema) -> Vec<String> {
    let options = &view.options;
    let mut items = Vec::new();
    let flags: Vec<&str> = [
        ("NO_MINIMIZE", !options.minimize),
        ("DNS64_DISABLE", !options.dns64),
        ("FALLBACK_DISABLE", !options.fallback),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if !flags.is_empty() {
        items.push(quote(&format!("policy.FLAGS({})", string_table(flags))));
    }
    let factor = options.price_factor.0;
    if factor != 1.0 {
        // The factor in 1/65536 units; at most 65535 * 65536, which fits kresd's uint32.
        let factor16 = (factor * 65536.0).round() as u64;
        items.push(quote(&format!("policy.PRICE_FACTOR16({factor16})")));
    }
    match (&view.tags, view.answer) {
        (Some(tags), _) => items.push(format!("policy.TAGS_ASSIGN({})", string_table(tags.iter().map(|t| t.as_str())))),
        (None, Some(ViewAnswer::Allow)) => items.push("policy.TAGS_ASSIGN({})".to_owned()),
        (None, Some(ViewAnswer::Refused)) => items.push(quote("policy.REFUSE")),
        (None, Some(ViewAnswer::NoAnswer)) => items.push(quote("policy.NO_ANSWER")),
        (None, None) => {}
    }
    items
}
