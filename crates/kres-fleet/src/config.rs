//! From the configuration's `/fleet` section to a connection: the etcd options and the key layout, shared by the
//! manager and `kresctl fleet`.

use kres_datamodel::config::FleetSchema;

use crate::keys::Keys;
use crate::kv::EtcdOptions;

/// The etcd options and keys of `fleet`. Fails (naming the setting) when the password file cannot be read, or
/// when `/fleet/etcd/tls` is set (TLS to etcd is not supported yet).
pub fn connection(fleet: &FleetSchema) -> Result<(EtcdOptions, Keys), String> {
    let etcd = &fleet.etcd;
    if etcd.tls.is_some() {
        return Err("/fleet/etcd/tls is set, but TLS to etcd is not supported yet; use a TLS-terminating proxy on \
                    the node's loopback"
            .into());
    }
    let mut opts = EtcdOptions::new(etcd.endpoints.iter().map(|e| e.as_str().to_owned()));
    if let (Some(user), Some(file)) = (&etcd.username, &etcd.password_file) {
        let text = std::fs::read_to_string(file.path())
            .map_err(|e| format!("cannot read /fleet/etcd/password-file '{}': {e}", file.path().display()))?;
        opts.user = Some((user.as_str().to_owned(), text.lines().next().unwrap_or_default().to_owned()));
    }
    Ok((opts, Keys::new(etcd.prefix.as_str())))
}

/// This node's name: `/fleet/name`, else the machine's hostname.
pub fn node_name(fleet: &FleetSchema) -> String {
    match &fleet.name {
        Some(name) => name.as_str().to_owned(),
        None => rustix::system::uname().nodename().to_string_lossy().into_owned(),
    }
}
