//! From the configuration's `/fleet` section to a connection: the etcd options and the key layout, shared by the
//! manager and `kresctl fleet`.

use kres_datamodel::config::FleetSchema;

use crate::keys::Keys;
use crate::kv::{EtcdOptions, EtcdTls};

/// The etcd options and keys of `fleet`: endpoints, prefix, TLS (the CA, the client certificate and key, read
/// now) and the etcd user (the password's first line, read now). Fails naming the setting whose file cannot be
/// read.
pub fn connection(fleet: &FleetSchema) -> Result<(EtcdOptions, Keys), String> {
    let etcd = &fleet.etcd;
    let read = |what: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read /fleet/etcd/{what} '{}': {e}", path.display()))
    };
    let mut opts = EtcdOptions::new(etcd.endpoints.iter().map(|e| e.as_str().to_owned()));
    if let (Some(user), Some(file)) = (&etcd.username, &etcd.password_file) {
        let text = read("password-file", file.path())?;
        let password = String::from_utf8_lossy(&text).lines().next().unwrap_or_default().to_owned();
        opts.user = Some((user.as_str().to_owned(), password));
    }
    if let Some(tls) = &etcd.tls {
        let ca = tls.ca_file.as_ref().map(|f| read("tls/ca-file", f.path())).transpose()?;
        let identity = match (&tls.cert_file, &tls.key_file) {
            (Some(c), Some(k)) => Some((read("tls/cert-file", c.path())?, read("tls/key-file", k.path())?)),
            _ => None,
        };
        opts.tls = Some(EtcdTls { ca, identity });
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
