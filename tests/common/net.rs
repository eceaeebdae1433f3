//! Network fixtures for relay tests: loopback servers (echo, sink, named, reply-after-EOF),
//! payloads, relays on port 0, a proxy that flips a bit, how a stream ended, and the bounds that
//! keep every test from hanging.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{rngs::SmallRng, RngCore, SeedableRng};
use scistream::relay::{Capacity, Limits, SessionRelay, TargetPolicy};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

const LOOPBACK: &str = "127.0.0.1:0";
/// Far more than any test opens, well within a test process's fds.
pub const RELAY_LIMITS: Limits = Limits {
    max_connections: 4096,
    max_pipes: 1024,
    connect_timeout: Duration::from_secs(10),
};
/// No relay test may take longer than this, so a bug fails a test instead of hanging CI.
pub const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Runs one test body under [`TEST_LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("test exceeded its time limit")
}

/// Polls `condition` until it holds; panics with `what` after a deadline.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn random_payload(len: usize, seed: u64) -> Vec<u8> {
    let mut payload = vec![0; len];
    SmallRng::seed_from_u64(seed).fill_bytes(&mut payload);
    payload
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub async fn listener() -> TcpListener {
    TcpListener::bind(LOOPBACK).await.unwrap()
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// A session relay on `listeners` fresh loopback ports, already targeting `targets`.
pub async fn relay_to(targets: &[SocketAddr], listeners: usize) -> (SessionRelay, Vec<SocketAddr>) {
    let mut bound = Vec::new();
    for _ in 0..listeners {
        bound.push(listener().await);
    }
    relay_on(bound, targets)
}

/// A session relay on already bound listeners, already targeting `targets`, with a capacity
/// of its own.
pub fn relay_on(
    listeners: Vec<TcpListener>,
    targets: &[SocketAddr],
) -> (SessionRelay, Vec<SocketAddr>) {
    relay_within(Capacity::new(RELAY_LIMITS), listeners, targets)
}

/// A session relay on already bound listeners, already targeting `targets`, counted against
/// `capacity`.
pub fn relay_within(
    capacity: Arc<Capacity>,
    listeners: Vec<TcpListener>,
    targets: &[SocketAddr],
) -> (SessionRelay, Vec<SocketAddr>) {
    let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let relay = SessionRelay::new(
        "test-session".into(),
        listeners,
        TargetPolicy::anywhere(),
        capacity,
    );
    relay.set_targets(targets.iter().map(|&target| target.into()).collect());
    (relay, addrs)
}

/// A server that handles every connection with `handler` until the returned task is aborted,
/// which also drops its live connections.
pub async fn serve<F, Fut>(handler: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(handler(stream));
        }
    });
    (addr, task)
}

/// A server that handles one connection and returns what `handler` found.
pub async fn accept_one<F, Fut, T>(handler: F) -> (SocketAddr, JoinHandle<T>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let listener = listener().await;
    accept_one_on(listener, handler)
}

pub fn accept_one_on<F, Fut, T>(listener: TcpListener, handler: F) -> (SocketAddr, JoinHandle<T>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { handler(listener.accept().await.unwrap().0).await }),
    )
}

/// A client connected through a fresh relay to a one-connection target run by `handler`.
pub async fn client_through_relay<F, Fut, T>(handler: F) -> (TcpStream, SessionRelay, JoinHandle<T>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (target, handled) = accept_one(handler).await;
    let (relay, listeners) = relay_to(&[target], 1).await;
    (connect(listeners[0]).await, relay, handled)
}

/// Echoes each connection, passing its EOF on once everything is echoed.
pub async fn echo(mut stream: TcpStream) {
    let (mut from, mut to) = stream.split();
    if tokio::io::copy(&mut from, &mut to).await.is_ok() {
        let _ = to.shutdown().await;
    }
}

/// Says its name, then echoes: tells which target a relayed connection reached.
pub async fn named(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    serve(move |mut stream: TcpStream| async move {
        if stream.write_all(name.as_bytes()).await.is_ok() {
            echo(stream).await;
        }
    })
    .await
}

/// Reads the whole request up to EOF, then sends it back and closes.
pub async fn reply_after_eof(mut stream: TcpStream) {
    let mut request = Vec::new();
    stream.read_to_end(&mut request).await.unwrap();
    stream.write_all(&request).await.unwrap();
    stream.shutdown().await.unwrap();
}

/// What a sink read from its connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    pub len: u64,
    pub sha256: [u8; 32],
}

impl Received {
    pub fn of(payload: &[u8]) -> Self {
        Received {
            len: payload.len() as u64,
            sha256: sha256(payload),
        }
    }
}

/// Reads `stream` to EOF, hashing; waits for `pace` (if any) before each read, and calls
/// `after_read` with the running total.
pub async fn hash_until_eof(
    stream: &mut TcpStream,
    pace: Option<Duration>,
    mut after_read: impl FnMut(u64),
) -> Received {
    let mut pace = pace.map(tokio::time::interval);
    let (mut hasher, mut len, mut buf) = (Sha256::new(), 0u64, vec![0; 64 << 10]);
    loop {
        if let Some(pace) = &mut pace {
            pace.tick().await;
        }
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            return Received {
                len,
                sha256: hasher.finalize().into(),
            };
        }
        hasher.update(&buf[..n]);
        len += n as u64;
        after_read(len);
    }
}

/// A one-connection sink that reads as fast as it can.
pub async fn sink() -> (SocketAddr, JoinHandle<Received>) {
    accept_one(|mut stream| async move { hash_until_eof(&mut stream, None, |_| ()).await }).await
}

/// A one-connection sink on `listener` that reads 64 KiB per millisecond, a fraction of
/// loopback speed. Also returns the most bytes ever in flight: published in `written` by the
/// writer but not yet read here.
pub fn slow_sink(
    listener: TcpListener,
    written: Arc<AtomicU64>,
) -> (SocketAddr, JoinHandle<(Received, u64)>) {
    accept_one_on(listener, move |mut stream| async move {
        let mut max_in_flight = 0;
        let pace = Some(Duration::from_millis(1));
        let received = hash_until_eof(&mut stream, pace, |read| {
            let in_flight = written.load(Ordering::Relaxed).saturating_sub(read);
            max_in_flight = max_in_flight.max(in_flight);
        })
        .await;
        (received, max_in_flight)
    })
}

/// Writes `payload` in chunks, publishing in `written` how much the kernel has taken so far.
pub async fn write_counted(stream: &mut TcpStream, payload: &[u8], written: &AtomicU64) {
    for chunk in payload.chunks(64 << 10) {
        stream.write_all(chunk).await.unwrap();
        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

pub async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    stream.read_exact(&mut bytes).await.unwrap();
    bytes
}

/// Sends `payload` then EOF while reading what comes back until EOF, both at once.
pub async fn full_duplex(mut stream: TcpStream, payload: &[u8]) -> Vec<u8> {
    let (mut from, mut to) = stream.split();
    let send = async {
        to.write_all(payload).await.unwrap();
        to.shutdown().await.unwrap();
    };
    let mut received = Vec::new();
    let (_, read) = tokio::join!(send, from.read_to_end(&mut received));
    read.unwrap();
    received
}

/// Writes until the connection fails, and returns that failure.
pub async fn write_until_error(stream: &mut TcpStream) -> io::Error {
    let chunk = vec![0u8; 64 << 10];
    loop {
        if let Err(e) = stream.write_all(&chunk).await {
            return e;
        }
    }
}

/// A socket whose receive buffer is pinned to `size` bytes (the kernel doubles it), which
/// connections accepted from it inherit. Returns the listener and the effective size.
pub fn listener_with_recv_buffer(size: u32) -> (TcpListener, u64) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(size).unwrap();
    socket.bind(LOOPBACK.parse().unwrap()).unwrap();
    let effective = socket.recv_buffer_size().unwrap();
    (socket.listen(128).unwrap(), effective.into())
}

/// Connects with the send buffer pinned to `size` bytes; returns the stream and the effective
/// size.
pub async fn connect_with_send_buffer(addr: SocketAddr, size: u32) -> (TcpStream, u64) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(size).unwrap();
    let effective = socket.send_buffer_size().unwrap();
    (socket.connect(addr).await.unwrap(), effective.into())
}

/// The largest send buffer the kernel lets TCP autotuning reach (tcp_wmem max).
pub fn max_autotuned_send_buffer() -> u64 {
    let wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").unwrap();
    wmem.split_whitespace().last().unwrap().parse().unwrap()
}

/// A target that never completes a handshake: its accept queue is full, so the kernel drops
/// new SYNs and connecting to it hangs until the dialler gives up.
pub struct Unresponsive {
    pub addr: SocketAddr,
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

pub async fn unresponsive() -> Unresponsive {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(LOOPBACK.parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    // Linux queues backlog + 1 handshaken connections before it starts dropping SYNs.
    let mut queued = Vec::new();
    for _ in 0..2 {
        queued.push(connect(addr).await);
    }
    Unresponsive {
        addr,
        _listener: listener,
        _queued: queued,
    }
}

/// What a client reads from `stream` until it ends, however it ends (EOF or an error, which
/// a closed relay may give either way).
pub async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    received
}

/// Reads from `stream` until it fails, and returns how; panics on a clean EOF.
async fn read_until_error(stream: &mut TcpStream) -> io::Error {
    let mut buf = vec![0; 64 << 10];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => panic!("a clean EOF where the stream was cut"),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

/// Reads until the stream ends: it must end with a reset, not like a complete stream.
pub async fn assert_reset(stream: &mut TcpStream) {
    let error = read_until_error(stream).await;
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}");
}

/// Connects through `listener` and expects a reset within a second, not data, EOF or a hang.
pub async fn expect_reset(listener: SocketAddr) {
    let read = tokio::time::timeout(Duration::from_secs(1), first_read(listener)).await;
    match read.expect("no answer within a second: left hanging") {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("read {n} bytes where a reset was due"),
    }
}

/// What the first read of a new connection gets; a reset may already fail the connect.
async fn first_read(listener: SocketAddr) -> std::io::Result<usize> {
    let mut stream = TcpStream::connect(listener).await?;
    stream.read(&mut [0; 1]).await
}

/// A connection through `listener` to an echo target, proven live by one round trip.
pub async fn live_connection(listener: SocketAddr) -> TcpStream {
    let mut client = connect(listener).await;
    client.write_all(b"ping").await.unwrap();
    let mut pong = [0; 4];
    client.read_exact(&mut pong).await.unwrap();
    client
}

/// Connections through `listener` to an echo target, each proven live by a round trip.
pub async fn live_connections(listener: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut live = Vec::new();
    for _ in 0..n {
        live.push(live_connection(listener).await);
    }
    live
}

/// Which way the bytes a [`flipping_proxy`] changes travel.
pub enum Flow {
    /// From the proxy's client to its upstream.
    Up,
    /// From its upstream back to its client.
    Down,
}

/// Forwards one TCP connection to `upstream`, flipping one bit of the byte at `offset` of what
/// flows `flow`; the other way, bytes pass unchanged. Each side's EOF is passed on.
pub async fn flipping_proxy(upstream: String, flow: Flow, offset: usize) -> SocketAddr {
    let listener = listener().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(upstream).await.unwrap();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let (mut from, mut to, mut back_from, mut back_to) = match flow {
            Flow::Up => (client_read, server_write, server_read, client_write),
            Flow::Down => (server_read, client_write, client_read, server_write),
        };
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut back_from, &mut back_to).await;
        });
        let (mut seen, mut buf) = (0, vec![0; 64 * 1024]);
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if (seen..seen + n).contains(&offset) {
                buf[offset - seen] ^= 0x01;
            }
            seen += n;
            if to.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    addr
}
