//! The actor's side of fleet mode (`crate::fleet` runs the etcd agent): applying a fleet generation. The node's
//! configuration is its local files (network/listen, rundir, management, fleet: what is node-specific) with the
//! fleet's document merged over them, like several `-c` files are merged: a key both define is a conflict, so a
//! fleet document cannot silently override what the node's file sets. The layer in force is kept, so that a reload
//! of the local files (SIGHUP, `POST /reload`) keeps the fleet's part.

use kres_datamodel::node::{self, Node};
use serde_json::Value;

use super::apply::Actor;
use super::controller::Controller;
use super::handle::{ApplyError, ApplyRequest, ApplyResult, Edit, Source};
use super::load_config;

/// The fleet's document of a generation, as `kresctl fleet publish` stored it (YAML or JSON).
#[derive(Debug, Clone, PartialEq)]
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
    /// Applies fleet generation `generation` (`None`: the node's files alone, generation 0): re-reads the local
    /// files, merges the fleet's document over them and puts the result in force through the pipeline (canary,
    /// rolling restart, health hold). Recorded in the history with the source `fleet`.
    pub(super) async fn apply_fleet(&mut self, generation: u64, document: Option<Vec<u8>>) -> ApplyResult {
        let layer = document.map(|bytes| FleetLayer::parse(generation, &bytes)).transpose()?;
        let local = load_config(&self.files).map_err(|e| ApplyError::Load(e.to_string()))?;
        let mut raw = merged(&local.raw, layer.as_ref())?;
        if let Some(hold) = &local.config.fleet.health_hold
            && let Some(management) = raw.get_mut("management").and_then(Value::as_object_mut)
        {
            management.insert("health-hold".into(), Value::String(hold.to_string()));
        }
        let result = self.apply_recorded(ApplyRequest::new(Edit::Replace(raw), Source::Fleet)).await;
        if result.is_ok() {
            self.fleet_layer = layer;
        }
        result
    }
}
