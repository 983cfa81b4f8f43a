//! `/lua`: custom Lua for workers and the policy-loader (the escape hatch; rendered verbatim).

use crate::config_object;
use crate::model::{Ctx, ObjectHook};
use crate::node::Node;
use crate::path::Path;
use crate::types::ReadableFile;

config_object! {
    /// Custom Lua configuration.
    pub struct LuaSchema {
        /// Ignore declarative configuration intended for workers and use only Lua script or script file configured in this section.
        "script-only" script_only: bool = false,
        /// Custom Lua configuration script intended for workers.
        "script" script: Option<String>,
        /// Path to file that contains Lua configuration script for workers.
        "script-file" script_file: Option<ReadableFile>,
        /// Ignore declarative configuration intended for policy-loader and use only Lua script or script file configured in this section.
        "policy-script-only" policy_script_only: bool = false,
        /// Custom Lua configuration script intended for policy-loader.
        "policy-script" policy_script: Option<String>,
        /// Path to file that contains Lua configuration script for policy-loader.
        "policy-script-file" policy_script_file: Option<ReadableFile>,
    }
}

impl ObjectHook for LuaSchema {
    fn finish(&mut self, cx: &mut Ctx, path: &Path, node: &Node) {
        if self.script.is_some() && self.script_file.is_some() {
            cx.error(path, Some(node), "'script' and 'script-file' are mutually exclusive");
        }
        if self.policy_script.is_some() && self.policy_script_file.is_some() {
            cx.error(path, Some(node), "'policy-script' and 'policy-script-file' are mutually exclusive");
        }
    }
}
