//! Where sessions may relay: never into the server itself, and only inside `--allow-targets`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::common::net::{bounded, connect, listener, named, read_until_closed, RELAY_LIMITS};
use crate::common::server::{Options, TestServer};
use scistream::pb;
use scistream::relay::{Capacity, SessionRelay, TargetPolicy};
use tokio::io::AsyncReadExt;
use tonic::Code;

fn update(uid: &str, target: &str) -> pb::UpdateTargets {
    pb::UpdateTargets {
        uid: uid.into(),
        remote_listeners: vec![target.into()],
        role: "PROD".into(),
    }
}

/// Opens a one-listener session relaying to `target`; returns its listener.
async fn open_session(server: &TestServer, uid: &str, target: SocketAddr) -> SocketAddr {
    let mut a = server.grpc().await;
    let mut b = a.clone();
    let hello = pb::Hello {
        uid: uid.into(),
        prod_listeners: vec![target.to_string()],
        role: "PROD".into(),
    };
    let req = pb::Request {
        uid: uid.into(),
        role: "PROD".into(),
        num_conn: 1,
        rate: 0,
        ..Default::default()
    };
    let (r, h) = tokio::join!(a.req(req), b.hello(hello));
    h.unwrap();
    a.update(update(uid, &target.to_string())).await.unwrap();
    r.unwrap().into_inner().listeners[0].parse().unwrap()
}

// Multi-threaded: the server fixture's drop blocks this thread while the clients close.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_cannot_target_the_server_itself_in_any_spelling() {
    bounded(async {
        let server = TestServer::start(Options {
            metrics: true,
            ..Options::default()
        });
        let (target, _target) = named("T").await;
        let own = open_session(&server, "self", target).await;
        let other = open_session(&server, "other", target).await;
        let (ip, control, metrics) = (own.ip(), server.addr.port(), server.metrics.unwrap());
        let mut c = server.grpc().await;
        for spelling in [
            own.to_string(),
            format!("[::ffff:{ip}]:{}", own.port()),
            format!("0.0.0.0:{}", own.port()),
            other.to_string(),
            format!("127.0.0.1:{control}"),
            format!("localhost:{control}"),
            format!("[::]:{control}"),
            format!("[::ffff:127.0.0.1]:{control}"),
            metrics.to_string(),
        ] {
            let status = c.update(update("self", &spelling)).await.unwrap_err();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{spelling}: {status:?}"
            );
            assert!(
                status.message().contains("this server"),
                "{spelling}: {status:?}"
            );
        }
        // The session still relays to its target.
        let mut client = connect(own).await;
        let mut name = [0; 1];
        client.read_exact(&mut name).await.unwrap();
        assert_eq!(&name, b"T");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_outside_allow_targets_are_refused_at_update() {
    bounded(async {
        let server = TestServer::start(Options {
            allow_targets: vec!["127.0.0.1/32".parse().unwrap()],
            ..Options::default()
        });
        let (allowed, _allowed) = named("A").await;
        let outside = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        outside.set_nonblocking(true).unwrap();
        let own = open_session(&server, "fenced", allowed).await;
        let mut c = server.grpc().await;
        let outside_addr = outside.local_addr().unwrap().to_string();
        let status = c.update(update("fenced", &outside_addr)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("--allow-targets"), "{status:?}");
        let mut client = connect(own).await;
        let mut name = [0; 1];
        client.read_exact(&mut name).await.unwrap();
        assert_eq!(&name, b"A", "the refused update left the old target");
        let not_reached = outside.accept().unwrap_err();
        assert_eq!(not_reached.kind(), std::io::ErrorKind::WouldBlock);
    })
    .await;
}

#[tokio::test]
async fn a_connection_is_refused_at_connect_time_outside_allow_targets() {
    bounded(async {
        let outside = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        outside.set_nonblocking(true).unwrap();
        let policy = TargetPolicy::new(vec!["127.0.0.1/32".parse().unwrap()], Vec::new());
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let relay = SessionRelay::new(
            "fenced".into(),
            vec![listener],
            Arc::new(policy),
            Capacity::new(RELAY_LIMITS),
        );
        relay.set_targets(vec![outside.local_addr().unwrap().into()]);
        assert!(read_until_closed(&mut connect(addr).await).await.is_empty());
        let not_reached = outside.accept().unwrap_err();
        assert_eq!(not_reached.kind(), std::io::ErrorKind::WouldBlock);
    })
    .await;
}
