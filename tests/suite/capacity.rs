//! The relay at its capacity, in a server process with few fds (`prlimit`): an idle relayed
//! connection costs two fds, connections past the limit are reset at once and counted, the
//! control plane keeps answering, and the fds come back when the connections close.

use std::io::ErrorKind;
use std::net::SocketAddr;

use crate::common::metrics::{scrape, value};
use crate::common::net::*;
use crate::common::oauth::OAuthServer;
use crate::common::req::{prod_flags, req_words};
use crate::common::server::private_loopback;
use crate::common::server_process::{ServerProcess, ServerSetup};
use crate::common::user::User;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Idle pipes the relay may keep pooled (two fds each).
const POOLED_PIPES: usize = 32;

/// A server process with few fds, and a user to drive it.
struct LimitedServer {
    server: ServerProcess,
    user: User,
    _auth: OAuthServer,
}

impl LimitedServer {
    fn start(fd_limit: u32, extra_args: &[&str]) -> LimitedServer {
        let auth = OAuthServer::start();
        let ip = private_loopback().to_string();
        let mut args = vec!["--metrics", "127.0.0.1:0"];
        args.extend_from_slice(extra_args);
        let setup = ServerSetup {
            ip: &ip,
            credentials: None,
            extra_args: &args,
        };
        let server = ServerProcess::start_with_fd_limit(&auth, setup, fd_limit);
        let user = User::new(&auth);
        LimitedServer {
            server,
            user,
            _auth: auth,
        }
    }

    /// Opens a PROD session of one listener relayed to `target`: (uid, listener).
    fn open_session(&self, target: SocketAddr) -> (String, SocketAddr) {
        let port = target.port().to_string();
        // Plain clients stand in for CONS gateways here.
        let flags = [&prod_flags("1", &port)[..], &["--json", "--plaintext-hop"]].concat();
        let args = req_words(&self.server.addr, "prod", &flags);
        let output = self.user.cmd(&args).timeout(TEST_LIMIT).assert().success();
        let opened: serde_json::Value =
            serde_json::from_slice(&output.get_output().stdout).unwrap();
        let listener = opened["listeners"][0].as_str().unwrap().parse().unwrap();
        (opened["uid"].as_str().unwrap().to_owned(), listener)
    }

    fn release(&self, uid: &str) {
        let args = req_words(&self.server.addr, "release", &[uid]);
        self.user.cmd(&args).timeout(TEST_LIMIT).assert().success();
    }

    fn metric(&self, series: &str) -> f64 {
        value(&scrape(self.server.metrics.as_deref().unwrap()), series)
    }
}

/// One round trip of a payload of its own through `stream` to the echo target.
async fn round_trip(stream: &mut TcpStream, seed: u64) {
    let payload = random_payload(1000, seed);
    stream.write_all(&payload).await.unwrap();
    let echoed = read_exactly(stream, payload.len()).await;
    assert!(echoed == payload, "connection {seed} got another echo");
}

/// Opens `n` connections through `listener`, each proven to relay by a round trip.
async fn relayed_connections(listener: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(n);
    for seed in 0..n as u64 {
        let mut stream = connect(listener).await;
        round_trip(&mut stream, seed).await;
        connections.push(stream);
    }
    connections
}

/// A new connection through `listener` and what came back for `payload`.
async fn echo_of(listener: SocketAddr, payload: &[u8]) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(listener).await?;
    stream.write_all(payload).await?;
    let mut echoed = vec![0; payload.len()];
    stream.read_exact(&mut echoed).await?;
    Ok((stream, echoed))
}

/// Lines of the server's log that say a burst of resets started.
fn burst_warnings(server: &ServerProcess) -> Vec<String> {
    let log = server.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("new connections are reset until some close"));
    lines.map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_idle_connections_cost_two_fds_and_new_ones_are_reset() {
    const LIMIT: usize = 400;
    const BURST: usize = 50;
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        // One client address and one session take the whole relay here.
        let args = [
            "--max-connections",
            "400",
            "--max-connections-per-source",
            "400",
            "--max-session-connection-rate",
            "100000",
        ];
        let limited = LimitedServer::start(2048, &args);
        assert_eq!(limited.metric("scistream_connections_limit"), LIMIT as f64);
        let (uid, listener) = limited.open_session(echo);
        let relay_fds = || limited.server.relay_fds(listener, echo);
        let baseline = relay_fds();

        let mut held = relayed_connections(listener, LIMIT).await;
        let used = relay_fds() - baseline;
        assert!(
            (2 * LIMIT..=2 * LIMIT + 2 * POOLED_PIPES).contains(&used),
            "{LIMIT} idle connections hold {used} fds"
        );

        for _ in 0..BURST {
            expect_reset(listener).await;
        }
        let rejected = r#"scistream_connections_rejected_total{reason="connection_limit"}"#;
        assert_eq!(limited.metric(rejected), BURST as f64);
        let warnings = burst_warnings(&limited.server);
        assert_eq!(warnings.len(), 1, "one warning per burst: {warnings:?}");
        assert!(warnings[0].contains(&uid), "{}", warnings[0]);
        // The control plane still answers while the data plane is full.
        let (second, _) = limited.open_session(echo);
        limited.release(&second);

        for (seed, stream) in held.iter_mut().enumerate() {
            round_trip(stream, seed as u64).await;
        }
        drop(held);
        wait_until("the server's fds are back to their baseline", || {
            relay_fds() == baseline
        })
        .await;
    })
    .await;
}

/// With a limit the fds cannot back, the process runs out of fds first: connections are then
/// reset for want of one (with the spare fd kept for this) instead of hanging in the backlog,
/// and relaying resumes once some close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_fds_new_connections_are_reset_and_relaying_resumes() {
    const BURST: usize = 20;
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        const FD_LIMIT: u32 = 320;
        let limited = LimitedServer::start(FD_LIMIT, &["--max-connections", "1000"]);
        let (_uid, listener) = limited.open_session(echo);
        let mut held = Vec::new();
        let first_refused = loop {
            assert!(
                held.len() < FD_LIMIT as usize,
                "the server never ran out of fds"
            );
            let payload = random_payload(100, held.len() as u64);
            match echo_of(listener, &payload).await {
                Ok((stream, echoed)) if echoed == payload => held.push(stream),
                Ok(_) => panic!("connection {} got another echo", held.len()),
                Err(e) => break e,
            }
        };
        assert_eq!(
            first_refused.kind(),
            ErrorKind::ConnectionReset,
            "{first_refused}"
        );
        // The fd left over, if any, goes to an idle control connection: accept itself then
        // fails, and only the relay's spare fd lets it take and reset the waiting clients.
        let control = std::net::TcpStream::connect(&limited.server.addr).unwrap();
        wait_until("the server holds every fd it may", || {
            limited.server.open_fds() == FD_LIMIT as usize
        })
        .await;
        for _ in 0..BURST {
            expect_reset(listener).await;
        }
        drop(control);
        held.truncate(held.len() - 10);
        wait_until("fds are free again", || {
            limited.server.open_fds() < FD_LIMIT as usize - 10
        })
        .await;
        relayed_connections(listener, 1).await;
        let rejected = r#"scistream_connections_rejected_total{reason="fd_limit"}"#;
        assert!(limited.metric(rejected) >= BURST as f64);
        assert_eq!(burst_warnings(&limited.server).len(), 1);
        // The control plane answers again.
        limited.open_session(echo);
    })
    .await;
}
