//! The data plane as users reach it: sessions set up by the `scistream` binary against real
//! control servers, with bytes streamed through their listeners.

use std::time::Duration;

use crate::common::net::{accept_one, assert_reset, echo, random_payload, serve, sha256};
use crate::common::server::{is_bound, Options, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

const MIB: usize = 1 << 20;

/// The uid and listeners of `req prod|cons --json` output.
fn opened(stdout: &[u8]) -> (String, Vec<String>) {
    let json: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    let listeners = json["listeners"].as_array().unwrap();
    let listeners = listeners
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    (json["uid"].as_str().unwrap().to_string(), listeners)
}

#[test]
fn a_producer_streams_64_mib_through_the_cons_to_prod_chain() {
    let rt = Runtime::new().unwrap();
    let payload = random_payload(64 * MIB, 7);
    let expected = sha256(&payload);
    // The producer application: sends its stream to whoever connects, then closes.
    let (producer, sent) = rt.block_on(accept_one(move |mut stream: TcpStream| async move {
        stream.write_all(&payload).await.unwrap();
        stream.shutdown().await.unwrap();
    }));
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let port = producer.port().to_string();
    let (uid, prod_listeners) = opened(&prod_gw.prod("1", &port, &["--json"]));
    let prod_s2cs = prod_gw.s2cs();
    let cons_args = [
        "--json",
        "--num-conn",
        "1",
        "--prod-s2cs",
        &prod_s2cs,
        &uid,
        &prod_listeners[0],
    ];
    let (_, cons_listeners) = opened(&cons_gw.stdout_of("cons", &cons_args));

    let received = rt.block_on(async {
        let mut consumer = TcpStream::connect(&cons_listeners[0]).await.unwrap();
        let mut received = Vec::with_capacity(64 * MIB);
        consumer.read_to_end(&mut received).await.unwrap();
        received
    });
    rt.block_on(sent).unwrap();
    assert_eq!(received.len(), 64 * MIB);
    assert_eq!(sha256(&received), expected);
    cons_gw.req("release", &[&uid]).assert().success();
    prod_gw.req("release", &[&uid]).assert().success();
}

/// A live connection through a fresh PROD session to an echo target, proven by a round trip.
fn live_connection(rt: &Runtime, server: &TestServer) -> (String, Vec<String>, TcpStream) {
    let (target, _echo) = rt.block_on(serve(echo));
    let port = target.port().to_string();
    let (uid, listeners) = opened(&server.prod("1", &port, &["--json", "--plaintext-hop"]));
    let client = rt.block_on(async {
        let mut client = TcpStream::connect(&listeners[0]).await.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut pong = [0; 4];
        client.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"ping", "relayed to the echo target");
        client
    });
    (uid, listeners, client)
}

/// A cut stream must not look complete: the client reads a reset, not a clean EOF.
fn assert_reset_soon(rt: &Runtime, client: &mut TcpStream) {
    let ended = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), assert_reset(client)).await
    });
    ended.expect("no reset within 10 s");
}

#[test]
fn release_resets_live_connections_and_closes_listeners() {
    let rt = Runtime::new().unwrap();
    let server = TestServer::start(Options::default());
    let (uid, listeners, mut client) = live_connection(&rt, &server);
    server.req("release", &[&uid]).assert().success();
    assert_reset_soon(&rt, &mut client);
    assert!(
        !is_bound(&listeners[0]),
        "listener still bound after release"
    );
}

#[test]
fn server_shutdown_resets_live_connections() {
    let rt = Runtime::new().unwrap();
    let server = TestServer::start(Options::default());
    let (_, _, mut client) = live_connection(&rt, &server);
    drop(server);
    assert_reset_soon(&rt, &mut client);
}
