//! Control connections: idle and slow clients cannot lock out a real one, idle connections are
//! closed, and a req waiting for its hello keeps its connection. (Floods, eviction and bodies
//! that never arrive: tests/control_floods.rs.)

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::server::{private_loopback, Options, TestServer};
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::server::{ConnectionLimits, Quota, Quotas};
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
            handshake_timeout: idle_timeout,
            ..ConnectionLimits::default()
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
/// How long after `start` the server closed `stream`: `start` must be taken before the
/// connection was made, so that the figure is a lower bound of how long the server kept it.
async fn closed_since(start: Instant, stream: &mut TcpStream) -> Duration {
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
    // The idler's fifth connection takes the place of its oldest, which is closed.
    let _fifth = raw_from(idler, server.addr).await;
    assert!(closed_since(Instant::now(), &mut idle[0]).await < BOUND);
    // Everyone else is served, through the CLI as well.
    grpc_from(private_loopback(), &server).await.unwrap();
    let opened = server.prod("1", "7001", &[]);
    assert!(!crate::common::req::listeners_of(&opened).is_empty());
}

/// A `req prod` that waits for its hello (a call in progress on its connection) in a child
/// process, once the server has bound its listener (the only port of the server's range).
async fn waiting_prod(server: &TestServer) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scistream"));
    cmd.env_clear().arg("--config").arg(server.config()).args([
        "req",
        "prod",
        "--num-conn",
        "1",
        "--s2cs",
        &server.s2cs(),
    ]);
    if !server.tls {
        cmd.arg("--no-tls");
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listener = format!("{}:{PORT}", server.listener_ip);
    crate::common::net::wait_until("the req to bind its listener", || {
        crate::common::server::is_bound(&listener)
    })
    .await;
    child
}

/// The one port of the servers' range in the tests that fill their caps with waiting reqs.
const PORT: u16 = 20000;

#[tokio::test(flavor = "multi_thread")]
async fn the_total_cap_refuses_newcomers_only_when_every_connection_is_busy() {
    let server = TestServer::start(Options {
        port_range: PORT..=PORT + 2,
        ..limited(3, 3, BOUND)
    });
    let mut waiting = Vec::new();
    for i in 0..3 {
        let mut client = grpc_from(private_loopback(), &server).await.unwrap();
        waiting.push(tokio::spawn(async move {
            client
                .req(pb::Request {
                    uid: format!("waits-{i}"),
                    role: "PROD".into(),
                    num_conn: 1,
                    rate: 0,
                    ..Default::default()
                })
                .await
        }));
        let listener = format!("{}:{}", server.listener_ip, PORT + i);
        crate::common::net::wait_until("the req to bind its listener", || {
            crate::common::server::is_bound(&listener)
        })
        .await;
    }
    let mut fourth = raw_from(private_loopback(), server.addr).await;
    assert!(closed_since(Instant::now(), &mut fourth).await < BOUND);
    waiting.iter().for_each(|req| req.abort());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let idle_timeout = Duration::from_millis(500);
    let server = TestServer::start(limited(16, 1, idle_timeout));
    let connecting = Instant::now();
    let mut silent = raw_from(private_loopback(), server.addr).await;
    assert!(closed_since(connecting, &mut silent).await >= idle_timeout);
    // A connection whose calls have ended is idle too: tests/control_floods.rs.
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
        assert!(closed_since(Instant::now(), stream).await < BOUND);
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
                ..Default::default()
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
    // One client opens them all: more than one identity's default quota of sessions.
    let quota = Quota {
        sessions,
        listeners: sessions,
        ..Quota::DEFAULT
    };
    let server = TestServer::start(Options {
        port_range: 30000..=31600,
        quotas: Quotas::new(quota, &Default::default()),
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
                    ..Default::default()
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
            port_range: PORT..=PORT,
            ..limited(1, 1, BOUND)
        });
        // The only slot holds a call in progress: nobody may take its place.
        let mut held = waiting_prod(&server).await;
        let assert = server.req("list", &[]).assert().code(4);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains("limit of control connections")
                && stderr.contains("--max-control-connections"),
            "tls {tls}: {stderr}"
        );
        held.kill().unwrap();
        held.wait().unwrap();
    }
}
