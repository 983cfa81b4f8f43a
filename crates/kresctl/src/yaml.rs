//! kresctl's YAML output (`migrate`, `config get`, `cache clear`, `config diff`): the datamodel's writer, shared
//! with the manager (whose history diffs are YAML too); see [`kres_datamodel::yaml`].

pub use kres_datamodel::yaml::to_yaml;
