//! The data plane against real loopback sockets: integrity, half-close, backpressure, failures,
//! concurrency, shutdown and retargeting of `SessionRelay`.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::common::net::*;
use scistream::relay::{Capacity, Limits, Rejection, SessionRelay, TargetPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

const MIB: usize = 1 << 20;

/// Sends `payload` to `addr` and closes the write side.
async fn send(addr: SocketAddr, payload: &[u8]) {
    let mut client = connect(addr).await;
    client.write_all(payload).await.unwrap();
    client.shutdown().await.unwrap();
}

async fn bytes_to_target_reach(relay: &SessionRelay, len: usize) {
    wait_until("the relay counted every byte", || {
        relay.stats().bytes_to_target == len as u64
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_of_64_mib_arrives_intact_and_is_counted() {
    bounded(async {
        let payload = random_payload(64 * MIB, 1);
        let (sink, received) = sink().await;
        let (relay, listeners) = relay_to(&[sink], 1).await;
        send(listeners[0], &payload).await;
        assert_eq!(received.await.unwrap(), Received::of(&payload));
        bytes_to_target_reach(&relay, payload.len()).await;
        let stats = relay.shutdown().await;
        assert_eq!((stats.bytes_from_target, stats.connections_total), (0, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_of_64_mib_crosses_a_cons_to_prod_chain_intact() {
    bounded(async {
        let payload = random_payload(64 * MIB, 2);
        let (sink, received) = sink().await;
        let (prod, prod_listeners) = relay_to(&[sink], 1).await;
        let (cons, cons_listeners) = relay_to(&prod_listeners, 1).await;
        send(cons_listeners[0], &payload).await;
        assert_eq!(received.await.unwrap(), Received::of(&payload));
        bytes_to_target_reach(&cons, payload.len()).await;
        bytes_to_target_reach(&prod, payload.len()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_duplex_echo_larger_than_the_pipe_is_exact() {
    bounded(async {
        let payload = random_payload(16 * MIB, 3);
        let (echo, _server) = serve(echo).await;
        let (relay, listeners) = relay_to(&[echo], 1).await;
        let echoed = full_duplex(connect(listeners[0]).await, &payload).await;
        assert!(echoed == payload, "echo differs from what was sent");
        wait_until("both directions are counted", || {
            let stats = relay.stats();
            (stats.bytes_to_target, stats.bytes_from_target) == (16 * MIB as u64, 16 * MIB as u64)
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn client_half_close_still_gets_the_whole_response() {
    bounded(async {
        let request = random_payload(2 * MIB, 4);
        let (server, _server) = serve(reply_after_eof).await;
        let (_relay, listeners) = relay_to(&[server], 1).await;
        let mut client = connect(listeners[0]).await;
        client.write_all(&request).await.unwrap();
        client.shutdown().await.unwrap();
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.unwrap();
        assert!(
            response == request,
            "the response after the half-close differs"
        );
    })
    .await;
}

#[tokio::test]
async fn target_half_close_leaves_the_client_able_to_send() {
    bounded(async {
        let greeting = random_payload(MIB, 5);
        let request = random_payload(MIB, 6);
        let served = greeting.clone();
        let (mut client, _relay, heard) = client_through_relay(move |mut stream| async move {
            stream.write_all(&served).await.unwrap();
            stream.shutdown().await.unwrap();
            hash_until_eof(&mut stream, None, |_| ()).await
        })
        .await;
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        assert!(
            received == greeting,
            "the target's data before its EOF differs"
        );
        client.write_all(&request).await.unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(heard.await.unwrap(), Received::of(&request));
    })
    .await;
}

/// A sink reading at a fraction of loopback speed: bytes written but not yet read must stay
/// within the kernel buffers on the path plus the relay's pipe, however long the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_holds_back_the_writer() {
    bounded(async {
        let payload = random_payload(48 * MIB, 7);
        let written = Arc::new(AtomicU64::new(0));
        let (sink_listener, sink_buffer) = listener_with_recv_buffer(256 << 10);
        let (sink, received) = slow_sink(sink_listener, written.clone());
        let (relay_listener, relay_buffer) = listener_with_recv_buffer(256 << 10);
        let (relay, listeners) = relay_on(vec![relay_listener], &[sink]);
        let (mut client, client_buffer) = connect_with_send_buffer(listeners[0], 256 << 10).await;
        let write = write_counted(&mut client, &payload, &written);
        let stats_move = wait_until("stats move during the transfer", || {
            let stats = relay.stats();
            stats.connections_active == 1 && stats.bytes_to_target >= 4 * MIB as u64
        });
        tokio::join!(write, stats_move);
        client.shutdown().await.unwrap();
        let (received, max_in_flight) = received.await.unwrap();
        assert_eq!(received, Received::of(&payload));

        let pipe = MIB as u64;
        let bound = client_buffer + relay_buffer + pipe + max_autotuned_send_buffer() + sink_buffer;
        assert!(
            max_in_flight <= bound,
            "{max_in_flight} bytes in flight, bound {bound}"
        );
        assert!(
            bound < payload.len() as u64 / 2,
            "the payload must dwarf the bound"
        );
    })
    .await;
}

#[tokio::test]
async fn silent_target_is_given_up_after_the_connect_timeout() {
    bounded(async {
        let target = unresponsive().await;
        let limits = Limits {
            connect_timeout: Duration::from_millis(200),
            ..RELAY_LIMITS
        };
        let (_relay, listeners) = relay_within(
            Capacity::new(limits),
            vec![listener().await],
            &[target.addr],
        );
        let mut client = connect(listeners[0]).await;
        let reset = tokio::time::timeout(Duration::from_secs(5), assert_reset(&mut client));
        reset.await.expect("client left hanging");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections_each_echo_their_own_payload() {
    bounded(async {
        let (echo, _server) = serve(echo).await;
        let (relay, listeners) = relay_to(&[echo], 1).await;
        let mut clients = JoinSet::new();
        for seed in 0..200u64 {
            let listener = listeners[0];
            clients.spawn(async move {
                let payload = random_payload(64 * 1024 + seed as usize * 997, seed);
                let echoed = full_duplex(connect(listener).await, &payload).await;
                assert!(echoed == payload, "connection {seed} got another echo");
            });
        }
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
        assert_eq!(relay.stats().connections_total, 200);
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_live_connections_and_frees_the_port() {
    bounded(async {
        let (echo, _server) = serve(echo).await;
        let (relay, listeners) = relay_to(&[echo], 1).await;
        let mut client = live_connection(listeners[0]).await;
        let stats = relay.shutdown().await;
        assert_eq!((stats.connections_active, stats.connections_total), (0, 1));
        assert!(read_until_closed(&mut client).await.is_empty());
        tokio::net::TcpListener::bind(listeners[0])
            .await
            .expect("port still taken");
    })
    .await;
}

/// A client reading a stream that never ends, once `MIB` of it has arrived.
async fn consumer_mid_transfer() -> (TcpStream, SessionRelay) {
    let (mut client, relay, _target) = client_through_relay(|mut stream| async move {
        write_until_error(&mut stream).await;
    })
    .await;
    read_exactly(&mut client, MIB).await;
    (client, relay)
}

#[tokio::test]
async fn shutdown_mid_transfer_resets_the_consumer() {
    bounded(async {
        let (mut client, relay) = consumer_mid_transfer().await;
        relay.shutdown().await;
        assert_reset(&mut client).await;
    })
    .await;
}

#[tokio::test]
async fn dropping_the_relay_mid_transfer_resets_the_consumer() {
    bounded(async {
        let (mut client, relay) = consumer_mid_transfer().await;
        drop(relay);
        assert_reset(&mut client).await;
    })
    .await;
}

#[tokio::test]
async fn dropping_the_relay_closes_its_connections() {
    bounded(async {
        let (echo, _server) = serve(echo).await;
        let (relay, listeners) = relay_to(&[echo], 1).await;
        let mut client = live_connection(listeners[0]).await;
        drop(relay);
        assert!(read_until_closed(&mut client).await.is_empty());
    })
    .await;
}

async fn target_name(mut client: TcpStream) -> (String, TcpStream) {
    let mut name = [0; 1];
    client.read_exact(&mut name).await.unwrap();
    (String::from_utf8_lossy(&name).into_owned(), client)
}

#[tokio::test]
async fn retargeting_moves_new_connections_only() {
    bounded(async {
        let ((a, _a), (b, _b)) = (named("A").await, named("B").await);
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let relay = SessionRelay::new(
            "retarget".into(),
            vec![listener],
            TargetPolicy::anywhere(),
            Capacity::new(RELAY_LIMITS),
        );
        // Accepted by the kernel before any target exists: waits, then goes to the first one.
        let early = connect(addr).await;
        relay.set_targets(vec![a.into()]);
        let (name, mut early) = target_name(early).await;
        assert_eq!(name, "A");

        relay.set_targets(vec![b.into()]);
        assert_eq!(target_name(connect(addr).await).await.0, "B");
        early.write_all(b"x").await.unwrap();
        let mut still_a = [0; 1];
        early.read_exact(&mut still_a).await.unwrap();
        assert_eq!(&still_a, b"x");
    })
    .await;
}

#[tokio::test]
async fn listener_i_goes_to_target_i_modulo_the_targets() {
    bounded(async {
        let ((a, _a), (b, _b)) = (named("A").await, named("B").await);
        let (_relay, listeners) = relay_to(&[a, b], 3).await;
        let mut names = Vec::new();
        for listener in listeners {
            names.push(target_name(connect(listener).await).await.0);
        }
        assert_eq!(names, ["A", "B", "A"]);
    })
    .await;
}

/// With fewer pipes than busy directions, the others carry their bytes through user space:
/// every byte still arrives, in order, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_pipe_budget_still_relay_every_byte() {
    bounded(async {
        let (echo, _server) = serve(echo).await;
        let limits = Limits {
            max_pipes: 3,
            ..RELAY_LIMITS
        };
        let (_relay, listeners) =
            relay_within(Capacity::new(limits), vec![listener().await], &[echo]);
        let mut clients = JoinSet::new();
        for seed in 0..20u64 {
            let listener = listeners[0];
            clients.spawn(async move {
                let payload = random_payload(2 * MIB + seed as usize * 997, 100 + seed);
                let echoed = full_duplex(connect(listener).await, &payload).await;
                assert!(echoed == payload, "connection {seed} got another echo");
            });
        }
        while let Some(done) = clients.join_next().await {
            done.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn past_the_connection_limit_new_clients_are_reset_at_once() {
    bounded(async {
        let (echo, _server) = serve(echo).await;
        let capacity = Capacity::new(Limits {
            max_connections: 2,
            ..RELAY_LIMITS
        });
        let (relay, listeners) = relay_within(capacity.clone(), vec![listener().await], &[echo]);
        let mut live = live_connections(listeners[0], 2).await;
        for _ in 0..3 {
            assert_reset(&mut connect(listeners[0]).await).await;
        }
        assert_eq!(capacity.rejected(Rejection::ConnectionLimit), 3);
        assert_eq!(relay.stats().connections_total, 2);
        live.pop();
        wait_until("a place is free", || relay.stats().connections_active == 1).await;
        live_connection(listeners[0]).await;
    })
    .await;
}
