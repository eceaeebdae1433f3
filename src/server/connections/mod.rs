//! Control connections: clients that connect and do nothing, stall a TLS handshake, or send a
//! call's headers and never its body cannot lock out the others.
//!
//! [`incoming`] admits each accepted connection against the caps (in all, and per source: an
//! IPv4 address or an IPv6 /64), evicting the oldest connection that has proven nothing and is
//! doing nothing when a cap is reached ([`census`]), and wraps it in [`Admitted`], which ends the
//! connection when it is evicted, when it has sent no call within the handshake timeout, or once
//! it has had no call in progress for the idle timeout. [`TrackCalls`] tells it when calls start
//! (once their request has arrived) and end, and fails a call whose body does not arrive in
//! time. A `req` waiting for its hello is a call in progress, so its connection stays open for
//! the whole hello timeout (HTTP/2 keepalive pings meanwhile notice a client that went away).
//! The token check marks a connection authenticated ([`ConnectionInfo`]): it then keeps its
//! place when the caps are reached.

mod admitted;
mod calls;
mod census;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Sleep;
use tokio_stream::Stream;

use crate::logging::Throttle;
pub(crate) use admitted::{mark_authenticated, Admitted, ConnectionInfo};
pub(crate) use calls::TrackCalls;
use census::Census;

/// Pause after a failed accept: errors such as EMFILE persist until some connection closes,
/// and retrying at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How many control connections may be open, and how long one may take to set up, to send a
/// call's body, and to sit without a call.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_total: usize,
    /// Per source: an IPv4 address, or an IPv6 /64.
    pub max_per_ip: usize,
    pub idle_timeout: Duration,
    /// From accept to the first call's headers (TCP, TLS and the HTTP/2 preface).
    pub handshake_timeout: Duration,
    /// From a call's headers to the end of its request body.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_total: 512,
            max_per_ip: 64,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// The connections accepted on `listener` that fit under `limits` (some by evicting an idle
/// stranger); the others are closed at once. While `accepting` is false (a live upgrade),
/// none is accepted: clients wait in the listen backlog, which the next process takes over.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
    accepting: watch::Receiver<bool>,
) -> impl Stream<Item = io::Result<Admitted>> {
    Incoming {
        listener,
        census: Census::new(limits),
        pause: None,
        failures: Throttle::default(),
        gate: Box::pin(open(accepting)),
    }
}

/// Resolves once `accepting` is true, with the receiver to wait on the next time.
async fn open(mut accepting: watch::Receiver<bool>) -> watch::Receiver<bool> {
    // Once the sender is gone (the server stopping), accepting stays as it was last set.
    let _ = accepting.wait_for(|&open| open).await;
    accepting
}

struct Incoming {
    listener: TcpListener,
    census: Arc<Census>,
    /// Set after an accept failed for want of resources: no accept until it elapses.
    pause: Option<Pin<Box<Sleep>>>,
    failures: Throttle,
    /// Ready while accepting is allowed.
    gate: Pin<Box<dyn Future<Output = watch::Receiver<bool>> + Send>>,
}

impl Incoming {
    fn admit(&self, stream: TcpStream) -> Option<Admitted> {
        let peer = stream.peer_addr().ok()?;
        let slot = self.census.admit(peer)?;
        // Small control messages must not wait for delayed ACKs (Nagle).
        let _ = stream.set_nodelay(true);
        Some(Admitted::new(stream, slot))
    }

    /// Pauses accepting after an error that retrying at once cannot clear (EMFILE, ENFILE,
    /// ENOBUFS...); the clients wait in the listen backlog meanwhile.
    fn back_off(&mut self, error: &io::Error) {
        if let Some(failures) = self.failures.count() {
            tracing::warn!(
                event = "accept_failed",
                failures,
                "could not accept a control connection: {error}; pausing accepts for {} ms \
                 each time (if out of file descriptors, raise the open-file limit, e.g. \
                 LimitNOFILE=, or lower --max-connections)",
                ACCEPT_BACKOFF.as_millis()
            );
        }
        self.pause = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
    }
}

/// An accept error that concerns one client only: the next accept may well succeed.
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

impl Stream for Incoming {
    type Item = io::Result<Admitted>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = &mut this.pause {
                ready!(pause.as_mut().poll(cx));
                this.pause = None;
            }
            let accepting = ready!(this.gate.as_mut().poll(cx));
            let closed = !*accepting.borrow();
            this.gate = Box::pin(open(accepting));
            if closed {
                continue;
            }
            match ready!(this.listener.poll_accept(cx)) {
                Ok((stream, _)) => {
                    if let Some(admitted) = this.admit(stream) {
                        return Poll::Ready(Some(Ok(admitted)));
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => this.back_off(&e),
            }
        }
    }
}
