//! `/views`: per-client policies, selected by source subnet (and optionally destination subnet and protocol).

use crate::model::{Ctx, Float, Float0_65535, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::{IdPattern, IpNetwork};
use crate::{config_object, string_enum};

string_enum! {
    /// Transport protocol of a client's query.
    pub enum ViewProtocol { "udp53" => Udp53, "tcp53" => Tcp53, "dot" => Dot, "doh" => Doh, "doq" => Doq }
}

string_enum! {
    /// Direct answer to the clients identified by a view.
    pub enum ViewAnswer { "allow" => Allow, "refused" => Refused, "noanswer" => NoAnswer }
}

config_object! {
    /// Configuration options for clients identified by the view.
    pub struct ViewOptionsSchema {
        /// Send minimum amount of information in recursive queries to enhance privacy.
        "minimize" minimize: bool = true,
        /// Enable/disable DNS64.
        "dns64" dns64: bool = true,
        /// Multiplies rate-limiting and defer prices of operations, use 0 to whitelist.
        "price-factor" price_factor: Float0_65535 = Float(1.0),
        /// Enable/disable fallback on resolution failure.
        "fallback" fallback: bool = true,
    }
}
impl ObjectHook for ViewOptionsSchema {}

config_object! {
    /// Configuration parameters that allow you to create personalized policy rules and other.
    pub struct ViewSchema {
        /// Identifies the client based on his subnet.  Rule with more precise subnet takes priority.
        "subnets" subnets: Vec<IpNetwork>,
        /// Destination subnet, as an additional condition.
        "dst-subnet" dst_subnet: Option<IpNetwork>,
        /// Transport protocol, as an additional condition.
        "protocols" protocols: Option<Vec<ViewProtocol>>,
        /// Tags to link with other policy rules.
        "tags" tags: Option<Vec<IdPattern>>,
        /// Direct approach how to handle request from clients identified by the view.
        "answer" answer: Option<ViewAnswer>,
        /// Configuration options for clients identified by the view.
        "options" options: ViewOptionsSchema,
    }
}

impl ObjectHook for ViewSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        match (&self.tags, &self.answer) {
            (Some(_), Some(answer)) => cx.error(
                path,
                Some(node),
                format!(
                    "'tags' and 'answer' ({answer}) cannot be used together in one view, configure exactly one of them"
                ),
            ),
            (None, None) => cx.error(path, Some(node), "exactly one of 'tags' or 'answer' must be configured"),
            _ => {}
        }
    }
}

impl ViewSchema {
    /// The view's tags (empty for views with an `answer`).
    pub fn tag_list(&self) -> &[IdPattern] {
        self.tags.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{FromNode, ValidationOptions, parse_value};
    use crate::parse::parse_yaml;

    fn parse(yaml: &str) -> Result<ViewSchema, Vec<String>> {
        let node = parse_yaml(yaml, "test").expect("test YAML parses");
        parse_value::<ViewSchema>(&node, &ValidationOptions::lenient())
            .map_err(|e| e.0.into_iter().map(|e| e.path.as_str().to_owned()).collect())
    }

    #[test]
    fn valid_views() {
        let v = parse("{subnets: [10.0.0.0/8, '::1'], tags: [t01, malware]}").unwrap();
        assert_eq!(v.subnets[1].as_str(), "::1/128");
        assert_eq!(v.tag_list().len(), 2);
        assert_eq!(v.options.price_factor, Float(1.0));
        assert!(v.options.minimize && v.options.dns64 && v.options.fallback);

        let v = parse(
            "{subnets: [0.0.0.0/0], dst-subnet: 192.0.2.0/24, protocols: [udp53, tcp53, dot, doh, doq], \
             answer: refused, options: {minimize: false, dns64: false, price-factor: 0, fallback: false}}",
        )
        .unwrap();
        assert_eq!(v.answer, Some(ViewAnswer::Refused));
        assert_eq!(v.protocols.as_ref().unwrap().len(), 5);
        assert_eq!(v.options.price_factor, Float(0.0));
        assert!(v.tag_list().is_empty());
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["options"], json!({"minimize": false, "dns64": false, "price-factor": 0.0, "fallback": false}));
    }

    #[test]
    fn invalid_views() {
        assert_eq!(parse("{subnets: [10.0.0.0/8]}").unwrap_err(), [""]);
        assert_eq!(parse("{subnets: [10.0.0.0/8], tags: [a], answer: allow}").unwrap_err(), [""]);
        assert_eq!(parse("{tags: [a]}").unwrap_err(), ["/subnets"]);
        assert_eq!(parse("{subnets: [], tags: [a]}").unwrap_err(), ["/subnets"]);
        assert_eq!(parse("{subnets: [10.0.0.1/8], tags: [a]}").unwrap_err(), ["/subnets/0"]);
        assert_eq!(parse("{subnets: [10.0.0.0/8], tags: [A]}").unwrap_err(), ["/tags/0"]);
        assert_eq!(parse("{subnets: [10.0.0.0/8], answer: deny}").unwrap_err(), ["/answer"]);
        assert_eq!(parse("{subnets: [10.0.0.0/8], answer: allow, protocols: [udp]}").unwrap_err(), ["/protocols/0"]);
        assert_eq!(
            parse("{subnets: [10.0.0.0/8], answer: allow, options: {price-factor: 65536}}").unwrap_err(),
            ["/options/price-factor"]
        );
        assert_eq!(parse("{subnets: 10.0.0.0/8, answer: allow}").unwrap_err(), ["/subnets"]);
    }

    #[test]
    fn schema() {
        let s = ViewSchema::schema();
        assert_eq!(s["required"], json!(["subnets"]));
        assert_eq!(s["properties"]["options"]["default"]["price-factor"], json!(1.0));
    }
}
