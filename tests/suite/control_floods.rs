//! Floods of the control port: strangers that hold connections open (idle, or with a call whose
//! body never comes) cannot keep a real client out, a connection that passed the token check
//! keeps its place, and the accept loop does not spin when the process is out of fds.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::net::wait_until;
use crate::common::oauth::OAuthServer;
use crate::common::server::{is_bound, private_loopback, Options, TestServer};
use crate::common::server_process::{ServerProcess, ServerSetup};
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::server::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// Longer than any wait in these tests: what has not happened by then never will.
const BOUND: Duration = Duration::from_secs(20);

/// A TCP connection to `server` from the local address `from`, that sends nothing.
async fn raw_from(from: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server).await
}

/// Connections that send nothing, `per_source` from each source address, each reopened as soon
/// as the server closes it; they stop when this is dropped.
struct Flood {
    _holders: JoinSet<()>,
    /// Per source: how many of its connections the server closed.
    closed: Vec<Arc<AtomicUsize>>,
}

impl Flood {
    fn start(server: SocketAddr, sources: &[IpAddr], per_source: usize) -> Flood {
        let mut holders = JoinSet::new();
        let mut closed = Vec::new();
        for &source in sources {
            let count = Arc::new(AtomicUsize::new(0));
            for _ in 0..per_source {
                holders.spawn(hold(source, server, count.clone()));
            }
            closed.push(count);
        }
        Flood {
            _holders: holders,
            closed,
        }
    }

    /// Waits until every source has had a connection closed: each is at its cap.
    async fn until_every_source_is_at_its_cap(&self) {
        let deadline = Instant::now() + BOUND;
        while self.closed.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
            assert!(
                Instant::now() < deadline,
                "the flood never reached the caps"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn hold(from: IpAddr, server: SocketAddr, closed: Arc<AtomicUsize>) {
    let mut sink = Vec::new();
    loop {
        // Out of ephemeral ports or the like, connecting fails: the flood goes on a moment later.
        if let Ok(mut stream) = raw_from(from, server).await {
            let _ = stream.read_to_end(&mut sink).await;
            sink.clear();
            closed.fetch_add(1, Ordering::Relaxed);
        }
        // Each reopening evicts another of the source's connections once it is at its cap:
        // a short pause keeps that chain from taking this machine's CPUs from the real client.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The finding's attack, scaled down: 8 addresses, each at its cap (one connection more than
/// it may hold, so that it keeps reopening), together at the server's total cap. A real client
/// that is neither of them gets through, with TLS and without.
// Multi-threaded: the server fixture's drop blocks this thread while the clients close.
#[tokio::test(flavor = "multi_thread")]
async fn a_real_client_gets_through_a_flood_of_idle_connections() {
    for tls in [true, false] {
        let server = TestServer::start(Options {
            tls,
            connections: ConnectionLimits {
                max_total: 64,
                max_per_ip: 8,
                ..ConnectionLimits::default()
            },
            ..Options::default()
        });
        let sources: Vec<IpAddr> = (0..8).map(|_| private_loopback()).collect();
        let flood = Flood::start(server.addr, &sources, 9);
        flood.until_every_source_is_at_its_cap().await;
        for _ in 0..3 {
            server.req("list", &[]).assert().success();
        }
        drop(flood);
    }
}

/// A connection that has not sent a call's headers within the handshake timeout is closed,
/// however long the idle timeout: one that sends nothing, and one stuck in its TLS handshake.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_without_a_call_is_closed_at_the_handshake_timeout() {
    let server = TestServer::start(Options {
        tls: true,
        connections: ConnectionLimits {
            handshake_timeout: Duration::from_millis(300),
            idle_timeout: BOUND * 3,
            ..ConnectionLimits::default()
        },
        ..Options::default()
    });
    let mut silent = raw_from(private_loopback(), server.addr).await.unwrap();
    let mut stalled = raw_from(private_loopback(), server.addr).await.unwrap();
    // The first bytes of a TLS handshake record, and then nothing.
    stalled.write_all(&[0x16, 0x03, 0x01, 0x00]).await.unwrap();
    for stream in [&mut silent, &mut stalled] {
        let closed = tokio::time::timeout(BOUND, stream.read_to_end(&mut Vec::new())).await;
        assert!(
            closed.is_ok(),
            "the connection was still open after {BOUND:?}"
        );
    }
    // A real client sends its call at once and is served.
    server.req("list", &[]).assert().success();
}

/// A call on `channel` whose headers are sent and whose body never is.
async fn call_without_body(channel: Channel) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let never = tokio_stream::pending::<pb::ListRequest>();
    let path = PathAndQuery::from_static("/scistream.Control/list");
    let codec = tonic_prost::ProstCodec::<pb::ListRequest, pb::SessionList>::default();
    let answer = grpc.client_streaming(Request::new(never), path, codec);
    match tokio::time::timeout(BOUND, answer).await {
        Ok(answer) => answer.expect_err("a call without its request was answered"),
        Err(_) => panic!("a call whose body never came was still waiting after {BOUND:?}"),
    }
}

fn timeouts(idle_timeout: Duration, body_timeout: Duration) -> Options {
    Options {
        connections: ConnectionLimits {
            idle_timeout,
            body_timeout,
            ..ConnectionLimits::default()
        },
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_body_never_arrives_fails_at_the_body_timeout() {
    let server = TestServer::start(timeouts(BOUND * 3, Duration::from_millis(300)));
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = call_without_body(channel.clone()).await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("did not arrive"), "{status:?}");
    // The connection is still good for calls that arrive.
    let mut client = ControlClient::new(channel);
    client.list(pb::ListRequest::default()).await.unwrap();
}

/// The call counts as in progress only once its request has arrived: until then its connection
/// is idle, and closed after the idle timeout like any other.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_body_never_arrives_does_not_hold_its_connection_past_the_idle_timeout() {
    let idle_timeout = Duration::from_millis(500);
    let server = TestServer::start(timeouts(idle_timeout, BOUND * 3));
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ControlClient::new(channel.clone());
    client.list(pb::ListRequest::default()).await.unwrap();
    let start = Instant::now();
    let status = call_without_body(channel).await;
    assert_ne!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        start.elapsed() >= idle_timeout,
        "closed before the idle timeout"
    );
}

const SCOPE: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
const SECRET: &str = "flood-secret";

/// A plaintext gRPC channel from the local address `from`.
async fn channel_from(from: IpAddr, server: &str) -> Channel {
    Endpoint::from_shared(format!("http://{server}"))
        .unwrap()
        .local_address(Some(from))
        .connect()
        .await
        .unwrap()
}

fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

/// With both places taken, one by a connection that made an authenticated call (idle now) and
/// one by a req waiting for its hello, a stranger is refused rather than given the
/// authenticated connection's place.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_passed_the_token_check_keeps_its_place() {
    let auth = OAuthServer::start();
    auth.accept_client(SCOPE, SECRET);
    let ip = private_loopback().to_string();
    let server = ServerProcess::start(
        &auth,
        ServerSetup {
            ip: &ip,
            credentials: Some((SCOPE, SECRET)),
            extra_args: &[
                "--max-control-connections",
                "2",
                "--port-range",
                "20000-20000",
            ],
        },
    );
    let token = auth.mint(SCOPE, Duration::from_secs(3600)).access_token;
    let mut authenticated =
        ControlClient::new(channel_from(private_loopback(), &server.addr).await);
    let list = || with_token(pb::ListRequest::default(), &token);
    authenticated.list(list()).await.unwrap();

    let mut busy = ControlClient::new(channel_from(private_loopback(), &server.addr).await);
    let req = pb::Request {
        uid: "waits".into(),
        role: "PROD".into(),
        num_conn: 1,
        rate: 0,
        ..Default::default()
    };
    let waiting = tokio::spawn({
        let req = with_token(req, &token);
        async move { busy.req(req).await }
    });
    wait_until("the req to bind its listener", || {
        is_bound(&format!("{ip}:20000"))
    })
    .await;

    let _stranger = raw_from(private_loopback(), server.addr.parse().unwrap())
        .await
        .unwrap();
    let decided =
        |log: &str| log.contains("connection_refused") || log.contains("connection_evicted");
    wait_until("the server to decide on the stranger", || {
        decided(&server.log())
    })
    .await;
    let log = server.log();
    assert!(!log.contains("connection_evicted"), "{log}");
    authenticated.list(list()).await.unwrap();
    waiting.abort();
}

/// Out of fds, the control accept loop pauses between attempts instead of retrying at once: a
/// server whose fd table is full uses far less CPU than a thread that spins beside it, says so
/// once in its log, and serves again once fds are free.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_fds_the_control_accept_loop_backs_off_instead_of_spinning() {
    const FD_LIMIT: u32 = 256;
    let auth = OAuthServer::start();
    let ip = private_loopback().to_string();
    let args = [
        "--max-connections",
        "1",
        "--max-control-connections",
        "1000",
        "--max-control-connections-per-ip",
        "1000",
        "--port-range",
        "20000-20000",
    ];
    let setup = ServerSetup {
        ip: &ip,
        credentials: None,
        extra_args: &args,
    };
    let server = ServerProcess::start_with_fd_limit(&auth, setup, FD_LIMIT);
    let addr: SocketAddr = server.addr.parse().unwrap();
    let from = private_loopback();
    let mut held = Vec::new();
    for _ in 0..FD_LIMIT + 32 {
        held.push(raw_from(from, addr).await.unwrap());
    }
    wait_until("the server holds every fd it may", || {
        server.open_fds() == FD_LIMIT as usize
    })
    .await;

    let before = server.cpu_time();
    let spun = spin_for(Duration::from_secs(2));
    let used = server.cpu_time() - before;
    assert!(
        used * 8 < spun.max(Duration::from_millis(200)),
        "the server used {used:?} of CPU while a spinning thread got {spun:?}"
    );
    let log = server.log();
    // Said, and not once per attempt (the throttle allows a line every 10 s).
    let said = log.matches("could not accept a control connection").count();
    assert!((1..=2).contains(&said), "{log}");

    drop(held);
    wait_until("fds are free again", || {
        server.open_fds() < FD_LIMIT as usize - 32
    })
    .await;
    crate::common::user::User::new(&auth)
        .cmd(&["req", "list", "--no-tls", "--s2cs", &server.addr])
        .assert()
        .success();
}

/// Spins this thread for `wall` and returns the CPU time it got: what a process that never
/// sleeps gets on this machine now.
fn spin_for(wall: Duration) -> Duration {
    let cpu = || {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the struct we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    };
    std::thread::spawn(move || {
        let (start, spent) = (Instant::now(), cpu());
        while start.elapsed() < wall {
            std::hint::spin_loop();
        }
        cpu() - spent
    })
    .join()
    .unwrap()
}
