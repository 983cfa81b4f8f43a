//! Knot Resolver 6 declarative configuration: the typed schema, validation with every error collected and
//! located, defaults, JSON Schema generation and Lua rendering for kresd workers and the policy-loader.
//!
//! Pure: no I/O beyond reading the files it is told to read (and, in strict mode, checking that configured
//! paths exist). Shared by the `knot-resolver` daemon and `kresctl`.

pub mod api;
pub mod config;
pub mod diff;
pub mod error;
pub mod etag;
pub mod impact;
pub mod json_patch;
pub mod json_pointer;
pub mod load;
pub mod lua;
pub mod migrate;
pub mod model;
pub mod node;
pub mod parse;
pub mod path;
pub mod types;
pub mod yaml;

pub use config::KresConfig;
pub use error::{ConfigError, ValidationError, ValidationErrors};
pub use load::{json_schema, load_files, read_files, resolve_root, validate};
pub use model::{SystemFacts, ValidationOptions};
