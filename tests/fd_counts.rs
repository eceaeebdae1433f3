//! The tests that count this process's open fds: that a relay leaves none behind, and which
//! ones idle connections hold. They are a binary of their own because a count is exact only
//! while no other test opens or closes an fd: in the suite's process, tests spawn commands
//! (pipes) and run servers at any moment. Here each runs alone ([`alone`]).

// The suite binary (tests/suite) uses every fixture, so the compiler still finds unused ones
// there; this binary uses a few.
#[allow(dead_code)]
#[path = "common/mod.rs"]
mod common;

use std::future::Future;
use std::io::ErrorKind;

use common::fds::pipe_and_tcp_fds;
use common::net::*;
use scistream::relay::{Capacity, SessionRelay, TargetPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

const MIB: usize = 1 << 20;

/// Held by the test that runs, so that no other test's fds come or go during its counts.
static ALONE: Mutex<()> = Mutex::const_new(());

/// Runs one test body under [`TEST_LIMIT`] while no other test runs, so it may count fds.
async fn alone<F: Future>(body: F) -> F::Output {
    let _alone = ALONE.lock().await;
    bounded(body).await
}

/// Counts this process's fds that hold pipes or TCP sockets: what a relay opens. Other kinds
/// (each test runtime's epoll, eventfd and signal socket) come and go with the tests.
fn open_fds() -> usize {
    pipe_and_tcp_fds("/proc/self/fd", |_| true)
}

/// Counts this process's fds that hold pipes (two per pipe).
fn open_pipe_fds() -> usize {
    pipe_and_tcp_fds("/proc/self/fd", |_| false)
}

/// An address where nothing listens: connections to it are refused.
async fn refusing_addr() -> std::net::SocketAddr {
    listener().await.local_addr().unwrap()
}

/// Runs a failure scenario alone, then checks that its relay (which it returns) ends up with
/// no active connection and that the process has the fds it had before.
async fn leaves_nothing_behind(scenario: impl Future<Output = SessionRelay>) {
    alone(async {
        let before = open_fds();
        let relay = scenario.await;
        wait_until("no connection is active", || {
            relay.stats().connections_active == 0
        })
        .await;
        relay.shutdown().await;
        wait_until("every fd is closed", || open_fds() == before).await;
    })
    .await;
}

#[tokio::test]
async fn refused_target_resets_the_client_promptly() {
    leaves_nothing_behind(async {
        let (relay, listeners) = relay_to(&[refusing_addr().await], 1).await;
        assert_reset(&mut connect(listeners[0]).await).await;
        relay
    })
    .await;
}

#[tokio::test]
async fn target_reset_mid_stream_resets_the_client() {
    leaves_nothing_behind(async {
        let (mut client, relay, reset) = client_through_relay(|mut stream| async move {
            read_exactly(&mut stream, MIB).await;
            stream.set_zero_linger().unwrap();
        })
        .await;
        let error = write_until_error(&mut client).await;
        assert!(
            matches!(
                error.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{error}"
        );
        reset.await.unwrap();
        relay
    })
    .await;
}

#[tokio::test]
async fn client_reset_mid_stream_resets_the_target() {
    leaves_nothing_behind(async {
        let (mut client, relay, target_saw) = client_through_relay(|mut stream| async move {
            let mut request = read_exactly(&mut stream, MIB).await;
            stream.write_all(&request).await.unwrap();
            stream.read(&mut request).await
        })
        .await;
        let mut exchanged = random_payload(MIB, 8);
        client.write_all(&exchanged).await.unwrap();
        client.read_exact(&mut exchanged).await.unwrap();
        client.set_zero_linger().unwrap();
        drop(client);
        let error = target_saw
            .await
            .unwrap()
            .expect_err("the target saw a clean EOF");
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
        relay
    })
    .await;
}

/// Pipes are lent only while bytes move: a hundred idle connections hold at most the few pipes
/// the pool keeps idle, where each used to hold two; and once none is left, neither is a pipe.
#[tokio::test]
async fn idle_connections_hold_no_pipes() {
    alone(async {
        let (echo, _server) = serve(echo).await;
        let (relay, listeners) = relay_to(&[echo], 1).await;
        let before = open_pipe_fds();
        let live = live_connections(listeners[0], 100).await;
        let held = open_pipe_fds() - before;
        assert!(held <= 2 * 32, "100 idle connections hold {held} pipe fds");
        drop(live);
        wait_until("no connection is active", || {
            relay.stats().connections_active == 0
        })
        .await;
        assert_eq!(
            open_pipe_fds(),
            before,
            "idle pipes outlived the connections"
        );
    })
    .await;
}

#[tokio::test]
async fn a_relay_targeting_its_own_listener_does_not_loop() {
    alone(async {
        let before = open_fds();
        let listener = listener().await;
        let addr = listener.local_addr().unwrap();
        let relay = SessionRelay::new(
            "loop".into(),
            vec![listener],
            TargetPolicy::anywhere(),
            Capacity::new(RELAY_LIMITS),
        );
        relay.set_targets(vec![addr.into()]);
        assert!(read_until_closed(&mut connect(addr).await).await.is_empty());
        assert_eq!(relay.shutdown().await.connections_total, 1);
        // Other tests' runtimes may still be closing sockets they opened: at most as many.
        assert!(open_fds() <= before, "fds left open");
    })
    .await;
}
