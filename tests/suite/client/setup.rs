//! `req prod|cons|stream` through the client library's setup: what it releases, where it finds
//! the PROD gateway, how it rides out a full early-hello table, and what it refuses or warns
//! about for the hop.

use scistream::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::time::{Duration, Instant};
use tonic::Code;

use super::front::{front, Twists};
use crate::common::metrics;
use crate::common::net::{serve, TEST_LIMIT};
use crate::common::server::{private_loopback, Options, TestServer};
use crate::common::server_process::ServerProcess;
use crate::common::user::stderr;

/// What the producer application sends to every connection.
const PRODUCED: &[u8] = b"the producer's bytes";

/// A producer on 127.0.0.1 that sends [`PRODUCED`] to each connection; returns its port.
fn producer(rt: &Runtime) -> String {
    let (addr, _task) = rt.block_on(serve(|mut stream: TcpStream| async move {
        let _ = stream.write_all(PRODUCED).await;
        let _ = stream.shutdown().await;
    }));
    addr.port().to_string()
}

/// What a consumer connected to `listener` reads until the stream ends, however it ends.
fn consume(rt: &Runtime, listener: &str) -> Vec<u8> {
    rt.block_on(async {
        let mut consumer = TcpStream::connect(listener).await.unwrap();
        // A plaintext client of a TLS listener must say something to be answered.
        let _ = consumer.write_all(b"hello?").await;
        let mut received = Vec::new();
        let _ = tokio::time::timeout(TEST_LIMIT, consumer.read_to_end(&mut received)).await;
        received
    })
}

/// A producer and two gateways for a stream: PROD and CONS.
struct Gateways {
    // First: dropped before the servers, with the connections of its fronts.
    rt: Runtime,
    /// The producer's port on 127.0.0.1.
    port: String,
    prod: TestServer,
    cons: TestServer,
}

impl Gateways {
    fn start() -> Gateways {
        let rt = Runtime::new().unwrap();
        Gateways {
            port: producer(&rt),
            rt,
            prod: TestServer::start(Options::default()),
            cons: TestServer::start(Options::default()),
        }
    }
}

/// `scistream req ACTION --no-tls ARGS` with `via`'s config.
fn req(via: &TestServer, action: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = via.cli();
    cmd.args(["req", action, "--no-tls"])
        .args(args)
        .timeout(TEST_LIMIT);
    cmd
}

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).expect("one JSON object")
}

fn first_listener(opened: &serde_json::Value) -> String {
    opened["listeners"][0].as_str().unwrap().to_owned()
}

fn sessions_on(rt: &Runtime, server: &TestServer) -> Vec<pb::SessionInfo> {
    rt.block_on(async {
        let mut client = server.grpc().await;
        let list = client.list(pb::ListRequest::default()).await.unwrap();
        list.into_inner().sessions
    })
}

/// One listener, relayed to a producer on 127.0.0.1:`port`, printed as JSON.
fn session_args(port: &str) -> [&str; 7] {
    [
        "--num-conn",
        "1",
        "--remote-ip",
        "127.0.0.1",
        "--receiver-ports",
        port,
        "--json",
    ]
}

/// `req prod` arguments for [`session_args`] at `s2cs`.
fn prod_args<'a>(s2cs: &'a str, port: &'a str) -> Vec<&'a str> {
    [&["--s2cs", s2cs][..], &session_args(port)].concat()
}

/// `req stream` arguments for [`session_args`] from `prod` to `cons`.
fn stream_args<'a>(prod: &'a str, cons: &'a str, port: &'a str) -> Vec<&'a str> {
    let servers = ["--prod-s2cs", prod, "--cons-s2cs", cons];
    [&servers[..], &session_args(port)].concat()
}

#[test]
fn a_refused_update_is_released_once_and_without_a_warning() {
    let rt = Runtime::new().unwrap();
    let server = TestServer::start(Options {
        metrics: true,
        ..Options::default()
    });
    // The producer's port is the server's own control port: the update is refused.
    let own = server.addr.port().to_string();
    let out = req(&server, "prod", &prod_args(&server.s2cs(), &own))
        .assert()
        .code(2);
    let err = stderr(out.get_output());
    assert!(err.contains("cannot relay into its own server"), "{err}");
    assert!(!err.contains("could not release"), "{err}");
    assert!(sessions_on(&rt, &server).is_empty(), "the session stayed");
    let text = metrics::scrape(&server.metrics.unwrap().to_string());
    let released = r#"scistream_requests_total{rpc="release",code="OK"}"#;
    assert_eq!(metrics::value(&text, released), 1.0, "{text}");
    assert!(
        !text.contains(r#"rpc="release",code="NotFound""#),
        "released twice:\n{text}"
    );
}

/// A PROD gateway as a process on a loopback address of its own, on the default control port
/// 5000 (free there: no other test uses that address).
fn prod_gateway_on_port_5000(dir: &tempfile::TempDir) -> (ServerProcess, String) {
    let ip = private_loopback().to_string();
    let args = [
        "server",
        "--no-tls",
        "--bind",
        &ip,
        "--listener-ip",
        &ip,
        "--port-range",
        "20000-20010",
    ];
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_scistream"));
    let gateway = ServerProcess::run(binary, &args, dir.path(), &[]);
    assert_eq!(gateway.addr, format!("{ip}:5000"));
    (gateway, ip)
}

#[test]
fn req_cons_finds_the_prod_gateway_on_its_listeners_host_at_port_5000() {
    let rt = Runtime::new().unwrap();
    let port = producer(&rt);
    let dir = tempfile::tempdir().unwrap();
    let (prod_gw, _ip) = prod_gateway_on_port_5000(&dir);
    let cons_gw = TestServer::start(Options::default());
    let prod = json(
        &req(&cons_gw, "prod", &prod_args(&prod_gw.addr, &port))
            .assert()
            .success(),
    );
    assert_eq!(prod["hop"], "encrypted");
    let uid = prod["uid"].as_str().unwrap();
    let prod_listener = first_listener(&prod);
    let cons_args = ["--s2cs", &cons_gw.s2cs(), "--num-conn", "1", "--json"];
    let out = req(&cons_gw, "cons", &cons_args)
        .args([uid, &prod_listener])
        .assert()
        .success();
    let cons = json(&out);
    assert_eq!(cons["hop"], "encrypted", "{}", stderr(out.get_output()));
    assert_eq!(consume(&rt, &first_listener(&cons)), PRODUCED);
}

#[test]
fn req_cons_without_prod_s2cs_says_where_it_looked_when_nothing_answers() {
    let rt = Runtime::new().unwrap();
    let cons_gw = TestServer::start(Options::default());
    let nowhere = private_loopback();
    let out = req(
        &cons_gw,
        "cons",
        &["--s2cs", &cons_gw.s2cs(), "--num-conn", "1"],
    )
    .args(["u-1", &format!("{nowhere}:5100")])
    .assert()
    .code(4);
    let err = stderr(out.get_output());
    assert!(err.contains(&format!("{nowhere}:5000")), "{err}");
    assert!(err.contains("--prod-s2cs HOST:PORT"), "{err}");
    assert!(sessions_on(&rt, &cons_gw).is_empty());
}

/// Keeps `slots` hellos for uids whose req never comes waiting in `server`'s early-hello table,
/// sent from this host's address as `req prod`'s are: each is sent again as soon as the server
/// gives up on it, or, when it had no room, a little later. Returns once the server has no
/// room for this address's early hellos (the whole table, or this address's share of it).
fn fill_early_hellos(rt: &Runtime, server: &TestServer, slots: usize) {
    let calls_per_connection = 100;
    for connection in 0..slots.div_ceil(calls_per_connection) {
        let client = rt.block_on(server.grpc());
        let first = connection * calls_per_connection;
        for slot in first..slots.min(first + calls_per_connection) {
            let mut client = client.clone();
            rt.spawn(async move {
                for round in 0.. {
                    // A refusal, and a channel whose worker the runtime's shutdown already
                    // dropped, answer at once: the pause keeps the loop from spinning, and is
                    // where the shutdown drops this task.
                    let answered = client.hello(hello(&format!("filler-{slot}-{round}"))).await;
                    if answered.is_err() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            });
        }
    }
    rt.block_on(until_early_hellos_are_refused(server));
}

fn hello(uid: &str) -> pb::Hello {
    pb::Hello {
        uid: uid.into(),
        prod_listeners: vec!["127.0.0.1:9".into()],
        role: "PROD".into(),
    }
}

/// Sends probe hellos until one is refused for want of room. A probe that is not answered at
/// once was taken in, and is withdrawn (the server then drops it) before the next.
async fn until_early_hellos_are_refused(server: &TestServer) {
    let mut client = server.grpc().await;
    let deadline = Instant::now() + TEST_LIMIT;
    for probe in 0.. {
        assert!(
            Instant::now() < deadline,
            "the early-hello table never filled"
        );
        let sent = client.hello(hello(&format!("probe-{probe}")));
        match tokio::time::timeout(Duration::from_millis(50), sent).await {
            Ok(Err(refused)) if refused.code() == Code::ResourceExhausted => return,
            _ => tokio::task::yield_now().await,
        }
    }
}

#[test]
fn a_full_early_hello_table_does_not_lose_the_session() {
    let server = TestServer::start(Options::default());
    // Dropped before the server, so that the fillers stop before it shuts down.
    let rt = Runtime::new().unwrap();
    fill_early_hellos(&rt, &server, 1024);
    let port = producer(&rt);
    let s2cs = server.s2cs();
    let mut args = prod_args(&s2cs, &port);
    args.push("--plaintext-hop");
    let out = req(&server, "prod", &args).assert().success();
    assert_eq!(consume(&rt, &first_listener(&json(&out))), PRODUCED);
}

#[test]
fn req_prod_and_req_stream_warn_when_the_prod_gateway_has_authentication_off() {
    let gateways = Gateways::start();
    let (rt, port) = (&gateways.rt, &gateways.port);
    let (prod_gw, cons_gw) = (&gateways.prod, &gateways.cons);
    // The servers here check no tokens, and say so in their replies' metadata.
    let (open_prod, cons) = (prod_gw.s2cs(), cons_gw.s2cs());
    let warning = format!("warning: s2cs {open_prod} has authentication off");
    let out = req(prod_gw, "prod", &prod_args(&open_prod, port))
        .assert()
        .success();
    assert!(stderr(out.get_output()).contains(&warning));
    let out = req(prod_gw, "stream", &stream_args(&open_prod, &cons, port))
        .assert()
        .success();
    assert!(stderr(out.get_output()).contains(&warning));
    assert_eq!(consume(rt, &first_listener(&json(&out))), PRODUCED);

    // A server that does not say is not taken to have authentication off.
    let silent = front(rt, prod_gw, Twists::NONE);
    for (action, args) in [
        ("prod", prod_args(&silent, port)),
        ("stream", stream_args(&silent, &cons, port)),
    ] {
        let out = req(prod_gw, action, &args).assert().success();
        let err = stderr(out.get_output());
        assert!(!err.contains("authentication off"), "{action}: {err}");
    }
}

/// `0.0.0.0:PORT` reaches this host's server (Linux connects to the loopback), yet is not a
/// loopback address: to the client it stands for a server across a network, without a packet
/// leaving the machine.
fn as_if_remote(server: &TestServer) -> String {
    format!("0.0.0.0:{}", server.addr.port())
}

#[test]
fn a_hop_credential_never_crosses_a_plaintext_channel_to_another_host() {
    let gateways = Gateways::start();
    let (rt, port) = (&gateways.rt, &gateways.port);
    let (prod_gw, cons_gw) = (&gateways.prod, &gateways.cons);
    let (remote_prod, remote_cons) = (as_if_remote(prod_gw), as_if_remote(cons_gw));
    let prod = prod_gw.s2cs();
    let cons_args = [
        "--s2cs",
        &remote_cons,
        "--prod-s2cs",
        &prod,
        "u-1",
        "127.0.0.1:9",
    ];
    let refused = [
        ("prod", prod_args(&remote_prod, port), &remote_prod),
        ("cons", cons_args.to_vec(), &remote_cons),
        (
            "stream",
            stream_args(&prod, &remote_cons, port),
            &remote_cons,
        ),
    ];
    for (action, args, exposed) in refused {
        let out = req(prod_gw, action, &args).assert().code(2);
        let err = stderr(out.get_output());
        assert!(
            err.contains(&format!("plaintext control channel to s2cs {exposed}")),
            "{action}: {err}"
        );
        assert!(err.contains("--plaintext-hop"), "{action}: {err}");
    }
    assert!(sessions_on(rt, prod_gw).is_empty());
    assert!(sessions_on(rt, cons_gw).is_empty());

    // Asked for, a plaintext hop carries no credential, and says what it is.
    let mut args = prod_args(&remote_prod, port);
    args.push("--plaintext-hop");
    let opened = json(&req(prod_gw, "prod", &args).assert().success());
    assert_eq!(opened["hop"], "plaintext");
    assert_eq!(consume(rt, &first_listener(&opened)), PRODUCED);
}

#[test]
fn a_cons_gateway_without_the_encrypted_hop_does_not_turn_the_prod_session_plaintext() {
    let gateways = Gateways::start();
    let (rt, port) = (&gateways.rt, &gateways.port);
    let (prod_gw, cons_gw) = (&gateways.prod, &gateways.cons);
    let old_cons = front(rt, cons_gw, Twists::NO_UPDATE_HOP);
    let prod = prod_gw.s2cs();
    let out = req(prod_gw, "stream", &stream_args(&prod, &old_cons, port))
        .assert()
        .code(1);
    let err = stderr(out.get_output());
    assert!(
        err.contains(&format!("s2cs {old_cons} does not offer the encrypted hop")),
        "{err}"
    );
    assert!(
        err.contains("req stream") && err.contains("--allow-plaintext-fallback`"),
        "{err}"
    );
    assert!(sessions_on(rt, prod_gw).is_empty(), "the PROD half stayed");
    assert!(sessions_on(rt, cons_gw).is_empty(), "the CONS half stayed");

    // `req cons` for an encrypted PROD session: refused, and the PROD session stays encrypted.
    let opened = json(
        &req(prod_gw, "prod", &prod_args(&prod, port))
            .assert()
            .success(),
    );
    let (uid, prod_listener) = (opened["uid"].as_str().unwrap(), first_listener(&opened));
    let cons_args = ["--s2cs", &old_cons, "--prod-s2cs", &prod, "--num-conn", "1"];
    let out = req(prod_gw, "cons", &cons_args)
        .args([uid, &prod_listener])
        .assert()
        .code(1);
    assert!(stderr(out.get_output()).contains("--allow-plaintext-fallback`"));
    assert!(
        sessions_on(rt, cons_gw).is_empty(),
        "the CONS session stayed"
    );
    let read = consume(rt, &prod_listener);
    assert!(
        !read.windows(PRODUCED.len()).any(|w| w == PRODUCED),
        "a plaintext client read the producer"
    );

    // Allowed, the fallback turns it plaintext, with a warning.
    let out = req(prod_gw, "cons", &cons_args)
        .args(["--allow-plaintext-fallback", "--json", uid, &prod_listener])
        .assert()
        .success();
    let err = stderr(out.get_output());
    assert!(
        err.contains("relays the gateway-to-gateway hop in clear"),
        "{err}"
    );
    let cons = json(&out);
    assert_eq!(cons["hop"], "plaintext");
    assert_eq!(consume(rt, &first_listener(&cons)), PRODUCED);
}
