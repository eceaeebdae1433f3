//! The WAN hop between two gateways: encrypted and bound to its session by default, refused to
//! strangers, broken rather than corrupted, and plain (with a warning, or refused) when a
//! gateway speaks only scistream-proto 1.2.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::metrics;
use crate::common::net::{
    accept_one, assert_reset, flipping_proxy, random_payload, read_until_closed, serve, sha256,
    wait_until, Flow, TEST_LIMIT,
};
use crate::common::oauth::OAuthServer;
use crate::common::req::{prod_flags, req_words};
use crate::common::server::{is_bound, private_loopback, stand_in, Options, TestServer};
use crate::common::server_process::{ServerProcess, ServerSetup};
use crate::common::user::{stderr, User};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

const MIB: usize = 1 << 20;

/// Two servers as processes (authentication off), and a user to drive them.
struct ServerPair {
    prod: ServerProcess,
    cons: ServerProcess,
    user: User,
    _auth: OAuthServer,
}

impl ServerPair {
    fn start() -> Self {
        let auth = OAuthServer::start();
        let start = |ip: &str| {
            let setup = ServerSetup {
                ip,
                credentials: None,
                extra_args: &["--metrics", "127.0.0.1:0"],
            };
            ServerProcess::start(&auth, setup)
        };
        let (prod_ip, cons_ip) = (
            private_loopback().to_string(),
            private_loopback().to_string(),
        );
        let (prod, cons) = (start(&prod_ip), start(&cons_ip));
        ServerPair {
            prod,
            cons,
            user: User::new(&auth),
            _auth: auth,
        }
    }

    /// `scistream ARGS` by the user, with `--json` among them: what it printed.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.user.cmd(args).timeout(TEST_LIMIT).assert().success();
        serde_json::from_slice(&out.get_output().stdout).expect("one JSON object")
    }

    /// `req stream --json` from a producer on 127.0.0.1:`port` to a new CONS listener.
    fn stream(&self, port: u16) -> serde_json::Value {
        let args = stream_args(&self.prod.addr, &self.cons.addr, &port.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.json(&[&["req", "stream"], &args[..]].concat())
    }

    /// `req prod --json` of one listener for a producer on 127.0.0.1:`port`.
    fn prod_session(&self, port: u16) -> serde_json::Value {
        let port = port.to_string();
        let flags = [&prod_flags("1", &port)[..], &["--json"]].concat();
        self.json(&req_words(&self.prod.addr, "prod", &flags))
    }

    fn status(&self, server: &ServerProcess, uid: &str) -> serde_json::Value {
        self.json(&req_words(&server.addr, "status", &["--json", uid]))
    }
}

fn first_listener(opened: &serde_json::Value) -> String {
    opened["listeners"][0].as_str().unwrap().to_owned()
}

/// The consumer sends 64 MiB and closes its side; the producer reads it all, then answers with
/// 64 MiB of its own over the half-closed connection. Both arrive intact, and the gateways count
/// payload bytes, not TLS records.
#[test]
fn an_encrypted_chain_carries_64_mib_each_way_across_a_half_close() {
    let rt = Runtime::new().unwrap();
    let gateways = ServerPair::start();
    let (upload, download) = (random_payload(64 * MIB, 1), random_payload(64 * MIB, 2));
    let answer = download.clone();
    let (producer, uploaded) = rt.block_on(accept_one(|mut stream: TcpStream| async move {
        let mut received = Vec::with_capacity(64 * MIB);
        stream.read_to_end(&mut received).await.unwrap();
        stream.write_all(&answer).await.unwrap();
        stream.shutdown().await.unwrap();
        sha256(&received)
    }));
    let opened = gateways.stream(producer.port());
    assert_eq!(opened["hop"], "encrypted");
    let uid = opened["uid"].as_str().unwrap().to_owned();

    let downloaded = rt.block_on(async {
        let mut consumer = TcpStream::connect(first_listener(&opened)).await.unwrap();
        consumer.write_all(&upload).await.unwrap();
        consumer.shutdown().await.unwrap();
        let mut received = Vec::with_capacity(64 * MIB);
        consumer.read_to_end(&mut received).await.unwrap();
        received
    });
    assert_eq!(rt.block_on(uploaded).unwrap(), sha256(&upload));
    assert_eq!(downloaded.len(), download.len());
    assert!(
        sha256(&downloaded) == sha256(&download),
        "download corrupted"
    );
    for server in [&gateways.prod, &gateways.cons] {
        let expected = (64 * MIB) as u64;
        rt.block_on(wait_until(
            "the connection is closed on the gateways",
            || gateways.status(server, &uid)["stats"]["connections_active"] == 0,
        ));
        let stats = &gateways.status(server, &uid)["stats"];
        assert_eq!(stats["bytes_to_target"], expected, "{stats}");
        assert_eq!(stats["bytes_from_target"], expected, "{stats}");
    }
}

/// Trusts whatever certificate a server shows: a stranger who does not care whom it reaches.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client that trusts any certificate: a stranger who does not care whom it reaches.
fn stranger() -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCertificate))
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[test]
fn strangers_get_nothing_from_a_prod_listener_and_are_counted() {
    let rt = Runtime::new().unwrap();
    let gateways = ServerPair::start();
    let dialled = Arc::new(AtomicUsize::new(0));
    let counted = dialled.clone();
    let (producer, _producer) = rt.block_on(serve(move |mut stream: TcpStream| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move {
            let _ = stream.write_all(b"the producer's data").await;
        }
    }));
    let listener = first_listener(&gateways.prod_session(producer.port()));

    let (plain, tls, plain_peer) = rt.block_on(async {
        let mut plain = TcpStream::connect(&listener).await.unwrap();
        let plain_peer = plain.local_addr().unwrap();
        plain.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let plain = read_until_closed(&mut plain).await;

        let connector = stranger();
        let tcp = TcpStream::connect(&listener).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("a TLS handshake");
        tls.write_all(&[0u8; 32]).await.unwrap();
        tls.flush().await.unwrap();
        (plain, read_until_closed(&mut tls).await, plain_peer)
    });
    // At most a TLS alert record (content type 21) saying why: nothing of the producer's.
    assert!(
        plain.is_empty() || plain[0] == 21,
        "plain client got {plain:?}"
    );
    assert!(!plain.windows(8).any(|w| w == b"producer"), "{plain:?}");
    assert_eq!(tls, b"", "a TLS client without the secret received data");

    let metrics_addr = gateways.prod.metrics.clone().unwrap();
    rt.block_on(wait_until("both refusals are counted", || {
        let text = metrics::scrape(&metrics_addr);
        metrics::value(&text, "scistream_hop_rejected_total") == 2.0
    }));
    assert_eq!(
        dialled.load(Ordering::Relaxed),
        0,
        "the producer was dialled"
    );
    // Logged in aggregate (relay_shares.rs): the first refusal at once, with its peer.
    let log = gateways.prod.log();
    let lines: Vec<&str> = (log.lines())
        .filter(|l| l.contains("event=\"hop_rejected\""))
        .collect();
    let first = lines.first().expect("a hop_rejected line");
    assert!(first.contains(&plain_peer.to_string()), "{first}");
    for line in lines {
        assert!(
            !line.contains("secret=") && !line.contains("[0, 0"),
            "{line}"
        );
    }
}

#[test]
fn a_flipped_byte_on_the_hop_cuts_the_stream_instead_of_corrupting_it() {
    let rt = Runtime::new().unwrap();
    let payload = random_payload(16 * MIB, 3);
    let sent = payload.clone();
    let (producer, _producer) = rt.block_on(accept_one(|mut stream: TcpStream| async move {
        let _ = stream.write_all(&sent).await;
        let _ = stream.shutdown().await;
    }));
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let opened = prod_gw.prod("1", &producer.port().to_string(), &["--json"]);
    let opened: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    let uid = opened["uid"].as_str().unwrap();
    let proxy = rt.block_on(flipping_proxy(first_listener(&opened), Flow::Down, 8 * MIB));
    let cons_args = ["--json", "--num-conn", "1", "--prod-s2cs", &prod_gw.s2cs()];
    let proxy = proxy.to_string();
    let cons = cons_gw.stdout_of("cons", &[&cons_args[..], &[uid, &proxy]].concat());
    let cons: serde_json::Value = serde_json::from_slice(&cons).unwrap();

    let (received, ended) = rt.block_on(async {
        let mut consumer = TcpStream::connect(first_listener(&cons)).await.unwrap();
        let mut received = Vec::new();
        let ended = consumer.read_to_end(&mut received).await;
        (received, ended)
    });
    let reset = ended.expect_err("the stream ended as if complete");
    assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(received.len() < 8 * MIB, "bytes past the flip arrived");
    assert!(
        payload.starts_with(&received),
        "corrupted bytes reached the consumer"
    );
}

/// A gateway that speaks only scistream-proto 1.2, as the Python SciStream does: it forwards
/// those calls to a real server and answers UNIMPLEMENTED to the hop calls.
struct Proto12(ControlClient<Channel>);

#[tonic::async_trait]
impl pb::control_server::Control for Proto12 {
    async fn req(&self, r: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        self.0.clone().req(r.into_inner()).await
    }
    async fn update(
        &self,
        r: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        self.0.clone().update(r.into_inner()).await
    }
    async fn release(&self, r: Request<pb::Release>) -> Result<Response<pb::Response>, Status> {
        self.0.clone().release(r.into_inner()).await
    }
    async fn hello(&self, r: Request<pb::Hello>) -> Result<Response<pb::AppResponse>, Status> {
        self.0.clone().hello(r.into_inner()).await
    }
    async fn list(&self, r: Request<pb::ListRequest>) -> Result<Response<pb::SessionList>, Status> {
        self.0.clone().list(r.into_inner()).await
    }
    async fn status(
        &self,
        r: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        self.0.clone().status(r.into_inner()).await
    }
    async fn hop(&self, _: Request<pb::HopRequest>) -> Result<Response<pb::HopCredential>, Status> {
        Err(Status::unimplemented("Method not found!"))
    }
    async fn update_hop(
        &self,
        _: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        Err(Status::unimplemented("Method not found!"))
    }
}

/// Serves a [`Proto12`] gateway in front of `server`; returns its address.
fn proto_12_in_front_of(server: &TestServer) -> String {
    let inner = format!("http://{}", server.addr);
    let addr = stand_in(|incoming| async move {
        let inner = ControlClient::connect(inner).await.unwrap();
        let service = pb::control_server::ControlServer::new(Proto12(inner));
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await
    });
    addr.to_string()
}

fn stream_args(prod: &str, cons: &str, port: &str) -> Vec<String> {
    stream_args_with(prod, cons, port, "1")
}

fn stream_args_with(prod: &str, cons: &str, port: &str, num_conn: &str) -> Vec<String> {
    let servers = ["--no-tls", "--prod-s2cs", prod, "--cons-s2cs", cons];
    let flags = [&servers[..], &prod_flags(num_conn, port), &["--json"]].concat();
    flags.into_iter().map(str::to_owned).collect()
}

/// `scistream req stream ARGS` run against servers whose config dir is `via`'s.
fn req_stream(via: &TestServer, args: &[String]) -> assert_cmd::Command {
    let mut cmd = via.cli();
    cmd.args(["req", "stream"]).args(args).timeout(TEST_LIMIT);
    cmd
}

fn sessions_on(server: &TestServer) -> Vec<pb::SessionInfo> {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = server.grpc().await;
        let list = client.list(pb::ListRequest::default()).await.unwrap();
        list.into_inner().sessions
    })
}

#[test]
fn a_proto_12_cons_gateway_gets_the_plain_hop_with_a_warning_when_allowed() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(|mut stream: TcpStream| async move {
        let _ = stream.write_all(b"in clear").await;
        let _ = stream.shutdown().await;
    }));
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let old_cons = proto_12_in_front_of(&cons_gw);
    let port = producer.port().to_string();
    let mut args = stream_args(&prod_gw.s2cs(), &old_cons, &port);
    // Without it, the encrypted PROD session would not be turned plaintext (tests/client).
    args.push("--allow-plaintext-fallback".into());
    let out = req_stream(&prod_gw, &args).assert().success();
    let err = stderr(out.get_output());
    assert!(
        err.contains(&format!(
            "warning: s2cs {old_cons} does not offer the encrypted hop"
        )),
        "{err}"
    );
    let opened: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(opened["hop"], "plaintext");
    let received = rt.block_on(async {
        let mut consumer = TcpStream::connect(first_listener(&opened)).await.unwrap();
        read_until_closed(&mut consumer).await
    });
    assert_eq!(received, b"in clear");
}

#[test]
fn require_encryption_refuses_a_proto_12_gateway_and_leaves_nothing_bound() {
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let old_cons = proto_12_in_front_of(&cons_gw);
    let mut args = stream_args(&prod_gw.s2cs(), &old_cons, "9");
    args.push("--require-encryption".into());
    let out = req_stream(&prod_gw, &args).assert().code(1);
    let err = stderr(out.get_output());
    assert!(
        err.contains(&format!("s2cs {old_cons} does not offer")),
        "{err}"
    );
    assert!(err.contains("--require-encryption"), "{err}");
    assert!(sessions_on(&prod_gw).is_empty(), "the PROD half stayed");
    assert!(sessions_on(&cons_gw).is_empty(), "the CONS half stayed");

    let old_prod = proto_12_in_front_of(&prod_gw);
    let prod_args = prod_flags("1", "9");
    let mut prod = prod_gw.cli();
    prod.args(["req", "prod", "--no-tls", "--s2cs", &old_prod])
        .args(prod_args)
        .timeout(TEST_LIMIT);
    let out = prod.arg("--require-encryption").assert().code(1);
    let err = stderr(out.get_output());
    assert!(
        err.contains(&format!("s2cs {old_prod} does not offer")),
        "{err}"
    );
    assert!(
        sessions_on(&prod_gw).is_empty(),
        "the refused session stayed"
    );
}

#[test]
fn req_stream_releases_the_prod_half_when_the_cons_half_fails() {
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options {
        max_conn: 1,
        ..Options::default()
    });
    let args = stream_args_with(&prod_gw.s2cs(), &cons_gw.s2cs(), "9,10", "2");
    req_stream(&prod_gw, &args).assert().code(2);
    assert!(sessions_on(&prod_gw).is_empty(), "the PROD half stayed");
    let ip = prod_gw.listener_ip;
    assert!(
        (20000..=20200).all(|port| !is_bound(&format!("{ip}:{port}"))),
        "a PROD listener is still bound"
    );
}

#[test]
fn req_stream_json_names_the_session_and_its_cons_listeners() {
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let (prod, cons) = (prod_gw.s2cs(), cons_gw.s2cs());
    let out = req_stream(&prod_gw, &stream_args(&prod, &cons, "9"))
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let uid = json["uid"].as_str().unwrap();
    let cons_session = &sessions_on(&cons_gw)[0];
    let prod_session = &sessions_on(&prod_gw)[0];
    assert_eq!(
        (uid, prod_session.uid.as_str()),
        (cons_session.uid.as_str(), uid)
    );
    assert_eq!(json["listeners"], serde_json::json!(cons_session.listeners));
    assert_eq!(
        json["prod_listeners"],
        serde_json::json!(prod_session.listeners)
    );
    assert_eq!(json["producer"], serde_json::json!(["127.0.0.1:9"]));
    assert_eq!(cons_session.targets, prod_session.listeners);
    assert_eq!(
        (json["prod_s2cs"].as_str(), json["cons_s2cs"].as_str()),
        (Some(&*prod), Some(&*cons))
    );
    assert_eq!(json["hop"], "encrypted");
}

/// A consumer reading an endless producer through an encrypted chain; returns the uid.
fn live_encrypted_stream(
    rt: &Runtime,
    prod_gw: &TestServer,
    cons_gw: &TestServer,
) -> (String, TcpStream) {
    let (producer, _producer) = rt.block_on(serve(|mut stream: TcpStream| async move {
        let chunk = vec![7u8; 64 * 1024];
        while stream.write_all(&chunk).await.is_ok() {}
    }));
    let port = producer.port().to_string();
    let args = stream_args(&prod_gw.s2cs(), &cons_gw.s2cs(), &port);
    let out = req_stream(prod_gw, &args).assert().success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let consumer = rt.block_on(async {
        let mut consumer = TcpStream::connect(first_listener(&json)).await.unwrap();
        let mut first = [0u8; 1024];
        consumer.read_exact(&mut first).await.unwrap();
        consumer
    });
    (json["uid"].as_str().unwrap().to_owned(), consumer)
}

#[test]
fn release_resets_a_live_encrypted_connection() {
    let rt = Runtime::new().unwrap();
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let (uid, mut consumer) = live_encrypted_stream(&rt, &prod_gw, &cons_gw);
    prod_gw.req("release", &[&uid]).assert().success();
    rt.block_on(assert_reset(&mut consumer));
}

#[test]
fn prod_gateway_shutdown_resets_a_live_encrypted_connection() {
    let rt = Runtime::new().unwrap();
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let (_, mut consumer) = live_encrypted_stream(&rt, &prod_gw, &cons_gw);
    drop(prod_gw);
    rt.block_on(assert_reset(&mut consumer));
}

/// What `hop` hands out is the SHA-256 of the certificate the PROD listener shows.
#[test]
fn the_published_fingerprint_is_the_listeners_certificate() {
    let rt = Runtime::new().unwrap();
    let prod_gw = TestServer::start(Options::default());
    let opened = prod_gw.prod("1", "9", &["--json"]);
    let opened: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    let uid = opened["uid"].as_str().unwrap().to_owned();
    let (published, shown) = rt.block_on(async {
        let mut client = prod_gw.grpc().await;
        let request = pb::HopRequest {
            uid,
            plaintext: false,
        };
        let published = client.hop(request).await.unwrap().into_inner();
        let connector = stranger();
        let tcp = TcpStream::connect(first_listener(&opened)).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let certificate = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        (published, Sha256::digest(certificate).to_vec())
    });
    assert_eq!(published.certificate_sha256, shown);
    assert_eq!(published.secret.len(), 32);
}

/// The secret reaches the owner's client and the CONS gateway only: not `req status`, not
/// `req list`, not the gateways' logs.
#[test]
fn the_hop_secret_shows_in_no_status_list_or_log() {
    let rt = Runtime::new().unwrap();
    let gateways = ServerPair::start();
    let (producer, _producer) = rt.block_on(serve(|_: TcpStream| async {}));
    let opened = gateways.stream(producer.port());
    let uid = opened["uid"].as_str().unwrap().to_owned();
    let secret = rt.block_on(async {
        let mut prod = ControlClient::connect(format!("http://{}", gateways.prod.addr))
            .await
            .unwrap();
        let request = pb::HopRequest {
            uid: uid.clone(),
            plaintext: false,
        };
        prod.hop(request).await.unwrap().into_inner().secret
    });
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let decimal = format!("{secret:?}");
    let base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &secret);
    for server in [&gateways.prod, &gateways.cons] {
        let status = gateways.status(server, &uid).to_string();
        let args = req_words(&server.addr, "list", &["--json"]);
        let out = gateways
            .user
            .cmd(&args)
            .timeout(TEST_LIMIT)
            .assert()
            .success();
        let list = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        for text in [status, list, server.log()] {
            for form in [&hex, &decimal[1..decimal.len() - 1], &base64] {
                assert!(!text.contains(form), "the secret shows in:\n{text}");
            }
        }
    }
}

#[test]
fn a_refused_hop_update_is_logged_as_update_hop() {
    let gateways = ServerPair::start();
    let prod = gateways.prod_session(9);
    let uid = prod["uid"].as_str().unwrap();
    // A CONS session relaying into its own control port: its update_hop is refused.
    let cons_flags = ["--prod-s2cs", &gateways.prod.addr, "--num-conn", "1"];
    let args = req_words(
        &gateways.cons.addr,
        "cons",
        &[&cons_flags[..], &[uid, &gateways.cons.addr]].concat(),
    );
    let cmd = gateways
        .user
        .cmd(&args)
        .timeout(TEST_LIMIT)
        .assert()
        .code(2);
    cmd.stderr(predicates::str::contains(
        "cannot relay into its own server",
    ));
    let log = gateways.cons.log();
    assert!(
        log.lines()
            .any(|l| l.contains("event=\"update_hop\"") && l.contains("update_hop failed")),
        "no update_hop refusal in:\n{log}"
    );
}
