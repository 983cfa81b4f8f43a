//! Where everything lives in etcd, under the fleet's prefix `P` (`/knot-resolver` by default):
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `P/config/<gen>` | a configuration document (YAML or JSON), immutable | `kresctl fleet publish` |
//! | `P/desired` | the generation the fleet should run | publish, rollback, the coordinator after a failed rollout |
//! | `P/stable` | the last generation that reached every node | the coordinator |
//! | `P/rollout` | [`Rollout`](crate::model::Rollout) (JSON) | the coordinator; halt/resume |
//! | `P/coordinator` | the coordinator's node name, leased | the coordinator (its lock) |
//! | `P/nodes/<name>/alive` | start time, leased (TTL ~10 s) | the node's agent |
//! | `P/nodes/<name>/target` | the generation this node must run (absent: follow `stable`) | the coordinator |
//! | `P/nodes/<name>/status` | [`NodeStatus`](crate::model::NodeStatus) (JSON), persistent | the node's agent |

/// The keys of one fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (a trailing `/` is ignored; an empty prefix is `/knot-resolver`).
    pub fn new(prefix: &str) -> Keys {
        let p = prefix.trim_end_matches('/');
        let p = if p.is_empty() { "/knot-resolver" } else { p };
        Keys { prefix: p.to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn configs(&self) -> String {
        format!("{}/config/", self.prefix)
    }

    pub fn config(&self, generation: u64) -> String {
        // Zero-padded, so a range lists generations in order.
        format!("{}/config/{generation:010}", self.prefix)
    }

    /// The generation of a `config/<gen>` key.
    pub fn config_generation(&self, key: &str) -> Option<u64> {
        key.strip_prefix(&self.configs())?.parse().ok()
    }

    pub fn desired(&self) -> String {
        format!("{}/desired", self.prefix)
    }

    pub fn stable(&self) -> String {
        format!("{}/stable", self.prefix)
    }

    pub fn rollout(&self) -> String {
        format!("{}/rollout", self.prefix)
    }

    pub fn coordinator(&self) -> String {
        format!("{}/coordinator", self.prefix)
    }

    pub fn nodes(&self) -> String {
        format!("{}/nodes/", self.prefix)
    }

    pub fn alive(&self, node: &str) -> String {
        format!("{}/nodes/{node}/alive", self.prefix)
    }

    pub fn target(&self, node: &str) -> String {
        format!("{}/nodes/{node}/target", self.prefix)
    }

    pub fn status(&self, node: &str) -> String {
        format!("{}/nodes/{node}/status", self.prefix)
    }

    /// `(node, leaf)` of a `nodes/<name>/<leaf>` key.
    pub fn node_key<'a>(&self, key: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix("/nodes/")?;
        rest.split_once('/')
    }
}

/// Is `name` usable as a node name (one key segment: letters, digits, `-`, `_`, `.`; 1 to 253 bytes)?
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
