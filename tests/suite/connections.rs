//! Control connections: idle and slow clients cannot lock out a real one, idle connections are
//! closed, and a req waiting for its hello keeps its connection.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::common::server::{private_loopback, Options, TestServer};
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::server::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tonic::transport::{Channel, Endpoint};

/// Longer than any wait in these tests: a connection that stays open this long was not closed.
const BOUND: Duration = Duration::from_secs(20);

fn limited(max_total: usize, max_per_ip: usize, idle_timeout: Duration) -> Options {
    Options {
        connections: ConnectionLimits {
            max_total,
            max_per_ip,
            idle_timeout,
        },
        ..Options::default()
    }
}

/// A TCP connection to `server` from the local address `from`, that sends nothing.
async fn raw_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// Waits until the server closes `stream` (EOF or reset), and returns how long that took.
/// What it sent meanwhile (HTTP/2 servers speak first) is ignored.
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(BOUND, stream.read_to_end(&mut sink)).await {
        Ok(_) => start.elapsed(),
        Err(_) => panic!("the connection was still open after {BOUND:?}"),
    }
}

/// A plaintext gRPC client on its own connection from the local address `from`.
async fn grpc_from(from: IpAddr, server: &TestServer) -> Result<ControlClient<Channel>, String> {
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .local_address(Some(from))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut client = ControlClient::new(channel);
    client
        .list(pb::ListRequest::default())
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(client)
}

// Multi-threaded: the server fixture's drop blocks this thread while the clients close.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_from_one_address_cannot_lock_out_another_client() {
    let server = TestServer::start(limited(16, 4, Duration::from_secs(60)));
    let idler = private_loopback();
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(raw_from(idler, server.addr).await);
    }
    // The idler's fifth connection is closed at once, whatever it is.
    let mut fifth = raw_from(idler, server.addr).await;
    assert!(closed_after(&mut fifth).await < BOUND);
    assert!(
        grpc_from(idler, &server).await.is_err(),
        "a gRPC client from the idler's address got past its cap"
    );
    // Everyone else is served, through the CLI as well.
    grpc_from(private_loopback(), &server).await.unwrap();
    let opened = server.prod("1", "7001", &[]);
    assert!(!crate::common::req::listeners_of(&opened).is_empty());
    // The cap is on open connections: one freed, the idler gets one again.
    drop(idle.pop());
    let mut retries = 0;
    while grpc_from(idler, &server).await.is_err() {
        retries += 1;
        assert!(retries < 200, "the freed slot never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_total_cap_refuses_connections_beyond_it() {
    let server = TestServer::start(limited(3, 3, Duration::from_secs(60)));
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(grpc_from(private_loopback(), &server).await.unwrap());
    }
    let mut fourth = raw_from(private_loopback(), server.addr).await;
    assert!(closed_after(&mut fourth).await < BOUND);
    drop(open);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let idle_timeout = Duration::from_millis(500);
    let server = TestServer::start(limited(16, 1, idle_timeout));
    let mut silent = raw_from(private_loopback(), server.addr).await;
    assert!(closed_after(&mut silent).await >= idle_timeout);

    // A gRPC client whose call has ended is idle too: the server closes its connection (kept
    // open on the client's side here), which frees its address's only slot.
    let from = private_loopback();
    let start = Instant::now();
    let _quiet = grpc_from(from, &server).await.unwrap();
    let mut retries = 0;
    while grpc_from(from, &server).await.is_err() {
        retries += 1;
        assert!(retries < 500, "the idle gRPC connection was never closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(start.elapsed() >= idle_timeout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_tls_handshake_holds_only_its_own_slot_and_is_closed_when_idle() {
    let idle_timeout = Duration::from_secs(1);
    let server = TestServer::start(Options {
        tls: true,
        ..limited(16, 4, idle_timeout)
    });
    let staller = private_loopback();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut stream = raw_from(staller, server.addr).await;
        // The first bytes of a TLS handshake record, and then nothing.
        stream.write_all(&[0x16, 0x03, 0x01, 0x00]).await.unwrap();
        stalled.push(stream);
    }
    let opened = server.prod("1", "7001", &[]);
    assert!(!crate::common::req::listeners_of(&opened).is_empty());
    for stream in &mut stalled {
        assert!(closed_after(stream).await < BOUND);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_req_waiting_for_its_hello_outlives_the_idle_timeout() {
    let idle_timeout = Duration::from_millis(300);
    let server = TestServer::start(limited(16, 4, idle_timeout));
    let mut waiting = grpc_from(private_loopback(), &server).await.unwrap();
    let req = tokio::spawn(async move {
        waiting
            .req(pb::Request {
                uid: "waits".into(),
                role: "PROD".into(),
                num_conn: 1,
                rate: 0,
            })
            .await
    });
    // The point of the test is the passing of time: several idle timeouts go by.
    tokio::time::sleep(idle_timeout * 4).await;
    let mut other = grpc_from(private_loopback(), &server).await.unwrap();
    other
        .hello(pb::Hello {
            uid: "waits".into(),
            prod_listeners: vec!["127.0.0.1:7001".into()],
            role: "PROD".into(),
        })
        .await
        .unwrap();
    let answered = tokio::time::timeout(BOUND, req).await.unwrap().unwrap();
    assert_eq!(answered.unwrap().into_inner().prod_listeners.len(), 1);
}

/// Thousands of session setups at once on one connection: h2 closes a connection on which too
/// many small frames wait unread, so the server bounds the calls in progress per connection
/// (the client queues the rest) and every setup succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_session_setups_on_one_connection_all_succeed() {
    let sessions = 1500;
    let server = TestServer::start(Options {
        port_range: 30000..=31600,
        ..Options::default()
    });
    let channel = grpc_from(private_loopback(), &server).await.unwrap();
    let mut setups = tokio::task::JoinSet::new();
    for i in 0..sessions {
        let (mut req, mut hello) = (channel.clone(), channel.clone());
        setups.spawn(async move {
            let uid = format!("burst-{i}");
            let (opened, said) = tokio::join!(
                req.req(pb::Request {
                    uid: uid.clone(),
                    role: "PROD".into(),
                    num_conn: 1,
                    rate: 0,
                }),
                hello.hello(pb::Hello {
                    uid,
                    prod_listeners: vec!["127.0.0.1:7001".into()],
                    role: "PROD".into(),
                })
            );
            opened.and(said).map(drop)
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = tokio::time::timeout(BOUND, setups.join_next())
        .await
        .unwrap()
    {
        if let Err(status) = done.unwrap() {
            failed.push(format!("{:?} {}", status.code(), status.message()));
        }
    }
    failed.dedup();
    assert!(failed.is_empty(), "failed setups: {failed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_past_the_connection_cap_is_told_so_with_or_without_tls() {
    for tls in [true, false] {
        let server = TestServer::start(Options {
            tls,
            ..limited(1, 1, BOUND)
        });
        let _held = raw_from(server.addr.ip(), server.addr).await;
        let assert = server.req("list", &[]).assert().code(4);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains("limit of control connections")
                && stderr.contains("--max-control-connections"),
            "tls {tls}: {stderr}"
        );
    }
}
