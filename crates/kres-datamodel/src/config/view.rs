//! `/views` (placeholder: being written).
use crate::config_object;
use crate::model::ObjectHook;
use crate::types::{IdPattern, IpNetwork};

config_object! {
    /// Configuration parameters that allow you to create personalized policy rules and other.
    pub struct ViewSchema {
        /// Identifies the client based on his subnet.
        "subnets" subnets: Vec<IpNetwork>,
        /// Tags to link with other policy rules.
        "tags" tags: Option<Vec<IdPattern>>,
    }
}
impl ObjectHook for ViewSchema {}
