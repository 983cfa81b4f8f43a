//! `/local-data` (placeholder: being written).
use crate::config_object;
use crate::model::ObjectHook;
use crate::types::IdPattern;

config_object! {
    /// Local rule.
    pub struct RuleSchema {
        /// Tags to link with other policy rules.
        "tags" tags: Option<Vec<IdPattern>>,
    }
}
impl ObjectHook for RuleSchema {}

config_object! {
    /// Configuration of local-data.
    pub struct LocalDataSchema {
        /// Local rules.
        "rules" rules: Option<Vec<RuleSchema>>,
    }
}
impl ObjectHook for LocalDataSchema {}
