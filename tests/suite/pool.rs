//! A pool of gateway nodes sharing one session registry in etcd (`server --cluster`): a real
//! etcd, three `scistream server` processes on three loopback addresses of the test's own, and
//! sessions opened, used, queried and released at any of them while nodes die, come back,
//! drain, and lose etcd.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::certs::{openssl_ca_signed, openssl_signed_by_ca};
use crate::common::etcd::{Etcd, EtcdTlsFiles};
use crate::common::metrics::{scrape, value};
use crate::common::net::{
    assert_reset, echo, expect_reset, live_connection, random_payload, read_exactly, serve,
    TEST_LIMIT,
};
use crate::common::oauth::OAuthServer;
use crate::common::server::private_loopback;
use crate::common::server_process::{server_words, ServerProcess, ServerSetup};
use crate::common::site::open_stream;
use crate::common::user::User;
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::{JoinHandle, JoinSet};
use tonic::transport::Channel;
use tonic::Code;

/// The scope (client id) and secret of the gateways that check tokens.
const S1: &str = "0c5e4a10-7a1f-4c55-9c1b-5e2f0a9d7001";
const SECRET: &str = "pool-gateway-secret";
/// The lease of every node: short, so that a lost node shows within seconds.
const LEASE: &str = "2";
/// How long the tests wait for what a pool does in the background (a lost node, a node back):
/// generous, as the machine may be busy; nothing is timed.
const PATIENCE: Duration = Duration::from_secs(40);

/// One node of a pool, with what it takes to start it again as the same node.
struct Node {
    name: String,
    ip: String,
    args: Vec<String>,
    process: Option<ServerProcess>,
}

impl Node {
    fn start(auth: &OAuthServer, name: &str, ip: &str, args: Vec<String>) -> Node {
        let mut node = Node {
            name: name.into(),
            ip: ip.into(),
            args,
            process: None,
        };
        node.start_again(auth);
        node
    }

    fn start_again(&mut self, auth: &OAuthServer) {
        // `--client-id S1` among the node's flags turns token checks on, with S1's secret.
        let auth_on = self.args.iter().any(|a| a == "--client-id");
        let args: Vec<&str> = (self.args.iter().map(String::as_str))
            .filter(|a| *a != "--client-id" && *a != S1)
            .collect();
        let setup = ServerSetup {
            ip: &self.ip,
            credentials: auth_on.then_some((S1, SECRET)),
            extra_args: &args,
        };
        self.process = Some(ServerProcess::start(auth, setup));
    }

    fn addr(&self) -> String {
        self.process.as_ref().expect("the node runs").addr.clone()
    }

    /// `kill -9`: the node's relays die with it, and its lease expires on its own.
    fn kill(&mut self) {
        drop(self.process.take());
    }
}

/// Three nodes a, b and c of pool `pool`, each with `ports` ports of its own.
fn three_nodes(
    auth: &OAuthServer,
    etcd: &Etcd,
    pool: &str,
    ports: u16,
    more: &[&str],
) -> Vec<Node> {
    ["a", "b", "c"]
        .into_iter()
        .map(|name| node(auth, etcd, pool, name, ports, more))
        .collect()
}

fn node(
    auth: &OAuthServer,
    etcd: &Etcd,
    pool: &str,
    name: &str,
    ports: u16,
    more: &[&str],
) -> Node {
    let ip = private_loopback().to_string();
    node_at(auth, etcd, (pool, name, &ip), ports, more)
}

/// Node `name` of `pool` on `ip`.
fn node_at(
    auth: &OAuthServer,
    etcd: &Etcd,
    (pool, name, ip): (&str, &str, &str),
    ports: u16,
    more: &[&str],
) -> Node {
    let range = format!("24000-{}", 24000 + ports - 1);
    let mut args: Vec<String> = [
        "--port-range",
        &range,
        "--cluster",
        &etcd.url(),
        "--pool",
        pool,
    ]
    .into_iter()
    .chain(["--node-name", name, "--cluster-lease", LEASE])
    .map(String::from)
    .collect();
    args.extend(more.iter().map(|s| s.to_string()));
    Node::start(auth, name, ip, args)
}

async fn control(addr: &str) -> ControlClient<Channel> {
    ControlClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

/// `message` with `token`, if any, as the Python client sends it.
fn signed<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Where a session's calls go and with which token.
#[derive(Clone, Copy)]
struct As<'a> {
    token: Option<&'a str>,
}

const OPEN: As<'static> = As { token: None };

impl As<'_> {
    /// A PROD session of `n` listeners: its req at `req_at` and its hello (naming `producer`)
    /// at `hello_at`, sent together; its listeners.
    async fn open(
        &self,
        req_at: &str,
        hello_at: &str,
        uid: &str,
        n: i32,
        producer: SocketAddr,
    ) -> Result<Vec<String>, tonic::Status> {
        self.open_as(req_at, hello_at, rated(uid, 0, n), producer)
            .await
    }

    /// The session `req` asks for, opened as [`As::open`] opens one.
    async fn open_as(
        &self,
        req_at: &str,
        hello_at: &str,
        req: pb::Request,
        producer: SocketAddr,
    ) -> Result<Vec<String>, tonic::Status> {
        let hello = pb::Hello {
            uid: req.uid.clone(),
            prod_listeners: vec![producer.to_string()],
            role: "PROD".into(),
        };
        let (mut req_client, mut hello_client) = (control(req_at).await, control(hello_at).await);
        let (opened, helloed) = tokio::join!(
            req_client.req(signed(req, self.token)),
            hello_client.hello(signed(hello, self.token))
        );
        let opened = opened?.into_inner();
        helloed.expect("the hello is delivered");
        assert_eq!(opened.prod_listeners, [producer.to_string()]);
        Ok(opened.listeners)
    }

    async fn update(
        &self,
        at: &str,
        uid: &str,
        targets: &[SocketAddr],
    ) -> Result<pb::Response, tonic::Status> {
        let update = pb::UpdateTargets {
            uid: uid.into(),
            remote_listeners: targets.iter().map(ToString::to_string).collect(),
            role: "PROD".into(),
        };
        let answer = control(at).await.update(signed(update, self.token)).await;
        answer.map(tonic::Response::into_inner)
    }

    async fn status(&self, at: &str, uid: &str) -> Result<pb::SessionInfo, tonic::Status> {
        let ask = pb::StatusRequest { uid: uid.into() };
        let answer = control(at).await.status(signed(ask, self.token)).await;
        answer.map(tonic::Response::into_inner)
    }

    async fn release(&self, at: &str, uid: &str) -> Result<pb::Response, tonic::Status> {
        let release = pb::Release { uid: uid.into() };
        let answer = control(at).await.release(signed(release, self.token)).await;
        answer.map(tonic::Response::into_inner)
    }

    async fn list(&self, at: &str) -> Result<Vec<pb::SessionInfo>, tonic::Status> {
        let ask = pb::ListRequest::default();
        let answer = control(at).await.list(signed(ask, self.token)).await;
        answer.map(|r| r.into_inner().sessions)
    }
}

/// A session relaying to `producer` over the pool: opened at `nodes[0]` (hello at nodes[1]),
/// updated; its listeners.
async fn relaying(nodes: &[Node], uid: &str, n: i32, producer: SocketAddr) -> Vec<String> {
    let (a, b) = (nodes[0].addr(), nodes[1 % nodes.len()].addr());
    let listeners = OPEN.open(&a, &b, uid, n, producer).await.unwrap();
    OPEN.update(&b, uid, &[producer]).await.unwrap();
    listeners
}

/// How many of `listeners` are on each node's address.
fn per_node(nodes: &[Node], listeners: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in nodes {
        let on = listeners
            .iter()
            .filter(|l| l.starts_with(&format!("{}:", node.ip)));
        counts.insert(node.name.clone(), on.count());
    }
    counts
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// A payload through `listener` comes back from the echo producer unchanged.
async fn echoes_through(listener: &str, seed: u64) {
    let mut stream = tokio::time::timeout(TEST_LIMIT, TcpStream::connect(listener))
        .await
        .expect("connect in time")
        .unwrap_or_else(|e| panic!("could not connect to {listener}: {e}"));
    let payload = random_payload(64 * 1024, seed);
    stream.write_all(&payload).await.unwrap();
    let echoed = tokio::time::timeout(TEST_LIMIT, read_exactly(&mut stream, payload.len()))
        .await
        .unwrap_or_else(|_| panic!("no echo through {listener}"));
    assert!(echoed == payload, "another echo through {listener}");
}

/// Polls `check` until it returns Some, for up to [`PATIENCE`].
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether connecting to `listener` is refused (nothing listens there any more).
async fn refused(listener: &str) -> bool {
    TcpStream::connect(listener).await.is_err()
}

/// The keys of pool `pool` under `kind/` in etcd.
fn registry_keys(etcd: &Etcd, pool: &str, kind: &str) -> Vec<String> {
    etcd.keys(&format!("/scistream/{pool}/{kind}/"))
}

#[test]
fn six_connections_over_three_nodes_are_two_each_and_every_listener_relays() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = three_nodes(&auth, &etcd, "spread", 4, &[]);
    rt.block_on(async {
        let listeners = relaying(&nodes, "six", 6, producer).await;
        assert_eq!(
            per_node(&nodes, &listeners),
            counts(&[("a", 2), ("b", 2), ("c", 2)])
        );
        for (i, listener) in listeners.iter().enumerate() {
            echoes_through(listener, i as u64).await;
        }
        // Any node tells where each listener is, and counts the connections of all.
        let status = OPEN.status(&nodes[2].addr(), "six").await.unwrap();
        assert_eq!(status.listeners, listeners);
        let mut held = status.listener_nodes.clone();
        held.sort();
        assert_eq!(held, ["a", "a", "b", "b", "c", "c"]);
        assert!(status.lost_listeners.is_empty(), "{status:?}");
        let all = eventually("every node reported its connections", || async {
            let status = OPEN.status(&nodes[0].addr(), "six").await.unwrap();
            (status.connections_total == 6).then_some(status)
        })
        .await;
        assert_eq!(all.bytes_to_target, 6 * 64 * 1024);
    });
}

#[test]
fn a_node_with_local_placement_keeps_its_sessions_to_itself() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let mut nodes = three_nodes(&auth, &etcd, "local", 4, &[]);
    nodes.push(node(
        &auth,
        &etcd,
        "local",
        "d",
        4,
        &["--placement", "local"],
    ));
    rt.block_on(async {
        let d = nodes[3].addr();
        let listeners = OPEN
            .open(&d, &nodes[0].addr(), "one-address", 3, producer)
            .await
            .unwrap();
        assert_eq!(per_node(&nodes, &listeners)["d"], 3, "{listeners:?}");
    });
}

#[test]
fn the_hello_may_reach_another_node_than_the_req_even_before_it() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let ip = private_loopback().to_string();
    let metrics = format!("{ip}:0");
    let nodes = [
        node(&auth, &etcd, "hello", "a", 4, &[]),
        node(&auth, &etcd, "hello", "b", 4, &[]),
        node_at(
            &auth,
            &etcd,
            ("hello", "c", &ip),
            4,
            &["--metrics", &metrics],
        ),
    ];
    let metrics = nodes[2].process.as_ref().unwrap().metrics.clone().unwrap();
    rt.block_on(async {
        let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
        OPEN.open(&a, &b, "together", 3, producer).await.unwrap();
        // A hello sent first waits at its node for the req that another node gets.
        let hello = pb::Hello {
            uid: "early".into(),
            prod_listeners: vec![producer.to_string()],
            role: "PROD".into(),
        };
        let mut early = control(&c).await;
        let waiting = tokio::spawn(async move { early.hello(hello).await });
        eventually("the hello waits at its node", || async {
            let waiting = scrape(&metrics)
                .lines()
                .any(|l| l == "scistream_early_hellos 1");
            waiting.then_some(())
        })
        .await;
        let req = pb::Request {
            uid: "early".into(),
            role: "PROD".into(),
            num_conn: 2,
            ..Default::default()
        };
        let opened = control(&a).await.req(req).await.unwrap().into_inner();
        assert_eq!(opened.prod_listeners, [producer.to_string()]);
        let helloed = waiting.await.unwrap().unwrap().into_inner();
        assert_eq!(helloed.listeners, opened.listeners);
        // A second hello for the session is refused wherever it goes.
        let again = pb::Hello {
            uid: "early".into(),
            prod_listeners: vec![producer.to_string()],
            role: "PROD".into(),
        };
        let refused = control(&b).await.hello(again).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    });
}

#[test]
fn release_and_status_work_from_a_third_node() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = three_nodes(&auth, &etcd, "third", 4, &[]);
    rt.block_on(async {
        let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
        let listeners = OPEN.open(&a, &b, "thirds", 6, producer).await.unwrap();
        let status = OPEN.status(&c, "thirds").await.unwrap();
        assert_eq!(status.state, "awaiting update");
        OPEN.update(&c, "thirds", &[producer]).await.unwrap();
        let status = OPEN.status(&a, "thirds").await.unwrap();
        assert_eq!(
            (status.state.as_str(), status.targets.len()),
            ("relaying", 1)
        );
        echoes_through(&listeners[5], 1).await;
        let released = OPEN.release(&c, "thirds").await.unwrap();
        assert_eq!(released.listeners, listeners);
        for node in [&a, &b, &c] {
            let gone = OPEN.status(node, "thirds").await.unwrap_err();
            assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
        }
        for listener in &listeners {
            assert!(
                refused(listener).await,
                "{listener} still listens after the release"
            );
        }
        assert!(registry_keys(&etcd, "third", "ports").is_empty());
        assert!(registry_keys(&etcd, "third", "sessions").is_empty());
        let again = OPEN.release(&b, "thirds").await.unwrap_err();
        assert_eq!(again.code(), Code::NotFound);
    });
}

#[test]
fn a_session_is_its_owners_at_every_node_and_an_admin_sees_it_everywhere() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    auth.accept_client(S1, SECRET);
    let (alice, bob, admin) = (
        "a11ce000-0000-4000-8000-000000000001",
        "b0b00000-0000-4000-8000-000000000002",
        "ad000000-0000-4000-8000-000000000003",
    );
    let flags = ["--client-id", S1, "--admin-identity", admin];
    let nodes = three_nodes(&auth, &etcd, "owned", 4, &flags);
    let hour = Duration::from_secs(3600);
    let token = |sub| auth.mint_for(sub, S1, hour).access_token;
    let (alice_token, bob_token, admin_token) = (token(alice), token(bob), token(admin));
    let (alice, bob, admin) = (
        As {
            token: Some(&alice_token),
        },
        As {
            token: Some(&bob_token),
        },
        As {
            token: Some(&admin_token),
        },
    );
    rt.block_on(async {
        let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
        alice.open(&a, &b, "alices", 3, producer).await.unwrap();
        for node in [&a, &b, &c] {
            let denied = [
                bob.status(node, "alices").await.unwrap_err(),
                bob.update(node, "alices", &[producer]).await.unwrap_err(),
                bob.release(node, "alices").await.unwrap_err(),
            ];
            for status in denied {
                assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            }
            assert!(bob.list(node).await.unwrap().is_empty());
            let seen = admin.list(node).await.unwrap();
            assert_eq!(seen.len(), 1);
            let mut nodes_of = seen[0].listener_nodes.clone();
            nodes_of.sort();
            assert_eq!(nodes_of, ["a", "b", "c"]);
        }
        alice.update(&c, "alices", &[producer]).await.unwrap();
        admin.release(&b, "alices").await.unwrap();
        assert!(alice.list(&a).await.unwrap().is_empty());
    });
}

#[test]
fn an_identitys_quota_counts_its_sessions_at_every_node() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    auth.accept_client(S1, SECRET);
    let alice = "a11ce000-0000-4000-8000-000000000001";
    let flags = ["--client-id", S1, "--quota-sessions", "1"];
    let nodes = three_nodes(&auth, &etcd, "quota", 4, &flags);
    let token = auth
        .mint_for(alice, S1, Duration::from_secs(3600))
        .access_token;
    let alice = As {
        token: Some(&token),
    };
    rt.block_on(async {
        let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
        alice.open(&a, &a, "first", 2, producer).await.unwrap();
        // Its one session was opened at node a: node b counts it too.
        let refused = alice.open(&b, &b, "second", 2, producer).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains("sessions quota"), "{refused:?}");
        alice.release(&c, "first").await.unwrap();
        alice.open(&b, &b, "second", 2, producer).await.unwrap();
    });
}

#[test]
fn two_reqs_at_two_nodes_never_both_get_the_last_ports() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = three_nodes(&auth, &etcd, "race", 2, &[]);
    rt.block_on(async {
        let (a, b, c) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
        let held = OPEN.open(&a, &a, "first", 4, producer).await.unwrap();
        for round in 0..5 {
            let (one, two) = (format!("one-{round}"), format!("two-{round}"));
            let (first, second) = tokio::join!(
                OPEN.open(&a, &c, &one, 2, producer),
                OPEN.open(&b, &c, &two, 2, producer)
            );
            let (won, lost, winner) = match (first, second) {
                (Ok(won), Err(lost)) => (won, lost, one),
                (Err(lost), Ok(won)) => (won, lost, two),
                both => panic!("exactly one of the two must get the last 2 ports: {both:?}"),
            };
            assert_eq!(lost.code(), Code::ResourceExhausted, "{lost:?}");
            assert!(lost.message().contains("free ports"), "{lost:?}");
            assert!(
                won.iter().all(|l| !held.contains(l)),
                "{won:?} overlaps {held:?}"
            );
            OPEN.release(&c, &winner).await.unwrap();
        }
        assert_eq!(registry_keys(&etcd, "race", "ports").len(), 4);
    });
}

#[test]
fn a_killed_node_shows_lost_its_ports_go_and_it_takes_its_listeners_back() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    // Two ports each: a session of 6 fills the pool, so the next one reuses every port.
    let mut nodes = three_nodes(&auth, &etcd, "kill", 2, &[]);
    let listeners = rt.block_on(relaying(&nodes, "survivor", 6, producer));
    let on_c: Vec<String> = (listeners.iter())
        .filter(|l| l.starts_with(&format!("{}:", nodes[2].ip)))
        .cloned()
        .collect();
    nodes[2].kill();
    rt.block_on(async {
        let a = nodes[0].addr();
        let status = eventually("node c's listeners show lost", || async {
            let status = OPEN.status(&a, "survivor").await.unwrap();
            (status.lost_listeners.len() == 2).then_some(status)
        })
        .await;
        let mut lost = status.lost_listeners.clone();
        lost.sort();
        let mut expected = on_c.clone();
        expected.sort();
        assert_eq!(lost, expected);
        for (listener, node) in status.listeners.iter().zip(&status.listener_nodes) {
            assert_eq!(lost.contains(listener), node == "c", "{status:?}");
        }
        for (i, listener) in listeners.iter().filter(|l| !on_c.contains(l)).enumerate() {
            echoes_through(listener, i as u64).await;
        }
        assert!(registry_keys(&etcd, "kill", "ports/c").is_empty());
        assert_eq!(registry_keys(&etcd, "kill", "ports").len(), 4);
    });
    nodes[2].start_again(&auth);
    rt.block_on(async {
        let a = nodes[0].addr();
        eventually("node c takes its listeners back", || async {
            let status = OPEN.status(&a, "survivor").await.unwrap();
            status.lost_listeners.is_empty().then_some(())
        })
        .await;
        for (i, listener) in on_c.iter().enumerate() {
            echoes_through(listener, 10 + i as u64).await;
        }
        OPEN.release(&nodes[2].addr(), "survivor").await.unwrap();
        let reused = relaying(&nodes, "next", 6, producer).await;
        let mut reused_sorted = reused.clone();
        reused_sorted.sort();
        let mut first = listeners.clone();
        first.sort();
        assert_eq!(
            reused_sorted, first,
            "the same six ports, freed and given out again"
        );
        for (i, listener) in reused.iter().enumerate() {
            echoes_through(listener, 20 + i as u64).await;
        }
    });
}

#[test]
fn without_etcd_calls_fail_unavailable_relays_go_on_and_the_pool_catches_up() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, mut etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = three_nodes(&auth, &etcd, "outage", 4, &[]);
    let listeners = rt.block_on(relaying(&nodes, "steady", 6, producer));
    etcd.stop();
    rt.block_on(async {
        for node in &nodes {
            let failed = OPEN.status(&node.addr(), "steady").await.unwrap_err();
            assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
            assert!(failed.message().contains(&etcd.url()), "{failed:?}");
            let producer2 = producer;
            let refused = OPEN
                .open(&node.addr(), &node.addr(), "new", 1, producer2)
                .await;
            assert_eq!(refused.unwrap_err().code(), Code::Unavailable);
        }
        // Past the lease: the relays do not care.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for (i, listener) in listeners.iter().enumerate() {
            echoes_through(listener, i as u64).await;
        }
    });
    etcd.start_again();
    rt.block_on(async {
        let c = nodes[2].addr();
        let status = eventually("the pool answers again, with every listener", || async {
            let status = OPEN.status(&c, "steady").await.ok()?;
            status.lost_listeners.is_empty().then_some(status)
        })
        .await;
        assert_eq!(status.listeners, listeners);
        let fresh = relaying(&nodes, "after", 6, producer).await;
        assert!(fresh.iter().all(|l| !listeners.contains(l)), "{fresh:?}");
        for (i, listener) in listeners.iter().chain(&fresh).enumerate() {
            echoes_through(listener, 100 + i as u64).await;
        }
    });
}

/// A TCP relay to etcd that a test can cut and mend: the node that reaches etcd through it
/// is cut off from the registry while the rest of the pool is not.
struct Cuttable {
    addr: SocketAddr,
    etcd: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Cuttable {
    async fn start(etcd: SocketAddr) -> Cuttable {
        let listener = TcpListener::bind((private_loopback(), 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cuttable = Cuttable {
            addr,
            etcd,
            task: None,
        };
        cuttable.relay_on(listener);
        cuttable
    }

    fn relay_on(&mut self, listener: TcpListener) {
        let etcd = self.etcd;
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every relayed connection goes with it.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(etcd).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the relay and every connection through it.
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn mend(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.relay_on(listener);
    }
}

#[test]
fn a_node_cut_off_from_etcd_relays_on_and_catches_up_without_resurrecting_a_release() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let etcd_addr: SocketAddr = etcd.url().trim_start_matches("http://").parse().unwrap();
    let mut link = rt.block_on(Cuttable::start(etcd_addr));
    let mut nodes: Vec<Node> = ["a", "b"]
        .into_iter()
        .map(|name| node(&auth, &etcd, "cut", name, 2, &[]))
        .collect();
    let mut c = node(&auth, &etcd, "cut", "c", 2, &[]);
    // Node c reaches etcd through the link only.
    let at = c.args.iter().position(|a| a == "--cluster").unwrap() + 1;
    c.args[at] = link.url();
    c.kill();
    c.start_again(&auth);
    nodes.push(c);
    let listeners = rt.block_on(relaying(&nodes, "released-meanwhile", 6, producer));
    let on_c: Vec<String> = (listeners.iter())
        .filter(|l| l.starts_with(&format!("{}:", nodes[2].ip)))
        .cloned()
        .collect();
    rt.block_on(async {
        link.cut().await;
        let failed = OPEN
            .status(&nodes[2].addr(), "released-meanwhile")
            .await
            .unwrap_err();
        assert_eq!(failed.code(), Code::Unavailable, "{failed:?}");
        assert!(failed.message().contains(&link.url()), "{failed:?}");
        OPEN.release(&nodes[0].addr(), "released-meanwhile")
            .await
            .unwrap();
        // Node c knows nothing of it: its share relays on, cut off as it is.
        echoes_through(&on_c[0], 1).await;
        let a = nodes[0].addr();
        let placed = eventually("node c leaves the pool with its lease", || {
            let a = a.clone();
            async move {
                let listeners = OPEN.open(&a, &a, "while-cut", 4, producer).await.ok()?;
                Some(listeners)
            }
        })
        .await;
        assert_eq!(per_node(&nodes, &placed)["c"], 0, "{placed:?}");
        OPEN.release(&a, "while-cut").await.unwrap();
        link.mend().await;
        // Back, it closes the released session's listeners and takes sessions again, on the
        // ports it held.
        for listener in &on_c {
            eventually("node c closes the released session's listener", || async {
                refused(listener).await.then_some(())
            })
            .await;
        }
        let after = eventually("node c takes sessions again", || {
            let a = a.clone();
            async move {
                let listeners = OPEN.open(&a, &a, "after-cut", 6, producer).await.ok()?;
                Some(listeners)
            }
        })
        .await;
        assert_eq!(
            per_node(&nodes, &after),
            counts(&[("a", 2), ("b", 2), ("c", 2)])
        );
        OPEN.update(&a, "after-cut", &[producer]).await.unwrap();
        for (i, listener) in after.iter().enumerate() {
            echoes_through(listener, 10 + i as u64).await;
        }
        let gone = OPEN
            .status(&nodes[2].addr(), "released-meanwhile")
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
    });
}

#[test]
fn a_draining_node_takes_no_new_session_while_its_own_run_on() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = three_nodes(&auth, &etcd, "drain", 4, &[]);
    let user = User::new(&auth);
    let listeners = rt.block_on(relaying(&nodes, "running", 3, producer));
    let url = etcd.url();
    let drain = |more: &[&str]| {
        let args = [
            &["server", "drain", "--cluster", &url, "--pool", "drain"],
            more,
        ]
        .concat();
        user.cmd(&args).timeout(TEST_LIMIT).assert().success()
    };
    let said = drain(&["c"]);
    let said = String::from_utf8_lossy(&said.get_output().stdout).into_owned();
    assert!(
        said.contains(
            "Node c of pool drain drains: no new session is placed on it; its 1 sessions run on"
        ),
        "{said}"
    );
    let nodes = &nodes;
    rt.block_on(async {
        let a = nodes[0].addr();
        let placed = eventually("node a sees c draining", || {
            let a = a.clone();
            async move {
                let listeners = OPEN.open(&a, &a, "drained", 4, producer).await.unwrap();
                let spread = per_node(nodes, &listeners);
                if spread["c"] == 0 {
                    return Some(spread);
                }
                OPEN.release(&a, "drained").await.unwrap();
                None
            }
        })
        .await;
        assert_eq!(placed, counts(&[("a", 2), ("b", 2), ("c", 0)]));
        for (i, listener) in listeners.iter().enumerate() {
            echoes_through(listener, i as u64).await;
        }
    });
    drain(&["--undo", "c"]);
    rt.block_on(async {
        let a = nodes[0].addr();
        eventually("node c takes sessions again", || {
            let a = a.clone();
            async move {
                let listeners = OPEN.open(&a, &a, "undrained", 3, producer).await.unwrap();
                let on_c = per_node(nodes, &listeners)["c"];
                OPEN.release(&a, "undrained").await.unwrap();
                (on_c > 0).then_some(())
            }
        })
        .await;
    });
}

#[test]
fn the_encrypted_hop_joins_two_pools() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let prod = three_nodes(&auth, &etcd, "facility-a", 4, &[]);
    let cons: Vec<Node> = ["x", "y"]
        .into_iter()
        .map(|name| node(&auth, &etcd, "facility-b", name, 4, &[]))
        .collect();
    let user = User::new(&auth);
    let gateways = (&*prod[0].addr(), &*cons[1].addr());
    let (uid, listeners) = open_stream(&user, gateways, "6", producer.port());
    assert_eq!(per_node(&cons, &listeners), counts(&[("x", 3), ("y", 3)]));
    rt.block_on(async {
        // Each CONS node dials PROD listeners on every PROD node, all with one identity.
        for (i, listener) in listeners.iter().enumerate() {
            echoes_through(listener, i as u64).await;
        }
        let prod_status = OPEN.status(&prod[2].addr(), &uid).await.unwrap();
        let mut nodes_of = prod_status.listener_nodes.clone();
        nodes_of.sort();
        assert_eq!(nodes_of, ["a", "a", "b", "b", "c", "c"]);
        eventually("the PROD nodes count the hop's connections", || async {
            let status = OPEN.status(&prod[1].addr(), &uid).await.unwrap();
            (status.connections_total == 6).then_some(())
        })
        .await;
    });
}

/// A node of pool `pool` on a loopback address of its own, run to its end: it must not start.
fn refused_node(etcd: &Etcd, pool: &str, more: &[&str]) -> (Option<i32>, String) {
    let (ip, dir) = (private_loopback().to_string(), tempfile::tempdir().unwrap());
    let config = dir.path().join("config.yaml");
    let out = assert_cmd::Command::cargo_bin("scistream")
        .unwrap()
        .args(server_words(&config, &ip))
        .args(["--port-range", "24000-24001", "--cluster", &etcd.url()])
        .args([
            "--pool",
            pool,
            "--node-name",
            "refused",
            "--cluster-lease",
            LEASE,
        ])
        .args(more)
        .env_remove("SCISTREAM_CLIENT_SECRET")
        .env_remove("SCISTREAM_CONFIG")
        .timeout(PATIENCE)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (out.status.code(), said.into_owned())
}

/// `dir/name`, as a flag takes it.
fn file_in(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_string()
}

/// The flags of a node that trusts `ca` and shows `cert` (with `key`) to etcd.
fn tls_flags<'a>(ca: &'a str, cert: &'a str, key: &'a str) -> [&'a str; 6] {
    [
        "--cluster-ca",
        ca,
        "--cluster-cert",
        cert,
        "--cluster-key",
        key,
    ]
}

#[test]
fn over_tls_a_node_with_a_client_certificate_joins_and_one_without_is_turned_away() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (certs, ip) = (tempfile::tempdir().unwrap(), private_loopback());
    openssl_ca_signed(certs.path(), "etcd", &format!("IP:{ip}"));
    openssl_signed_by_ca(certs.path(), "node", "DNS:node.invalid");
    let file = |name: &str| file_in(&certs, name);
    let etcd = Etcd::start_tls(
        ip,
        EtcdTlsFiles {
            ca: file("ca.crt").into(),
            cert: file("etcd.crt").into(),
            key: file("etcd.key").into(),
        },
    );
    let (ca, cert, key) = (file("ca.crt"), file("node.crt"), file("node.key"));
    let with_cert = tls_flags(&ca, &cert, &key);
    let auth = OAuthServer::start();
    let a = node(&auth, &etcd, "tls", "a", 2, &with_cert);
    rt.block_on(async {
        let listeners = OPEN
            .open(&a.addr(), &a.addr(), "over-tls", 1, producer)
            .await;
        let listeners = listeners.expect("the req through a node over TLS succeeds");
        OPEN.update(&a.addr(), "over-tls", &[producer])
            .await
            .unwrap();
        echoes_through(&listeners[0], 1).await;
        let listed = OPEN.list(&a.addr()).await.unwrap();
        let uids: Vec<&str> = listed.iter().map(|s| s.uid.as_str()).collect();
        assert_eq!(uids, ["over-tls"]);
    });
    // The CA but no client certificate, or one that another CA signed: etcd turns the node
    // away, and the node says so, and what to check.
    let other = tempfile::tempdir().unwrap();
    openssl_ca_signed(other.path(), "node", "DNS:node.invalid");
    let (cert, key) = (file_in(&other, "node.crt"), file_in(&other, "node.key"));
    let without: [&[&str]; 2] = [&["--cluster-ca", &ca], &tls_flags(&ca, &cert, &key)];
    for more in without {
        let (code, said) = refused_node(&etcd, "tls", more);
        assert!(code.is_some(), "no exit in time (a hang?): {said}");
        assert_ne!(code, Some(0), "{said}");
        let cause = format!("etcd at {} is unreachable", etcd.url());
        assert!(said.contains(&cause), "{said}");
        assert!(said.contains("--cluster-cert"), "{said}");
    }
}

/// The value of `series` summed over the `/metrics` of `nodes` (each started with `--metrics`).
fn summed(nodes: &[Node], series: &str) -> f64 {
    let endpoints = nodes
        .iter()
        .filter_map(|n| n.process.as_ref()?.metrics.clone());
    endpoints.map(|m| value(&scrape(&m), series)).sum()
}

/// Nodes a and b of `pool`, each with its `/metrics`, 6 ports and `more` flags.
fn two_nodes_with_metrics(auth: &OAuthServer, etcd: &Etcd, pool: &str, more: &[&str]) -> Vec<Node> {
    let start = |name| {
        let ip = private_loopback().to_string();
        let metrics = format!("{ip}:0");
        let flags = [more, &["--metrics", &metrics]].concat();
        node_at(auth, etcd, (pool, name, &ip), 6, &flags)
    };
    vec![start("a"), start("b")]
}

/// Waits until `uid` is gone from the pool, as node `at` answers.
async fn until_gone(at: &str, uid: &str) {
    eventually(&format!("{uid} is gone"), || async {
        let status = OPEN.status(at, uid).await;
        status
            .is_err_and(|e| e.code() == Code::NotFound)
            .then_some(())
    })
    .await;
}

/// The first of `listeners` on `node`'s address.
fn listener_on(node: &Node, listeners: &[String]) -> SocketAddr {
    let on = listeners
        .iter()
        .find(|l| l.starts_with(&format!("{}:", node.ip)));
    on.expect("a listener on the node").parse().unwrap()
}

#[test]
fn lifetimes_and_timeouts_hold_for_the_whole_session_over_all_its_nodes() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let timeouts = ["--session-idle-timeout", "6s", "--update-timeout", "6s"];
    let nodes = two_nodes_with_metrics(&auth, &etcd, "expiry", &timeouts);
    rt.block_on(async {
        let (a, b) = (nodes[0].addr(), nodes[1].addr());
        let idle = relaying(&nodes, "idle", 2, producer).await;
        let status = OPEN.status(&b, "idle").await.unwrap();
        assert_eq!(status.expires_by, "idle_timeout", "{status:?}");
        // A connection open at node b only keeps the session from idling at every node.
        let held_idle = live_connection(listener_on(&nodes[1], &idle)).await;
        OPEN.open(&a, &b, "stuck", 2, producer).await.unwrap();
        let status = OPEN.status(&b, "stuck").await.unwrap();
        assert_eq!(status.expires_by, "update_timeout", "{status:?}");
        let brief = pb::Request {
            lifetime_secs: 5,
            ..rated("brief", 0, 2)
        };
        let brief = OPEN.open_as(&a, &b, brief, producer).await.unwrap();
        OPEN.update(&b, "brief", &[producer]).await.unwrap();
        let mut held_brief = live_connection(brief[0].parse().unwrap()).await;
        let status = OPEN.status(&b, "brief").await.unwrap();
        assert_eq!(status.expires_by, "lifetime", "{status:?}");
        eventually("node b reports the open connection", || async {
            let status = OPEN.status(&a, "idle").await.unwrap();
            (status.expires_by == "lifetime").then_some(())
        })
        .await;
        until_gone(&a, "brief").await;
        assert_reset(&mut held_brief).await;
        until_gone(&b, "stuck").await;
        // Past the idle timeout since its update and a sweep later, its connection holds it.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let status = OPEN.status(&a, "idle").await.unwrap();
        assert_eq!(status.connections_active, 1, "{status:?}");
        drop(held_idle);
        until_gone(&b, "idle").await;
        for reason in ["lifetime", "idle_timeout", "update_timeout"] {
            let series = format!(r#"scistream_sessions_expired_total{{reason="{reason}"}}"#);
            eventually(&format!("one session expired by {reason}"), || async {
                (summed(&nodes, &series) == 1.0).then_some(())
            })
            .await;
        }
        // Counted, then logged.
        eventually("three expiries logged", || async {
            let logs = nodes.iter().map(|n| n.process.as_ref().unwrap().log());
            let expired = logs.map(|log| log.matches("event=\"session_expired\"").count());
            (expired.sum::<usize>() == 3).then_some(())
        })
        .await;
        assert!(registry_keys(&etcd, "expiry", "ports").is_empty());
        assert!(registry_keys(&etcd, "expiry", "accounts").is_empty());
        for listener in brief.iter().chain(&idle) {
            let closed = eventually("the listener is closed", || async {
                refused(listener).await.then_some(())
            });
            closed.await;
        }
    });
}

#[test]
fn the_connection_quota_holds_on_each_node() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = two_nodes_with_metrics(&auth, &etcd, "conns", &["--quota-connections", "2"]);
    rt.block_on(async {
        let first = relaying(&nodes, "first", 2, producer).await;
        let second = relaying(&nodes, "second", 2, producer).await;
        let (on_a, on_b) = (
            listener_on(&nodes[0], &first),
            listener_on(&nodes[1], &second),
        );
        // Two at node a over both sessions: the quota there is full.
        let _held = [
            live_connection(on_a).await,
            live_connection(listener_on(&nodes[0], &second)).await,
        ];
        expect_reset(on_a).await;
        // Node b counts its own.
        let _also = [live_connection(on_b).await, live_connection(on_b).await];
        let rejected = r#"scistream_connections_rejected_total{reason="quota"}"#;
        eventually("the reset counted", || async {
            (summed(&nodes, rejected) == 1.0).then_some(())
        })
        .await;
    });
}

#[test]
fn a_node_refuses_a_live_upgrade_and_a_reload_leaves_it_serving() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let mut nodes = vec![node(&auth, &etcd, "reload", "a", 2, &[])];
    let listeners = rt.block_on(relaying(&nodes, "steady", 2, producer));
    let process = nodes[0].process.as_mut().unwrap();
    process.signal(libc::SIGHUP);
    rt.block_on(eventually(
        "the node logs the reload it ignores",
        || async { (process.log().contains("reload (SIGHUP) ignored")).then_some(()) },
    ));
    assert!(process.is_running(), "a SIGHUP ended the node");
    rt.block_on(async {
        for (i, listener) in listeners.iter().enumerate() {
            echoes_through(listener, i as u64).await;
        }
        let status = OPEN.status(&nodes[0].addr(), "steady").await.unwrap();
        assert!(status.lost_listeners.is_empty(), "{status:?}");
    });
    let (code, said) = refused_node(&etcd, "reload", &["--take-over", "/nonexistent/handover"]);
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("--take-over is not available on a node of a pool")
            && said.contains("takes its listeners back"),
        "{said}"
    );
}

/// A PROD req for `rate` kb/s over `n` listeners at `at`, without its hello: for a req that
/// the pool refuses at once.
async fn refused_req(at: &str, uid: &str, rate: i32, n: i32) -> tonic::Status {
    let answer = control(at).await.req(rated(uid, rate, n)).await;
    answer.expect_err("the req is refused")
}

/// A PROD req for `rate` kb/s over `n` listeners.
fn rated(uid: &str, rate: i32, n: i32) -> pb::Request {
    pb::Request {
        uid: uid.into(),
        role: "PROD".into(),
        num_conn: n,
        rate,
        ..Default::default()
    }
}

#[test]
fn under_reserve_each_node_promises_only_its_own_bandwidth_and_never_twice() {
    const MBIT: i32 = 1000;
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let reserve = ["--rate-policy", "reserve", "--bandwidth", "1G"];
    let nodes = two_nodes_with_metrics(&auth, &etcd, "reserve", &reserve);
    rt.block_on(async {
        let (a, b) = (nodes[0].addr(), nodes[1].addr());
        let zero = refused_req(&a, "unlimited", 0, 2).await;
        assert_eq!(zero.code(), Code::InvalidArgument, "{zero:?}");
        // 800 Mbit/s on one node leaves it 200 free; 600 on the other leaves 400.
        let big = OPEN.open_as(&a, &b, rated("big", 800 * MBIT, 1), producer);
        let big = big.await.unwrap();
        let other = OPEN.open_as(&b, &a, rated("other", 600 * MBIT, 1), producer);
        let other = other.await.unwrap();
        let roomy = nodes
            .iter()
            .find(|n| other[0].starts_with(&format!("{}:", n.ip)));
        assert!(!big[0].starts_with(&format!("{}:", roomy.unwrap().ip)));
        // 300 fits only the node with 400 free: it goes there, whatever the spread picks first.
        let fits = OPEN.open_as(&a, &b, rated("fits", 300 * MBIT, 1), producer);
        assert_eq!(
            per_node(&nodes, &fits.await.unwrap()),
            per_node(&nodes, &other)
        );
        // 200 free and 100 free: 300 over two listeners (150 each) fits neither.
        let refused = refused_req(&b, "too-much", 300 * MBIT, 2).await;
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains("--bandwidth"), "{refused:?}");
        for uid in ["big", "other", "fits"] {
            OPEN.release(&a, uid).await.unwrap();
        }
        assert!(registry_keys(&etcd, "reserve", "bandwidth").is_empty());
        // All of both nodes' bandwidth, asked at two nodes at once: one of them gets it.
        let (first, second) = tokio::join!(
            OPEN.open_as(&a, &a, rated("one", 2000 * MBIT, 2), producer),
            OPEN.open_as(&b, &b, rated("two", 2000 * MBIT, 2), producer),
        );
        let (lost, winner) = match (first, second) {
            (Ok(_), Err(lost)) => (lost, "one"),
            (Err(lost), Ok(_)) => (lost, "two"),
            both => panic!("exactly one of the two must get the bandwidth: {both:?}"),
        };
        assert_eq!(lost.code(), Code::ResourceExhausted, "{lost:?}");
        OPEN.release(&b, winner).await.unwrap();
        assert!(registry_keys(&etcd, "reserve", "bandwidth").is_empty());
    });
}

#[test]
fn sigusr1_drains_the_node_that_gets_it_and_sigusr2_undoes_it() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let (auth, etcd) = (OAuthServer::start(), Etcd::start());
    let nodes = vec![
        node(&auth, &etcd, "signals", "a", 4, &[]),
        node(&auth, &etcd, "signals", "b", 4, &[]),
    ];
    let b = nodes[1].process.as_ref().unwrap();
    let drains = || registry_keys(&etcd, "signals", "drain");
    b.signal(libc::SIGUSR1);
    rt.block_on(eventually("node b is marked draining", || async {
        (drains().len() == 1).then_some(())
    }));
    rt.block_on(async {
        let a = nodes[0].addr();
        let placed = eventually("node a sees b draining", || async {
            let listeners = OPEN.open(&a, &a, "drained", 2, producer).await.unwrap();
            let placed = per_node(&nodes, &listeners);
            OPEN.release(&a, "drained").await.unwrap();
            (placed == counts(&[("a", 2), ("b", 0)])).then_some(())
        });
        placed.await;
    });
    rt.block_on(eventually("node b logs its drain", || async {
        b.log().contains("this node drains (SIGUSR1)").then_some(())
    }));
    b.signal(libc::SIGUSR2);
    rt.block_on(eventually("node b takes sessions again", || async {
        drains().is_empty().then_some(())
    }));
}
