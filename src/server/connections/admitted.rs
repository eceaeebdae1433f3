//! An admitted control connection: the socket, and the census slot whose state decides when
//! reading from it ends.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::codegen::http;
use tonic::transport::server::{Connected, TlsConnectInfo};

use super::census::{Conn, Expiry, Slot};

/// What each call on a connection carries in its extensions: the client's address, and the
/// connection's state, which the call tracking and the token check update.
#[derive(Clone)]
pub(crate) struct ConnectionInfo {
    pub(crate) remote_addr: SocketAddr,
    pub(super) conn: Arc<Conn>,
}

impl ConnectionInfo {
    /// The connection a request came on, plain or TLS.
    pub(crate) fn of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
        let tls = || {
            extensions
                .get::<TlsConnectInfo<ConnectionInfo>>()
                .map(TlsConnectInfo::get_ref)
        };
        extensions.get::<ConnectionInfo>().or_else(tls)
    }
}

/// Marks the connection a call came on as authenticated: its token passed the check, so the
/// connection keeps its place when the caps are reached.
pub(crate) fn mark_authenticated(extensions: &http::Extensions) {
    if let Some(info) = ConnectionInfo::of(extensions) {
        info.conn.authenticated();
    }
}

/// An admitted control connection. Reading from it ends (EOF) once it is evicted, has sent no
/// call within the handshake timeout, or has had no call in progress for the idle timeout:
/// hyper then closes it, whether it was still in its TLS handshake, before its HTTP/2 preface,
/// or between calls.
pub(crate) struct Admitted {
    stream: TcpStream,
    slot: Slot,
    check: Pin<Box<Sleep>>,
}

impl Admitted {
    pub(super) fn new(stream: TcpStream, slot: Slot) -> Admitted {
        Admitted {
            stream,
            slot,
            check: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
        }
    }

    /// Why the connection is to be closed now; otherwise the check is armed to wake `cx` when
    /// it next may be.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Option<&'static str> {
        let conn = &self.slot.conn;
        conn.wake_on_eviction(cx.waker());
        loop {
            match conn.expiry(Instant::now()) {
                Expiry::Now(reason) => return Some(reason),
                Expiry::At(next) if next != self.check.deadline().into_std() => {
                    self.check.as_mut().reset(next.into());
                }
                Expiry::At(_) => {}
            }
            if self.check.as_mut().poll(cx).is_pending() {
                return None;
            }
        }
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(reason) = this.poll_expired(cx) {
            tracing::debug!(peer = %this.slot.conn.peer, reason, "closing a control connection");
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Connected for Admitted {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            remote_addr: self.slot.conn.peer,
            conn: self.slot.conn.clone(),
        }
    }
}
