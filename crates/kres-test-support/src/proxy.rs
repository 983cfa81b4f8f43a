//! A TCP proxy on loopback that a test can partition: one listener per target, all behind one switch. While
//! partitioned, the proxy moves no byte in either direction on any connection, old or new: the peers see silence,
//! as with dropped packets, not a reset. Healing resumes the flow. Threads only; everything stops on drop.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::free_port;

/// How often blocked or idle copy loops look at the switches again.
const TICK: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
struct Switches {
    partitioned: AtomicBool,
    stopped: AtomicBool,
}

/// Proxies `127.0.0.1:<port i>` to `targets[i]`.
#[derive(Debug)]
pub struct TcpProxy {
    switches: Arc<Switches>,
    ports: Vec<u16>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts one listener per `host:port` target.
    pub fn start(targets: &[String]) -> io::Result<TcpProxy> {
        let switches = Arc::new(Switches::default());
        let mut ports = Vec::new();
        let mut threads = Vec::new();
        for target in targets {
            let port = free_port();
            let listener = TcpListener::bind(("127.0.0.1", port))?;
            listener.set_nonblocking(true)?;
            ports.push(port);
            let (s, t) = (switches.clone(), target.clone());
            threads.push(thread::spawn(move || accept_loop(&listener, &t, &s)));
        }
        Ok(TcpProxy { switches, ports, threads })
    }

    /// `127.0.0.1:<port>` of each listener, in the order of the targets.
    pub fn endpoints(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    /// Stops all traffic (silently) until [`TcpProxy::heal`].
    pub fn partition(&self) {
        self.switches.partitioned.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.switches.partitioned.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.switches.stopped.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, target: &str, s: &Arc<Switches>) {
    let mut pipes = Vec::new();
    while !s.stopped.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else { continue };
                    let s = s.clone();
                    pipes.push(thread::spawn(move || pipe(from, to, &s)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(_) => thread::sleep(TICK),
        }
    }
    for p in pipes {
        let _ = p.join();
    }
}

/// Copies `from` to `to` while not partitioned; ends when either side closes or the proxy stops.
fn pipe(mut from: TcpStream, mut to: TcpStream, s: &Switches) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = [0u8; 16 * 1024];
    while !s.stopped.load(Ordering::SeqCst) {
        if s.partitioned.load(Ordering::SeqCst) {
            thread::sleep(TICK);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
