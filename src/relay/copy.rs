//! The portable engine: `tokio::io::copy_bidirectional` through user-space buffers. Used where
//! splice(2) does not exist or does not work for these sockets, and for the encrypted hop.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Counters, Traffic};

/// What `tokio::io::copy_bidirectional` uses: enough between plain sockets.
pub(super) const PLAIN_BUFFER: usize = 8 * 1024;

/// Same contract as the splice engine: half-close on EOF, error on reset, counters live. Each
/// direction copies through a buffer of `buffer` bytes.
pub(super) async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    counters: &Counters,
    buffer: usize,
) -> (Traffic, io::Result<()>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = Counted::new(client, &counters.from_target);
    let mut server = Counted::new(server, &counters.to_target);
    let result =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, buffer, buffer).await;
    let traffic = Traffic {
        to_target: server.written,
        from_target: client.written,
    };
    (traffic, result.map(drop))
}

/// A stream that counts the bytes written into it, into its own total and a session counter,
/// so that the session's stats move while a long copy runs.
struct Counted<'a, S> {
    inner: S,
    written: u64,
    session_total: &'a AtomicU64,
}

impl<'a, S> Counted<'a, S> {
    fn new(inner: S, session_total: &'a AtomicU64) -> Self {
        Counted {
            inner,
            written: 0,
            session_total,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.written += n as u64;
            self.session_total.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::loopback::connected_pair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The splice engine covers this path on Linux only when splice fails, so drive it directly:
    /// bytes cross both ways, EOF half-closes, and both counters match what moved.
    #[tokio::test]
    async fn copies_both_ways_and_counts() {
        let (mut app, mut client) = connected_pair().await;
        let (mut server, mut target) = connected_pair().await;
        let counters = Counters::default();
        let relayed = relay(&mut client, &mut server, &counters, PLAIN_BUFFER);
        let exchange = async {
            app.write_all(b"request").await.unwrap();
            app.shutdown().await.unwrap();
            let mut request = Vec::new();
            target.read_to_end(&mut request).await.unwrap();
            target.write_all(b"a longer response").await.unwrap();
            target.shutdown().await.unwrap();
            let mut response = Vec::new();
            app.read_to_end(&mut response).await.unwrap();
            (request, response)
        };
        let ((traffic, result), (request, response)) = tokio::join!(relayed, exchange);
        result.unwrap();
        assert_eq!(
            (&request[..], &response[..]),
            (&b"request"[..], &b"a longer response"[..])
        );
        assert_eq!((traffic.to_target, traffic.from_target), (7, 17));
        let stats = counters.snapshot();
        assert_eq!((stats.bytes_to_target, stats.bytes_from_target), (7, 17));
    }
}
