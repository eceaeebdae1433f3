//! A session's `rate` enforced (`--rate-policy limit`) and reserved (`reserve`), and listeners
//! open only to their users (`req --allow-from`, server `--listener-allow-from`), against the
//! server binary.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::common::metrics::{scrape, value};
use crate::common::net::random_payload;
use crate::common::open_gateway::OpenGateway as Gateway;
use crate::common::proto12::open12;
use predicates::str::contains;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// No test here may take longer: a bug fails it instead of hanging.
const TEST_LIMIT: Duration = Duration::from_secs(60);

impl Gateway {
    /// `req prod` of a plain-hop session relaying to `producer`, with `flags`.
    fn prod_cmd(&self, producer: SocketAddr, flags: &[&str]) -> assert_cmd::Command {
        let (ip, port) = (producer.ip().to_string(), producer.port().to_string());
        let mut args = vec!["--json", "--plaintext-hop", "--remote-ip", &ip];
        args.extend(["--receiver-ports", &port]);
        args.extend_from_slice(flags);
        self.req("prod", &args)
    }

    /// The uid and listeners of a session [`prod_cmd`](Self::prod_cmd) opened.
    fn prod(&self, producer: SocketAddr, flags: &[&str]) -> (String, Vec<SocketAddr>) {
        let mut cmd = self.prod_cmd(producer, flags);
        let output = cmd.assert().success().get_output().clone();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let listeners = json["listeners"].as_array().unwrap().iter();
        let listeners = listeners.map(|l| l.as_str().unwrap().parse().unwrap());
        (
            json["uid"].as_str().unwrap().to_owned(),
            listeners.collect(),
        )
    }

    fn status(&self, uid: &str) -> serde_json::Value {
        let output = self.req("status", &["--json", uid]).assert().success();
        serde_json::from_slice(&output.get_output().stdout).unwrap()
    }
}

/// Runs `body` on a runtime of its own (so that blocking CLI calls leave the fixtures' tasks
/// running), within [`TEST_LIMIT`].
fn run<F: std::future::Future>(body: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(TEST_LIMIT, body)
            .await
            .expect("test exceeded its time limit")
    })
}

/// A producer on 127.0.0.1 that answers each connection with `reply`, while reading all it is
/// sent; returns its address.
async fn producer(reply: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(exchange(stream, reply.clone()));
        }
    });
    addr
}

/// Writes `payload` (then half-closes) while reading to the end; returns what was read.
async fn exchange(stream: TcpStream, payload: Vec<u8>) -> io::Result<Vec<u8>> {
    let (mut read, mut write) = stream.into_split();
    let sent = async move {
        write.write_all(&payload).await?;
        write.shutdown().await
    };
    let received = async move {
        let mut received = Vec::new();
        read.read_to_end(&mut received).await.map(|_| received)
    };
    let (sent, received) = tokio::join!(sent, received);
    sent?;
    received
}

/// A connection to `listener` from the source address `from` (a reset may come before the
/// connect returns).
async fn connect_from(from: IpAddr, listener: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(listener).await
}

/// Whether the session let a client from `from` through to a producer that greets it with
/// "pong", or reset the connection as soon as it was accepted.
async fn admitted(from: &str, listener: SocketAddr) -> bool {
    let mut greeting = [0; 4];
    let greeted = async {
        let mut stream = connect_from(from.parse().unwrap(), listener).await?;
        stream.read_exact(&mut greeting).await
    };
    match greeted.await {
        Ok(_) => {
            assert_eq!(&greeting, b"pong");
            true
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => false,
        Err(e) => panic!("neither the producer's greeting nor a reset: {e}"),
    }
}

#[test]
fn a_rate_limit_holds_each_direction_over_all_of_a_sessions_connections() {
    // 16 Mbit/s = 2 MB/s each way; two connections carry 2 MiB each way.
    const EACH: usize = 2 << 20;
    let gateway = Gateway::start(&["--rate-policy", "limit"]);
    run(async {
        let target = producer(random_payload(EACH, 1)).await;
        let (uid, listeners) = gateway.prod(target, &["--num-conn", "2", "--rate", "16M"]);
        let started = Instant::now();
        let transfers = listeners.iter().map(|&listener| async move {
            let stream = TcpStream::connect(listener).await.unwrap();
            exchange(stream, random_payload(EACH, 2)).await.unwrap()
        });
        let received = futures_util::future::join_all(transfers).await;
        let from_target = started.elapsed();
        assert!(received.iter().all(|r| r.len() == EACH));
        // The consumers' bytes may still be on their way to the producer.
        let mut status = gateway.status(&uid);
        while status["stats"]["bytes_to_target"] != 2 * EACH as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            status = gateway.status(&uid);
        }
        let to_target = started.elapsed();
        // 4 MiB each way at 2 MB/s: 2.1 s, less the two bursts of 20 kB a bucket may lend.
        for (direction, took) in [("from", from_target), ("to", to_target)] {
            assert!(
                took >= Duration::from_millis(1_900),
                "4 MiB {direction} the target took {took:?} at 16 Mbit/s"
            );
        }
        assert_eq!(status["rate"], 16_000);
        assert_eq!(status["rate_policy"], "limit");
        assert_eq!(status["stats"]["bytes_from_target"], 2 * EACH as u64);
    });
}

#[test]
fn reserve_refuses_a_session_past_the_bandwidth_and_admits_it_after_a_release() {
    let gateway = Gateway::start(&["--rate-policy", "reserve", "--bandwidth", "4G"]);
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (first, _) = gateway.prod(target, &["--num-conn", "1", "--rate", "3G"]);
    gateway
        .prod_cmd(target, &["--num-conn", "1", "--rate", "2G"])
        .assert()
        .failure()
        .stderr(contains("does not fit"))
        .stderr(contains(
            "1000000 kb/s (1 Gbit/s) free of this gateway's 4000000 kb/s",
        ));
    gateway.prod(target, &["--num-conn", "1", "--rate", "1G"]);
    gateway.req("release", &[&first]).assert().success();
    gateway.prod(target, &["--num-conn", "1", "--rate", "2G"]);
    gateway
        .prod_cmd(target, &["--rate", "0"])
        .assert()
        .failure()
        .stderr(contains("cannot reserve"));
}

#[test]
fn allow_from_resets_a_stranger_and_admits_the_user() {
    let gateway = Gateway::start(&[
        "--listener-allow-from",
        "127.0.0.1",
        "--metrics",
        "127.0.0.1:0",
    ]);
    run(async {
        let target = producer(b"pong".to_vec()).await;
        // No networks of its own: the server's default.
        let (by_default, listeners) = gateway.prod(target, &["--num-conn", "1"]);
        let default_listener = listeners[0];
        let (_, listeners) =
            gateway.prod(target, &["--num-conn", "1", "--allow-from", "127.0.0.3/32"]);
        let own_listener = listeners[0];
        assert!(admitted("127.0.0.1", default_listener).await);
        assert!(
            !admitted("127.0.0.3", default_listener).await,
            "a stranger got through"
        );
        assert!(admitted("127.0.0.3", own_listener).await);
        assert!(
            !admitted("127.0.0.1", own_listener).await,
            "the server's default won"
        );
        let metrics = scrape(gateway.server.metrics.as_deref().unwrap());
        let rejected = r#"scistream_connections_rejected_total{reason="source"}"#;
        assert_eq!(value(&metrics, rejected), 2.0);
        let status = gateway.status(&by_default);
        assert_eq!(status["allow_from"], serde_json::json!(["127.0.0.1/32"]));
        assert_eq!(status["stats"]["connections_total"], 1);
    });
}

#[test]
fn a_scistream_proto_1_2_client_keeps_working_and_gets_the_servers_defaults() {
    // At the Python client's default rate (10000 kb/s: 1.25 MB/s), 1.25 MB takes a second.
    const REPLY: usize = 1_250_000;
    let gateway = Gateway::start(&[
        "--rate-policy",
        "limit",
        "--listener-allow-from",
        "127.0.0.1",
    ]);
    run(async {
        let target = producer(random_payload(REPLY, 3)).await;
        let addr = gateway.server.addr.clone();
        let listener = open12(&addr, "python-1", target).await;
        let started = Instant::now();
        let stream = connect_from("127.0.0.1".parse().unwrap(), listener)
            .await
            .unwrap();
        let received = exchange(stream, Vec::new()).await.unwrap();
        assert_eq!(received.len(), REPLY);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(950),
            "1.25 MB took {took:?} at 10 Mbit/s"
        );
        let stranger = async {
            let stream = connect_from("127.0.0.3".parse().unwrap(), listener).await?;
            exchange(stream, Vec::new()).await
        };
        let refused = stranger.await.unwrap_err();
        assert_eq!(
            refused.kind(),
            io::ErrorKind::ConnectionReset,
            "the default did not apply"
        );
        let status = gateway.status("python-1");
        assert_eq!(status["rate"], 10000);
        assert_eq!(status["rate_policy"], "limit");
        assert_eq!(status["allow_from"], serde_json::json!(["127.0.0.1/32"]));
    });
}

#[test]
fn a_rate_that_is_not_one_is_a_usage_error_that_teaches_the_unit() {
    let gateway = Gateway::start(&[]);
    let args = [
        "--rate",
        "fast",
        "--remote-ip",
        "127.0.0.1",
        "--receiver-ports",
        "9",
    ];
    gateway.req("prod", &args).assert().code(2).stderr(contains(
        "give kb/s (10000) or bits per second with a unit (500M, 2G)",
    ));
}

#[test]
fn reserve_without_a_bandwidth_does_not_start() {
    let mut cmd = assert_cmd::Command::cargo_bin("scistream").unwrap();
    cmd.env_clear()
        .args([
            "server",
            "--no-tls",
            "--port",
            "0",
            "--rate-policy",
            "reserve",
        ])
        .timeout(TEST_LIMIT)
        .assert()
        .failure()
        .stderr(contains("--rate-policy reserve needs --bandwidth"));
}
