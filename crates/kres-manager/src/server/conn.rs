//! Serving the API's connections with hyper's HTTP/1 server, so that response header names are spelled as the
//! reference spells them (`Content-Type`, `ETag`): operators' scripts grep raw responses
//! (`curl -si ... | grep '^ETag:'`). hyper keeps header names lower-case; `title_case_headers` writes
//! `Content-Type`, `Content-Length`, `Date`, but `Etag`. [`HeaderCase`] turns the one name that title case gets
//! wrong into the reference's `ETag` as the bytes leave.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;

use super::auth::{PeerCred, Transport};
use super::tls;
use crate::manager::handle::Client;

/// Header names whose title case differs from the reference's spelling: (as hyper writes it, as it should be),
/// each preceded by the CRLF that ends the previous line and followed by the colon, so only a header name matches.
const FIXES: &[(&[u8], &[u8])] = &[(b"\r\nEtag:", b"\r\nETag:"), (b"\r\nWww-Authenticate:", b"\r\nWWW-Authenticate:")];

/// The identity a connection's peer has before any authentication: on the unix socket, its uid and pid
/// (`SO_PEERCRED`); none over TCP. Handlers find it as an `Extension<Client>` in every request.
/// How the connection came in ([`Transport`], for the access checks of `auth`) is an extension too.
pub(super) trait PeerIdentity {
    fn peer_client(&self) -> Option<Client>;
    fn transport(&self) -> Transport;
}

impl PeerIdentity for tokio::net::UnixStream {
    fn peer_client(&self) -> Option<Client> {
        let cred = self.peer_cred().ok()?;
        Some(Client::Peer { uid: cred.uid(), pid: cred.pid().map_or(0, |p| p as u32) })
    }

    fn transport(&self) -> Transport {
        Transport::Unix(self.peer_cred().ok().map(|cred| PeerCred {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid().map_or(0, |p| p as u32),
        }))
    }
}

impl PeerIdentity for tokio::net::TcpStream {
    fn peer_client(&self) -> Option<Client> {
        None
    }

    fn transport(&self) -> Transport {
        Transport::Tcp { peer: self.peer_addr().unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()) }
    }
}

/// Accepts connections until `stop` is cancelled, then lets the requests in progress finish. With `tls`, each
/// connection's TLS handshake runs in its own task (a slow client does not hold up the others).
pub(super) async fn serve<L>(mut listener: L, app: Router, stop: CancellationToken, tls: Option<Arc<tls::Reloading>>)
where
    L: Listener,
    L::Io: PeerIdentity,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.title_case_headers(true);
    loop {
        tokio::select! {
            (stream, _) = listener.accept() => {
                let mut app = app.clone().layer(axum::Extension(stream.transport()));
                if let Some(client) = stream.peer_client() {
                    app = app.layer(axum::Extension(client));
                }
                let service = TowerToHyperService::new(app);
                let builder = builder.clone();
                let watcher = graceful.watcher();
                match &tls {
                    None => {
                        tokio::spawn(async move {
                            let connection = builder.serve_connection(TokioIo::new(HeaderCase::new(stream)), service);
                            if let Err(e) = watcher.watch(connection).await {
                                tracing::debug!("management API connection: {e}");
                            }
                        });
                    }
                    Some(tls) => {
                        let acceptor = tls.acceptor();
                        tokio::spawn(async move {
                            let stream = match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!("management API: TLS handshake failed: {e}");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("management API: TLS handshake timed out");
                                    return;
                                }
                            };
                            let connection = builder.serve_connection(TokioIo::new(HeaderCase::new(stream)), service);
                            if let Err(e) = watcher.watch(connection).await {
                                tracing::debug!("management API connection: {e}");
                            }
                        });
                    }
                }
            }
            () = stop.cancelled() => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A stream whose outgoing response heads get the header-name spellings of [`FIXES`]. A write that holds a head
/// (hyper hands over a head in one buffer, so a name is never split between two writes) is accepted whole, fixed
/// in its head part only, and written out before the next write is accepted; other writes pass through.
pub(super) struct HeaderCase<S> {
    inner: S,
    /// Accepted bytes not yet written to `inner`, from `written` on.
    pending: Vec<u8>,
    written: usize,
}

impl<S> HeaderCase<S> {
    pub(super) fn new(inner: S) -> Self {
        HeaderCase { inner, pending: Vec::new(), written: 0 }
    }
}

/// The part of `buf` that is a response head: hyper writes a head in one buffer (flattened with the start of the
/// body), beginning with the status line; everything after the blank line, and every other write, is body.
fn head_of(buf: &[u8]) -> Option<usize> {
    if !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    Some(buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |end| end + 2))
}

/// The end of `buf`'s head when the head has a name to fix.
fn fixable_head(buf: &[u8]) -> Option<usize> {
    head_of(buf).filter(|&end| FIXES.iter().any(|(from, _)| buf[..end].windows(from.len()).any(|w| w == *from)))
}

/// Replaces every [`FIXES`] occurrence in `bytes` (same lengths, so in place).
fn fix_names(bytes: &mut [u8]) {
    for (from, to) in FIXES {
        let mut start = 0;
        while let Some(at) = bytes[start..].windows(from.len()).position(|w| w == *from) {
            let at = start + at;
            bytes[at..at + to.len()].copy_from_slice(to);
            start = at + from.len();
        }
    }
}

impl<S: AsyncWrite + Unpin> HeaderCase<S> {
    /// Writes out what was accepted earlier.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeaderCase<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeaderCase<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        // Only a head is looked at (a few hundred bytes); bodies pass through untouched and uncopied.
        let Some(end) = fixable_head(buf) else {
            return Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        self.pending.extend_from_slice(buf);
        fix_names(&mut self.pending[..end]);
        // Accepted whole; written now as far as the socket takes it, the rest before the next write or flush.
        let _ = self.poll_pending(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    /// hyper hands over the head and the body as separate slices: the head is fixed into `pending` and written
    /// together with the body slices in one vectored write, like a stream without the fix-up.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        let Some(end) = fixable_head(&bufs[first]) else {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        };
        let this = &mut *self;
        let head_len = bufs[first].len();
        this.pending.extend_from_slice(&bufs[first]);
        fix_names(&mut this.pending[..end]);
        let mut slices = Vec::with_capacity(bufs.len() - first);
        slices.push(IoSlice::new(&this.pending));
        slices.extend(bufs[first + 1..].iter().map(|b| IoSlice::new(b)));
        match Pin::new(&mut this.inner).poll_write_vectored(cx, &slices) {
            // The head went out whole, and maybe some of the body.
            Poll::Ready(Ok(n)) if n >= head_len => {
                this.pending.clear();
                Poll::Ready(Ok(n))
            }
            // Part of the head went out: the head counts as accepted, the rest of it goes before the next write.
            Poll::Ready(Ok(n)) => {
                this.written = n;
                Poll::Ready(Ok(head_len))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Ready(Ok(head_len)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_header_names_are_fixed() {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nEtag: \"Etag:\"\r\n\r\nEtag: x".to_vec();
        fix_names(&mut head);
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"Etag:\"\r\n\r\nETag: x");
    }

    #[test]
    fn the_head_ends_at_the_blank_line() {
        let raw = b"HTTP/1.1 200 OK\r\nEtag: \"a\"\r\n\r\nbody\r\nEtag: x";
        assert_eq!(head_of(raw), Some(b"HTTP/1.1 200 OK\r\nEtag: \"a\"\r\n".len()));
        assert_eq!(head_of(b"HTTP/1.1 200 OK\r\nEtag: \"a\"\r\n"), Some(28));
        assert_eq!(head_of(b"body\r\nEtag: x\r\n\r\n"), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_reader_gets_every_byte_fixed() {
        // A pipe smaller than the head: the writer has to come back for the rest.
        let (client, server) = tokio::io::duplex(7);
        let mut writer = HeaderCase::new(server);
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut out = Vec::new();
            client.read_to_end(&mut out).await.unwrap();
            out
        });
        let head = b"HTTP/1.1 200 OK\r\nEtag: \"a\"\r\nContent-Length: 12\r\n\r\nbo";
        writer.write_all(head).await.unwrap();
        writer.write_all(b"dy\r\nEtag: ").await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        let out = reader.await.unwrap();
        // The head's name is fixed; the body (after the blank line, and in later writes) is left as it is.
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nETag: \"a\"\r\nContent-Length: 12\r\n\r\nbody\r\nEtag: ");
    }

    /// Vectored writes (what hyper uses on a TCP or unix stream): head and body slices, through a pipe smaller than
    /// the head and through a large one; the head's name is fixed, the body untouched, nothing lost or repeated.
    #[tokio::test(flavor = "current_thread")]
    async fn vectored_writes_fix_the_head_only() {
        for capacity in [7, 4096] {
            let (client, server) = tokio::io::duplex(capacity);
            let mut writer = HeaderCase::new(server);
            let reader = tokio::spawn(async move {
                let mut client = client;
                let mut out = Vec::new();
                client.read_to_end(&mut out).await.unwrap();
                out
            });
            let head: &[u8] = b"HTTP/1.1 200 OK\r\nEtag: \"a\"\r\nContent-Length: 12\r\n\r\n";
            let body: &[u8] = b"body\r\nEtag: ";
            let total = head.len() + body.len();
            let mut sent = 0;
            while sent < total {
                let slices: Vec<IoSlice<'_>> = if sent < head.len() {
                    vec![IoSlice::new(&head[sent..]), IoSlice::new(body)]
                } else {
                    vec![IoSlice::new(&body[sent - head.len()..])]
                };
                let n = writer.write_vectored(&slices).await.unwrap();
                assert!(n > 0);
                sent += n;
            }
            writer.shutdown().await.unwrap();
            drop(writer);
            let out = reader.await.unwrap();
            assert_eq!(
                out, b"HTTP/1.1 200 OK\r\nETag: \"a\"\r\nContent-Length: 12\r\n\r\nbody\r\nEtag: ",
                "{capacity}"
            );
        }
    }
}
