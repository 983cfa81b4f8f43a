use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Ports handed out come from this range: below the kernel's ephemeral range (32768–60999 by default), so no
/// outgoing connection (kresd's upstream queries, kdig) can be sitting on them.
const FIRST: u16 = 20000;
const LAST: u16 = 32000;

/// A port on 127.0.0.1 that is free for both UDP and TCP and has not been handed to any other live test process.
///
/// Each port is reserved by a file `kres-test-ports/<port>` under the temp dir (shared by every test running in
/// the sid root) holding the owner's PID; the reservation lasts until that process exits. So tests running in
/// parallel (threads or processes) never get the same port, even when the first one has not bound it yet.
///
/// # Panics
/// When no port in the range is free.
pub fn free_port() -> u16 {
    let dir = std::env::temp_dir().join("kres-test-ports");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    static PRUNE: std::sync::Once = std::sync::Once::new();
    PRUNE.call_once(|| prune_dead_reservations(&dir));
    let span = u32::from(LAST - FIRST);
    let seed = std::process::id().wrapping_mul(7919)
        ^ SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let me = std::process::id();
    for i in 0..span {
        let port = FIRST + u16::try_from((seed.wrapping_add(i * 97)) % span).expect("span fits u16");
        if !reserve(&dir, port, me) {
            continue;
        }
        if bindable(port) {
            return port;
        }
        // Taken by something that is not a test of ours; leave the reservation (it expires with this process)
        // so the next call does not try it again.
    }
    panic!("no free loopback port in {FIRST}..{LAST}");
}

fn reserve(dir: &Path, port: u16, me: u32) -> bool {
    // One lock for all reservations, so checking for a dead owner and taking over its port is atomic.
    let Ok(lock) = File::create(dir.join(".lock")) else {
        return false;
    };
    if lock.lock().is_err() {
        return false;
    }
    let path = dir.join(port.to_string());
    if let Ok(owner) = fs::read_to_string(&path) {
        match owner.trim().parse::<u32>() {
            Ok(pid) if pid != me && Path::new(&format!("/proc/{pid}")).exists() => return false,
            Ok(pid) if pid == me => return false, // handed out to this process already
            _ => {}                               // owner gone: take the port over
        }
    }
    fs::write(&path, format!("{me}\n")).is_ok()
}

/// Removes reservations of processes that have exited, so the directory does not grow without bound.
fn prune_dead_reservations(dir: &Path) {
    let Ok(lock) = File::create(dir.join(".lock")) else {
        return;
    };
    if lock.lock().is_err() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.parse::<u16>().is_err()) {
            continue;
        }
        let alive = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = fs::remove_file(&path);
        }
    }
}

fn bindable(port: u16) -> bool {
    let Ok(tcp) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    drop((tcp, udp));
    true
}
