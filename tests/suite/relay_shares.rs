//! One host cannot take the whole relay: strangers idling at someone else's listeners hold at
//! most their source's share (and at an encrypted PROD listener, only places in the pool of
//! connections still proving the secret, for 3 s), a session holds at most its own cap, two
//! gateways made to relay into each other burn the loop out at once, an optional idle timeout
//! resets connections that move nothing, and refused hop connections are logged in aggregate.
//!
//! Each attack's effect is asserted as "the legitimate connection still relays"; the attacks'
//! success rates are printed (`--nocapture`) for the record.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::metrics::{scrape, value};
use crate::common::net::*;
use crate::common::oauth::OAuthServer;
use crate::common::server::private_loopback;
use crate::common::server_process::{ServerProcess, ServerSetup};
use crate::common::user::User;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// Idle connections each attack holds (and reopens when they are reset).
const ATTACKERS: usize = 100;
/// Connections the legitimate user opens under attack.
const LEGITIMATE: usize = 20;
/// The server-wide limit the attacks run against: below the attackers' number.
const MAX_CONNECTIONS: &str = "64";

/// Gateways (processes, authentication off) on loopback addresses of their own, and a user.
struct Gateways {
    auth: OAuthServer,
    user: User,
}

/// One `scistream server` process with `/metrics`.
struct Gateway {
    server: ServerProcess,
    ip: IpAddr,
}

impl Gateways {
    fn new() -> Self {
        let auth = OAuthServer::start();
        let user = User::new(&auth);
        Gateways { auth, user }
    }

    fn start(&self, extra_args: &[&str]) -> Gateway {
        let ip = private_loopback();
        let mut args = vec!["--metrics", "127.0.0.1:0"];
        args.extend_from_slice(extra_args);
        let setup = ServerSetup {
            ip: &ip.to_string(),
            credentials: None,
            extra_args: &args,
        };
        let server = ServerProcess::start_with_fd_limit(&self.auth, setup, 8192);
        Gateway { server, ip }
    }

    /// Opens a PROD session of one listener relayed to `target`, with the encrypted hop or the
    /// plaintext one: its JSON.
    fn prod(&self, gateway: &Gateway, target: SocketAddr, encrypted: bool) -> serde_json::Value {
        let (ip, port) = (target.ip().to_string(), target.port().to_string());
        let mut args = vec![
            "req",
            "prod",
            "--no-tls",
            "--s2cs",
            &gateway.server.addr,
            "--num-conn",
            "1",
            "--remote-ip",
            &ip,
            "--receiver-ports",
            &port,
            "--json",
        ];
        if !encrypted {
            args.push("--plaintext-hop");
        }
        self.json(&args)
    }

    /// `req stream` from a producer at `target` through `prod` and `cons`: its JSON.
    fn stream(&self, prod: &Gateway, cons: &Gateway, target: SocketAddr) -> serde_json::Value {
        let port = target.port().to_string();
        self.json(&[
            "req",
            "stream",
            "--no-tls",
            "--prod-s2cs",
            &prod.server.addr,
            "--cons-s2cs",
            &cons.server.addr,
            "--num-conn",
            "1",
            "--remote-ip",
            "127.0.0.1",
            "--receiver-ports",
            &port,
            "--json",
        ])
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.user.cmd(args).timeout(TEST_LIMIT).assert().success();
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON object")
    }
}

impl Gateway {
    fn metrics(&self) -> String {
        scrape(self.server.metrics.as_deref().unwrap())
    }

    fn metric(&self, series: &str) -> f64 {
        value(&self.metrics(), series)
    }

    fn rejected(&self, reason: &str) -> f64 {
        let series = format!("scistream_connections_rejected_total{{reason=\"{reason}\"}}");
        self.metric(&series)
    }

    /// Connections reset at accept so far, for any reason.
    fn rejected_in_all(&self) -> f64 {
        let text = self.metrics();
        let lines = text.lines().filter_map(|line| {
            let rest = line.strip_prefix("scistream_connections_rejected_total{")?;
            rest.rsplit_once(' ')?.1.parse::<f64>().ok()
        });
        lines.sum()
    }
}

fn listener_of(opened: &serde_json::Value, key: &str) -> SocketAddr {
    opened[key][0].as_str().unwrap().parse().unwrap()
}

/// A TCP connection to `to` from the address `from` (a loopback address of its own).
async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// `n` idle connections from `from` to `to`, each reopened shortly after the gateway resets or
/// closes it, until dropped. Counts the connections it opened.
struct IdleAttack {
    _tasks: JoinSet<()>,
    opened: Arc<AtomicU64>,
}

impl IdleAttack {
    fn start(from: IpAddr, to: SocketAddr, n: usize) -> Self {
        let opened = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..n {
            let opened = opened.clone();
            tasks.spawn(async move {
                loop {
                    if let Ok(mut stream) = connect_from(from, to).await {
                        opened.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.read(&mut [0u8; 1]).await;
                    }
                    // Keeps a reset-and-reopen cycle from taking a whole core of the test machine.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        IdleAttack {
            _tasks: tasks,
            opened,
        }
    }

    fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

/// Opens `n` connections from `from` through `listener` to an echo target, each proven by a
/// round trip and kept open until all are tried: how many relayed.
async fn relayed_of(from: IpAddr, listener: SocketAddr, n: usize) -> usize {
    let mut open = Vec::new();
    for seed in 0..n as u64 {
        let tried = tokio::time::timeout(Duration::from_secs(10), async {
            let mut stream = connect_from(from, listener).await?;
            let payload = random_payload(1000, seed);
            stream.write_all(&payload).await?;
            let mut echoed = vec![0; payload.len()];
            stream.read_exact(&mut echoed).await?;
            Ok::<_, std::io::Error>((echoed == payload).then_some(stream))
        });
        if let Ok(Ok(Some(stream))) = tried.await {
            open.push(stream);
        }
    }
    open.len()
}

/// Starts an idle attack on `attacked` and waits until `gateway` turns some of it away (the
/// attacker then holds all it may); then opens the legitimate user's connections through
/// `legit`. Prints and returns how many relayed, and the attack, still going on.
async fn relayed_under_attack(
    what: &str,
    gateway: &Gateway,
    attacked: SocketAddr,
    legit: SocketAddr,
) -> (usize, IdleAttack) {
    let attack = IdleAttack::start(private_loopback(), attacked, ATTACKERS);
    wait_until("the attacker holds all it may", || {
        gateway.rejected_in_all() > 0.0
    })
    .await;
    let relayed = relayed_of(private_loopback(), legit, LEGITIMATE).await;
    eprintln!(
        "{what}: {relayed}/{LEGITIMATE} legitimate connections relayed under {ATTACKERS} idle \
         attacker connections ({} opened by the attacker so far)",
        attack.opened()
    );
    (relayed, attack)
}

/// Finding 4: 100 idle connections to someone else's encrypted PROD listener took every place
/// of a gateway, so a third user's connections were all reset. Now they wait in the pool of
/// connections proving the secret, which is not the relay's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_idling_at_an_encrypted_listener_leave_the_relay_to_other_sessions() {
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        let gateways = Gateways::new();
        let gateway = gateways.start(&["--max-connections", MAX_CONNECTIONS]);
        let victim = listener_of(&gateways.prod(&gateway, echo, true), "listeners");
        let third = listener_of(&gateways.prod(&gateway, echo, false), "listeners");
        let what = "encrypted listener";
        let (relayed, _attack) = relayed_under_attack(what, &gateway, victim, third).await;
        assert_eq!(relayed, LEGITIMATE);
        assert!(gateway.rejected("proving_limit") > 0.0);
        assert_eq!(gateway.rejected("connection_limit"), 0.0);
    })
    .await;
}

/// Finding 4 at a plain listener (a plaintext hop, or a CONS listener): the stranger keeps at
/// most its source's share (half of `--max-connections` by default), the rest serves others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_idling_at_a_plain_listener_hold_only_their_share() {
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        let gateways = Gateways::new();
        let gateway = gateways.start(&["--max-connections", MAX_CONNECTIONS]);
        let victim = listener_of(&gateways.prod(&gateway, echo, false), "listeners");
        let third = listener_of(&gateways.prod(&gateway, echo, false), "listeners");
        let what = "plain listener";
        let (relayed, _attack) = relayed_under_attack(what, &gateway, victim, third).await;
        assert_eq!(relayed, LEGITIMATE);
        assert!(gateway.rejected("source_limit") > 0.0);
        wait_until(
            "the attacker holds its share (half of the limit) and no more",
            || gateway.metric("scistream_connections_active") == 32.0,
        )
        .await;
    })
    .await;
}

/// Strangers idling at the very PROD listener a CONS gateway relays to take only their part of
/// the proving pool: the CONS gateway's connections still prove the secret and stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_idling_at_an_encrypted_listener_do_not_keep_its_cons_gateway_out() {
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        let gateways = Gateways::new();
        let prod = gateways.start(&["--max-connections", MAX_CONNECTIONS]);
        let cons = gateways.start(&[]);
        let opened = gateways.stream(&prod, &cons, echo);
        assert_eq!(opened["hop"], "encrypted");
        let (victim, consumer) = (
            listener_of(&opened, "prod_listeners"),
            listener_of(&opened, "listeners"),
        );
        let what = "CONS gateway at an attacked PROD listener";
        let (relayed, _attack) = relayed_under_attack(what, &prod, victim, consumer).await;
        assert_eq!(relayed, LEGITIMATE);
    })
    .await;
}

/// A stranger's unproven connection is reset within the proving deadline (3 s), not the 10 s a
/// target gets to answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unproven_hop_connection_has_3_seconds() {
    bounded(async {
        let gateways = Gateways::new();
        let gateway = gateways.start(&[]);
        let victim = gateways.prod(&gateway, "127.0.0.1:9".parse().unwrap(), true);
        let mut idle = connect_from(private_loopback(), listener_of(&victim, "listeners"))
            .await
            .unwrap();
        let ended = idle.read(&mut [0u8; 1]).await;
        assert_eq!(ended.unwrap_err().kind(), ErrorKind::ConnectionReset);
        let log = gateway.server.log();
        assert!(log.contains("nothing proven within 3s"), "{log}");
    })
    .await;
}

/// A session holds at most `--max-session-connections`, whatever the sources: the others'
/// sessions still relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_holds_at_most_its_cap() {
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        let gateways = Gateways::new();
        let gateway = gateways.start(&[
            "--max-connections",
            MAX_CONNECTIONS,
            "--max-connections-per-source",
            MAX_CONNECTIONS,
            "--max-session-connections",
            "8",
        ]);
        let victim = gateways.prod(&gateway, echo, false);
        let other = gateways.prod(&gateway, echo, false);
        // Same source for both: only the session's cap can leave room for the other session.
        let source = private_loopback();
        let attack = IdleAttack::start(source, listener_of(&victim, "listeners"), ATTACKERS);
        wait_until("the session is full", || gateway.rejected_in_all() > 0.0).await;
        // The other session holds as much as the flooded one may.
        let relayed = relayed_of(source, listener_of(&other, "listeners"), 8).await;
        assert_eq!(relayed, 8, "{} attacker connections", attack.opened());
        assert!(gateway.rejected("session_limit") > 0.0);
        assert_eq!(gateway.rejected("connection_limit"), 0.0);
    })
    .await;
}

/// Two gateways whose sessions relay into each other's listener: one connect used to become an
/// endless chain of relayed connections. Now the chain stops at a session's caps and unwinds
/// with resets back to the client; each gateway relayed at most `most` connections.
async fn relay_loop_burns_out(gateways: &Gateways, extra_args: &[&str], most: f64) -> [Gateway; 2] {
    let args = [&["--port-range", "20100-20101"], extra_args].concat();
    let (one, two) = (gateways.start(&args), gateways.start(&args));
    // A first session binds the first port of the range.
    let two_listener = SocketAddr::new(two.ip, 20100);
    let one_listener = listener_of(&gateways.prod(&one, two_listener, false), "listeners");
    let looped = gateways.prod(&two, one_listener, false);
    assert_eq!(listener_of(&looped, "listeners"), two_listener);

    let mut client = connect_from(private_loopback(), one_listener)
        .await
        .unwrap();
    let ended = client.read(&mut [0u8; 1]).await;
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::ConnectionReset);
    for gateway in [&one, &two] {
        wait_until("the chain has unwound", || {
            gateway.metric("scistream_connections_active") == 0.0
        })
        .await;
        let relayed = gateway.metric("scistream_connections_total");
        eprintln!("relay loop: one connect became {relayed} relayed connections on a gateway");
        assert!(relayed <= most, "{relayed} relayed connections");
    }
    [one, two]
}

/// Connections rejected for `reason` on either gateway.
fn rejected_on(gateways: &[Gateway; 2], reason: &str) -> f64 {
    gateways.iter().map(|g| g.rejected(reason)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_loop_stops_at_the_sessions_connection_cap_and_others_still_relay() {
    bounded(async {
        let gateways = Gateways::new();
        let rate = ["--max-session-connection-rate", "100000"];
        let looped = relay_loop_burns_out(&gateways, &rate, 512.0).await;
        assert!(rejected_on(&looped, "session_limit") > 0.0);
        let (echo, _echo) = serve(echo).await;
        let legit = gateways.prod(&looped[0], echo, false);
        let relayed = relayed_of(private_loopback(), listener_of(&legit, "listeners"), 1).await;
        assert_eq!(relayed, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_loop_stops_at_the_sessions_connection_rate() {
    bounded(async {
        let gateways = Gateways::new();
        let rate = ["--max-session-connection-rate", "5"];
        let looped = relay_loop_burns_out(&gateways, &rate, 100.0).await;
        assert!(rejected_on(&looped, "session_rate") > 0.0);
    })
    .await;
}

/// The defaults alone stop a loop far below the server's own limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_loop_burns_out_under_the_default_caps() {
    bounded(async {
        let gateways = Gateways::new();
        relay_loop_burns_out(&gateways, &["--max-connections", "2000"], 512.0).await;
    })
    .await;
}

/// Finding 11: one WARN per refused hop connection made 1,500 lines of 1,500 connects. Now they
/// are counted each and logged in aggregate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_hop_connections_are_counted_each_and_logged_in_aggregate() {
    const JUNK: usize = 200;
    bounded(async {
        let gateways = Gateways::new();
        let gateway = gateways.start(&[]);
        let victim = gateways.prod(&gateway, "127.0.0.1:9".parse().unwrap(), true);
        let listener = listener_of(&victim, "listeners");
        let source = private_loopback();
        for _ in 0..JUNK {
            let mut junk = connect_from(source, listener).await.unwrap();
            let _ = junk.write_all(b"GET / HTTP/1.0\r\n\r\n").await;
            let _ = junk.read(&mut [0u8; 64]).await;
        }
        wait_until("every refusal is counted", || {
            gateway.metric("scistream_hop_rejected_total") == JUNK as f64
        })
        .await;
        let log = gateway.server.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("hop_rejected")).collect();
        assert!(
            (1..=5).contains(&lines.len()),
            "{} lines for {JUNK} refusals:\n{}",
            lines.len(),
            lines.join("\n")
        );
        assert!(lines[0].contains("refused=1"), "{}", lines[0]);
    })
    .await;
}

/// `--relay-idle-timeout`: a connection that moves nothing is reset (and counted), while one
/// that keeps moving data outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_resets_quiet_connections_and_spares_busy_ones() {
    bounded(async {
        let (echo, _echo) = serve(echo).await;
        let gateways = Gateways::new();
        let gateway = gateways.start(&["--relay-idle-timeout", "2"]);
        let session = gateways.prod(&gateway, echo, false);
        let listener = listener_of(&session, "listeners");
        let source = private_loopback();
        let mut quiet = connect_from(source, listener).await.unwrap();
        let mut busy = connect_from(source, listener).await.unwrap();
        let mut round_trips = 0u64;
        let quiet_ended = async {
            let mut byte = [0u8; 1];
            quiet.read(&mut byte).await
        };
        tokio::pin!(quiet_ended);
        let ended = loop {
            tokio::select! {
                ended = &mut quiet_ended => break ended,
                () = tokio::time::sleep(Duration::from_millis(50)) => {
                    let payload = random_payload(100, round_trips);
                    busy.write_all(&payload).await.unwrap();
                    assert_eq!(read_exactly(&mut busy, 100).await, payload);
                    round_trips += 1;
                }
            }
        };
        assert_eq!(ended.unwrap_err().kind(), ErrorKind::ConnectionReset);
        let payload = random_payload(100, round_trips);
        busy.write_all(&payload).await.unwrap();
        assert_eq!(
            read_exactly(&mut busy, 100).await,
            payload,
            "the busy connection was cut"
        );
        assert_eq!(
            gateway.metric("scistream_connections_idle_closed_total"),
            1.0
        );
    })
    .await;
}
