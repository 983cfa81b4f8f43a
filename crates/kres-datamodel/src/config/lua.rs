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
        // An empty script is no script (as in the reference): `script: ""` next to a file is accepted and renders
        // only the file.
        let given = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        if given(&self.script) && self.script_file.is_some() {
            cx.error(path, Some(node), "'script' and 'script-file' are mutually exclusive");
        }
        if given(&self.policy_script) && self.policy_script_file.is_some() {
            cx.error(path, Some(node), "'policy-script' and 'policy-script-file' are mutually exclusive");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SystemFacts, ValidationOptions, parse_value};
    use crate::parse::parse_yaml;

    /// Validates `/lua` (files are not checked for existence: `check_files` is false).
    fn lua(yaml: &str) -> Result<LuaSchema, Vec<String>> {
        let node = parse_yaml(yaml, "test").expect("test YAML parses");
        parse_value::<LuaSchema>(&node, &ValidationOptions::new(false, "/", SystemFacts::fixed()))
            .map_err(|e| e.0.into_iter().map(|e| format!("{}: {}", e.path.as_str(), e.message)).collect())
    }

    #[test]
    fn an_empty_script_next_to_a_file_is_no_script() {
        assert!(lua("{script: '', script-file: /etc/hostname}").is_ok());
        assert!(lua("{policy-script: '', policy-script-file: /etc/hostname}").is_ok());
        let err = lua("{script: 'x = 1', script-file: /etc/hostname}").unwrap_err();
        assert!(err.iter().any(|e| e.contains("mutually exclusive")), "{err:?}");
    }
}
