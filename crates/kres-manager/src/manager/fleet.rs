//! The actor's side of fleet mode (`crate::fleet` runs the etcd agent): applying a fleet generation. The node's
//! configuration is its local files (network/listen, rundir, management, fleet: what is node-specific) with the
//! fleet's document merged over them, like several `-c` files are merged: a key both define is a conflict, so a
//! fleet document cannot silently override what the node's file sets. The layer in force is kept, so that a reload
//! of the local files (SIGHUP, `POST /reload`) keeps the fleet's part, and saved in the state directory
//! (`fleet-layer.json`), so that a restarted manager starts from the same configuration, even cut off from etcd.

use std::path::{Path, PathBuf};

use kres_datamodel::node::{self, Node};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::apply::Actor;
use super::controller::Controller;
use super::handle::{ApplyError, ApplyRequest, ApplyResult, Edit, Source};
use super::load_config;

/// The fleet's document of a generation, as `kresctl fleet publish` stored it (YAML or JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetLayer {
    pub generation: u64,
    pub document: Value,
}

impl FleetLayer {
    /// Parses a published document; the error names the generation.
    pub fn parse(generation: u64, bytes: &[u8]) -> Result<FleetLayer, ApplyError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| ApplyError::BadRequest(format!("fleet generation {generation} is not UTF-8 text")))?;
        let node = kres_datamodel::parse::parse_document(text, &format!("fleet generation {generation}"))
            .map_err(|e| ApplyError::BadRequest(e.to_string()))?;
        Ok(FleetLayer { generation, document: node.to_json() })
    }
}

/// Where the layer in force is saved.
pub fn layer_path(state_dir: &Path) -> PathBuf {
    state_dir.join("fleet-layer.json")
}

impl FleetLayer {
    /// Saves the layer (temp file, `fdatasync`, rename); a failure is logged: the layer is then only in memory.
    pub fn save(&self, state_dir: &Path) {
        let path = layer_path(state_dir);
        let temp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
            let file = std::fs::File::create(&temp)?;
            std::io::Write::write_all(&mut &file, &bytes)?;
            file.sync_data()?;
            std::fs::rename(&temp, &path)
        };
        if let Err(e) = write() {
            tracing::error!("cannot save the fleet's layer to '{}': {e}", path.display());
            let _ = std::fs::remove_file(&temp);
        }
    }

    /// The saved layer, if any (a damaged file is logged and ignored: the agent re-applies from etcd).
    pub fn load(state_dir: &Path) -> Option<FleetLayer> {
        let path = layer_path(state_dir);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(layer) => Some(layer),
            Err(e) => {
                tracing::warn!("ignoring the damaged fleet layer '{}': {e}", path.display());
                None
            }
        }
    }
}

/// At start on a fleet node: the local files with the saved fleet layer merged over them (what the node ran when
/// its manager stopped), validated; the files alone when there is no layer or it no longer fits them.
pub fn starting_config(loaded: super::LoadedConfig, files: &[PathBuf]) -> (super::LoadedConfig, Option<FleetLayer>) {
    if !loaded.config.fleet.enable {
        return (loaded, None);
    }
    let Some(layer) = FleetLayer::load(loaded.config.management.state_dir.path()) else { return (loaded, None) };
    let raw = match merged(&loaded.raw, Some(&layer)) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::error!("{e}; starting from the local files, the fleet agent re-applies");
            return (loaded, None);
        }
    };
    match super::LoadedConfig::from_raw(raw, files) {
        Ok(merged) => {
            tracing::info!("starting from fleet generation {} over the local files", layer.generation);
            (merged, Some(layer))
        }
        Err(e) => {
            tracing::error!(
                "fleet generation {} over the local files is not valid ({e}); starting from the local files",
                layer.generation
            );
            (loaded, None)
        }
    }
}

/// `local` with `layer` merged over it (a key both set is refused, naming it).
pub fn merged(local: &Value, layer: Option<&FleetLayer>) -> Result<Value, ApplyError> {
    let Some(layer) = layer else { return Ok(local.clone()) };
    let mut base = Node::from_json(local);
    node::merge(&mut base, Node::from_json(&layer.document)).map_err(|conflict| {
        ApplyError::BadRequest(format!(
            "fleet generation {} sets {}, which this node's configuration file sets too; a fleet document holds \
             what all nodes share, the node's file what is its own",
            layer.generation, conflict.path
        ))
    })?;
    Ok(base.to_json())
}

impl<C: Controller> Actor<C> {
    /// Applies a fleet generation's `layer` (`None`: the node's files alone, generation 0): re-reads the local
    /// files, merges the fleet's document over them and puts the result in force through the pipeline (canary,
    /// rolling restart, health hold). Recorded in the history with the source `fleet`.
    pub(super) async fn apply_fleet(&mut self, layer: Option<FleetLayer>) -> ApplyResult {
        let local = load_config(&self.files).map_err(|e| ApplyError::Load(e.to_string()))?;
        let raw = merged(&local.raw, layer.as_ref())?;
        let result = self.apply_recorded(ApplyRequest::new(Edit::Replace(raw), Source::Fleet)).await;
        if result.is_ok() {
            if let Some(layer) = &layer {
                layer.save(self.current.config.management.state_dir.path());
            } else {
                let _ = std::fs::remove_file(layer_path(self.current.config.management.state_dir.path()));
            }
            self.fleet_layer = layer;
        }
        result
    }
}
