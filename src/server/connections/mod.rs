//! Control connections: a cap on how many are open (in all and per client address) and an idle
//! timeout, so that clients that connect and do nothing (or stall a TLS handshake) cannot lock
//! out the others.
//!
//! [`incoming`] admits each accepted connection against the caps and wraps it in [`Admitted`],
//! which ends the connection once it has had no call in progress for the idle timeout;
//! [`TrackCalls`] tells it when calls start and end. A `req` waiting for its hello is a call in
//! progress, so its connection stays open for the whole hello timeout (HTTP/2 keepalive pings
//! meanwhile notice a client that went away).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::http;
use tonic::transport::server::{Connected, TlsConnectInfo};

/// Refusals are logged at most this often, with how many there were: a flood of connections
/// must not become a flood of log lines.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How many control connections may be open, and how long one may sit without a call.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_total: usize,
    pub max_per_ip: usize,
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_total: 512,
            max_per_ip: 64,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The open connections, counted in all and per client address.
struct Census {
    limits: ConnectionLimits,
    state: Mutex<CensusState>,
}

#[derive(Default)]
struct CensusState {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    refused_unlogged: u64,
    last_logged: Option<Instant>,
}

impl Census {
    fn lock(&self) -> std::sync::MutexGuard<'_, CensusState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection from `ip`, or None when a cap is reached.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut state = self.lock();
        let from_ip = state.per_ip.get(&ip).copied().unwrap_or(0);
        if state.total >= self.limits.max_total || from_ip >= self.limits.max_per_ip {
            self.log_refusal(&mut state, ip, from_ip);
            return None;
        }
        state.total += 1;
        state.per_ip.insert(ip, from_ip + 1);
        Some(Slot {
            census: self.clone(),
            ip,
        })
    }

    fn log_refusal(&self, state: &mut CensusState, ip: IpAddr, from_ip: usize) {
        state.refused_unlogged += 1;
        if state
            .last_logged
            .is_some_and(|t| t.elapsed() < REFUSAL_LOG_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            event = "connection_refused",
            peer = %ip,
            open = state.total,
            open_from_peer = from_ip,
            refused = state.refused_unlogged,
            "control connections refused: at most {} open ({} per client address); raise \
             --max-control-connections or --max-control-connections-per-ip if these are real clients",
            self.limits.max_total,
            self.limits.max_per_ip,
        );
        state.refused_unlogged = 0;
        state.last_logged = Some(Instant::now());
    }
}

/// One admitted connection's place in the census, given back on drop.
struct Slot {
    census: Arc<Census>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.census.lock();
        state.total -= 1;
        if let Some(n) = state.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                state.per_ip.remove(&self.ip);
            }
        }
    }
}

/// The connections accepted on `listener` that fit under `limits`; the others are closed at once.
pub(crate) fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl Stream<Item = io::Result<Admitted>> {
    let census = Arc::new(Census {
        limits,
        state: Mutex::default(),
    });
    TcpListenerStream::new(listener).filter_map(move |accepted| match accepted {
        Ok(stream) => admit(&census, stream).map(Ok),
        Err(e) => Some(Err(e)),
    })
}

fn admit(census: &Arc<Census>, stream: TcpStream) -> Option<Admitted> {
    let peer = stream.peer_addr().ok()?;
    let slot = census.admit(peer.ip())?;
    // Small control messages must not wait for delayed ACKs (Nagle).
    let _ = stream.set_nodelay(true);
    let calls = Arc::new(Calls {
        state: Mutex::new(CallState {
            active: 0,
            idle_since: Instant::now(),
        }),
    });
    let idle_timeout = census.limits.idle_timeout;
    Some(Admitted {
        stream,
        peer,
        calls,
        idle_timeout,
        idle_check: Box::pin(tokio::time::sleep(idle_timeout)),
        _slot: slot,
    })
}

/// The calls in progress on one connection, and since when it has had none.
struct Calls {
    state: Mutex<CallState>,
}

struct CallState {
    active: usize,
    idle_since: Instant,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, CallState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection became idle, or None while a call is in progress.
    fn idle_since(&self) -> Option<Instant> {
        let state = self.lock();
        (state.active == 0).then_some(state.idle_since)
    }
}

/// A call in progress, counted until dropped.
struct Call(Arc<Calls>);

impl Call {
    fn begin(calls: &Arc<Calls>) -> Call {
        calls.lock().active += 1;
        Call(calls.clone())
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.active -= 1;
        if state.active == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// What each call on a connection carries in its extensions: the client's address, and the
/// connection's call count for [`TrackCalls`].
#[derive(Clone)]
pub(crate) struct ConnectionInfo {
    pub(crate) remote_addr: SocketAddr,
    calls: Arc<Calls>,
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

/// An admitted control connection. Reading from it ends (EOF) once it has had no call in
/// progress for the idle timeout: hyper then closes it, whether it was still in its TLS
/// handshake, before its HTTP/2 preface, or between calls.
pub(crate) struct Admitted {
    stream: TcpStream,
    peer: SocketAddr,
    calls: Arc<Calls>,
    idle_timeout: Duration,
    idle_check: Pin<Box<Sleep>>,
    _slot: Slot,
}

impl Admitted {
    /// Whether the idle timeout has passed; otherwise the idle check is armed to wake `cx`.
    fn poll_idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        while self.idle_check.as_mut().poll(cx).is_ready() {
            let next = match self.calls.idle_since() {
                None => Instant::now() + self.idle_timeout,
                Some(since) if since.elapsed() >= self.idle_timeout => return true,
                Some(since) => since + self.idle_timeout,
            };
            self.idle_check.as_mut().reset(next.into());
        }
        false
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_idle_expired(cx) {
            tracing::debug!(peer = %this.peer, "closing an idle control connection");
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
            remote_addr: self.peer,
            calls: self.calls.clone(),
        }
    }
}

/// Counts each call as in progress on its connection until its response is ready, so that a
/// long call (a `req` waiting for its hello) never looks idle.
#[derive(Clone)]
pub(crate) struct TrackCalls<S>(pub S);

type Tracked<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for TrackCalls<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Tracked<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = ConnectionInfo::of(request.extensions()).map(|c| Call::begin(&c.calls));
        let response = self.0.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(call);
            response
        })
    }
}
