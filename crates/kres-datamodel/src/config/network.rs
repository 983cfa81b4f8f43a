//! `/network` (placeholder: being written).
use crate::config_object;
use crate::model::ObjectHook;

config_object! {
    /// Network connections and protocols configuration.
    pub struct NetworkSchema {
        /// Enable/disable using IPv4 for contacting upstream nameservers.
        "do-ipv4" do_ipv4: bool = true,
    }
}
impl ObjectHook for NetworkSchema {}
