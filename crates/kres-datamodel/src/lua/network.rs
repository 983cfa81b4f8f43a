//! `/network`: upstream address families, TLS, QUIC, PROXYv2, renumbering and the listening sockets.

use super::escape::quote;
use super::options::load_or_unload;
use super::{Lua, boolean, string_table};
use crate::config::{AddressRenumberingSchema, Endpoint, ListenKind, ListenSchema, NetworkSchema};

/// The network settings and listeners; a canary (`probe`: its probe port) gets the probe listener instead of the
/// service listeners.
pub(super) fn worker(lua: &mut Lua, network: &NetworkSchema, probe: Option<u16>) {
    lua.line(format!("net.ipv4 = {}", boolean(network.do_ipv4)));
    lua.line(format!("net.ipv6 = {}", boolean(network.do_ipv6)));
    if let Some(v4) = &network.out_interface_v4 {
        lua.line(format!("net.outgoing_v4({})", quote(&v4.addr.to_string())));
    }
    if let Some(v6) = &network.out_interface_v6 {
        lua.line(format!("net.outgoing_v6({})", quote(&v6.addr.to_string())));
    }
    lua.line(format!("net.tcp_pipeline({})", network.tcp_pipeline.get()));
    load_or_unload(lua, "edns_keepalive", network.edns_tcp_keepalive);
    let bufsize = &network.edns_buffer_size;
    lua.line(format!("net.bufsize({}, {})", bufsize.downstream.bytes(), bufsize.upstream.bytes()));

    let tls = &network.tls;
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        lua.line(format!("net.tls({}, {})", quote(&cert.display()), quote(&key.display())));
    }
    if let Some(secret) = &tls.sticket_secret {
        lua.line(format!("net.tls_sticket_secret({})", quote(secret.as_str())));
    }
    if let Some(file) = &tls.sticket_secret_file {
        lua.line(format!("net.tls_sticket_secret_file({})", quote(&file.display())));
    }
    lua.line(format!("net.tls_padding({})", tls.padding.lua_value()));

    let quic = &network.quic;
    lua.line(format!("net.quic_max_conns({})", quic.max_conns.get()));
    lua.line(format!("net.quic_max_streams({})", quic.max_streams.get()));
    lua.line(format!("net.quic_require_retry({})", boolean(quic.require_retry)));

    if let Some(renumbering) = &network.address_renumbering {
        lua.line("modules.load('renumber')");
        lua.line("renumber.config({");
        for item in renumbering {
            lua.line(format!("    {{{}, {}}},", quote(item.source.as_str()), quote(&destination(item))));
        }
        lua.line("})");
    }

    if network.listen.iter().any(|l| l.kind == ListenKind::DohLegacy) {
        lua.line("-- The legacy DNS-over-HTTPS implementation lives in the http module.");
        lua.line("modules.load('http')");
        let mut options = vec!["tls = true".to_owned()];
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            options.push(format!("cert = {}", quote(&cert.display())));
            options.push(format!("key = {}", quote(&key.display())));
        }
        lua.line(format!("http.config({{ {} }}, 'doh_legacy')", options.join(", ")));
    }

    // Enabled without an allow list means nobody may send PROXYv2 headers (the reference crashed here).
    let allowed = network.proxy_protocol.allowed();
    lua.line(format!("net.proxy_allowed({})", string_table(allowed.iter().map(|a| a.as_str()))));

    match probe {
        None => {
            for listen in &network.listen {
                listen_item(lua, listen);
            }
        }
        Some(port) => probe_listener(lua, port),
    }
}

/// A canary's only listener: plain DNS on `127.0.0.1@port`, where the manager sends its health probe.
pub(super) fn probe_listener(lua: &mut Lua, port: u16) {
    lua.line("-- A canary: it serves no client until the manager has probed it; its only listener is the probe's.");
    lua.line(format!("net.listen('127.0.0.1', {port}, {{ kind = 'dns', freebind = false }})"));
}

/// A renumbering destination as kresd's renumber module takes it: an address, with `!` for an exact address.
fn destination(item: &AddressRenumberingSchema) -> String {
    let addr = item.destination.addr().to_string();
    if item.destination.as_str().ends_with('!') { format!("{addr}!") } else { addr }
}

fn listen_item(lua: &mut Lua, listen: &ListenSchema) {
    let flags = format!("{{ kind = {}, freebind = {} }}", quote(listen.kind.kresd_kind()), boolean(listen.freebind));
    for endpoint in listen.endpoints() {
        match endpoint {
            Endpoint::Address { addr, port } => {
                lua.line(format!("net.listen({}, {port}, {flags})", quote(&addr.to_string())));
            }
            // An interface's addresses are looked up by kresd when the config runs.
            Endpoint::Interface { name, port } => {
                lua.line(format!("net.listen(net[{}], {port}, {flags})", quote(&name)));
            }
            Endpoint::UnixSocket(path) => lua.line(format!("net.listen({}, nil, {flags})", quote(&path))),
        }
    }
}
