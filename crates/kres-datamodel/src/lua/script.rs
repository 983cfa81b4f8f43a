//! `/lua`: the custom Lua escape hatch, pasted verbatim after the generated configuration.

use super::{Lua, RenderError};
use crate::types::ReadableFile;

/// The contents of `file` (read now) and then `script`. `config_path` names the file option in errors.
pub(super) fn custom(
    lua: &mut Lua,
    config_path: &'static str,
    file: Option<&ReadableFile>,
    script: Option<&str>,
) -> Result<(), RenderError> {
    if file.is_none() && script.is_none() {
        lua.line("-- No custom Lua.");
        return Ok(());
    }
    lua.line("-- Custom Lua from the configuration (not validated).");
    if let Some(file) = file {
        let path = file.path();
        let bytes =
            std::fs::read(path).map_err(|source| RenderError::ReadFile { config_path, file: path.into(), source })?;
        let text = String::from_utf8(bytes).map_err(|e| RenderError::NotUtf8 {
            config_path,
            file: path.into(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        lua.raw(&text);
    }
    if let Some(script) = script {
        lua.raw(script);
    }
    Ok(())
}
