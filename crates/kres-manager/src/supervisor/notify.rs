//! The supervisor's own `NOTIFY_SOCKET` (`supervisor-notify.sock`): a unix datagram socket with `SO_PASSCRED`, so
//! the kernel attaches the sender's PID to every datagram (`SCM_CREDENTIALS`). kresd sends exactly one `READY=1`
//! when its configuration has run and its listeners are bound.

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::path::Path;

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg, sockopt};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// One received notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The sender's PID (from the kernel, not from the message); `None` if no credentials came along.
    pub pid: Option<u32>,
    pub text: String,
}

#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
}

impl NotifySocket {
    /// Binds `path` (a stale socket file is removed first) and enables `SO_PASSCRED`.
    pub fn bind(path: &Path) -> io::Result<NotifySocket> {
        remove_stale(path)?;
        let socket = UnixDatagram::bind(path)?;
        sockopt::set_socket_passcred(&socket, true)?;
        Ok(NotifySocket { socket })
    }

    /// Waits for the next datagram.
    pub async fn recv(&self) -> io::Result<Datagram> {
        loop {
            self.socket.readable().await?;
            match self.socket.try_io(Interest::READABLE, || receive(&self.socket)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// The next datagram already queued, if any (does not wait). Reads the socket directly rather than through
    /// tokio's readiness cache, so a datagram the reactor has not seen yet is found too.
    pub fn try_recv(&self) -> io::Result<Option<Datagram>> {
        match receive(&self.socket) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Removes a socket file left behind by an earlier run (the caller holds the rundir lock).
pub fn remove_stale(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn receive(socket: &UnixDatagram) -> io::Result<Datagram> {
    let mut buf = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg =
        recvmsg(socket, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC)?;
    let mut pid = None;
    for message in control.drain() {
        // Anything else (e.g. file descriptors someone passed) is dropped, which closes it.
        if let RecvAncillaryMessage::ScmCredentials(cred) = message {
            pid = u32::try_from(cred.pid.as_raw_pid()).ok();
        }
    }
    let text = String::from_utf8_lossy(&buf[..msg.bytes.min(buf.len())]).into_owned();
    Ok(Datagram { pid, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_pid_comes_from_the_kernel() {
        let dir = kres_test_support::TempDir::new("notify");
        let path = dir.join("n.sock");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let socket = NotifySocket::bind(&path).unwrap();
            assert_eq!(socket.try_recv().unwrap(), None);
            let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
            sender.send_to(b"READY=1\nSTATUS=hello", &path).unwrap();
            let d = socket.recv().await.unwrap();
            assert_eq!(d, Datagram { pid: Some(std::process::id()), text: "READY=1\nSTATUS=hello".into() });
            sender.send_to(b"STOPPING=1", &path).unwrap();
            assert_eq!(socket.try_recv().unwrap().unwrap().text, "STOPPING=1");
            // Binding again replaces the stale file.
            drop(socket);
            NotifySocket::bind(&path).unwrap();
        });
    }
}
