//! `/forward` and `/fallback` (placeholder: being written).
use crate::config_object;
use crate::model::ObjectHook;
use crate::types::DomainName;
use crate::model::ListOrItem;

config_object! {
    /// Configuration of forward subtree.
    pub struct ForwardSchema {
        /// Subtree(s) to forward.
        "subtree" subtree: ListOrItem<DomainName>,
    }
}
impl ObjectHook for ForwardSchema {}

config_object! {
    /// Configuration for fallback servers.
    pub struct FallbackSchema {
        /// Enable/disable the fallback.
        "enable" enable: bool = false,
    }
}
impl ObjectHook for FallbackSchema {}
