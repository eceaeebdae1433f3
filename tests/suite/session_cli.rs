//! Sessions driven through the `scistream` binary against in-process servers.

use crate::common::req::{listeners_of, prod_flags, producer_on, uid_of};
use crate::common::server::{is_bound, stand_in, Options, TestServer};
use predicates::str::contains;
use std::time::Duration;

fn prod(server: &TestServer, num_conn: &str) -> Vec<String> {
    listeners_of(&server.prod(num_conn, "7001,7002", &[]))
}

#[test]
fn prod_session_binds_listeners_and_release_frees_them_for_reuse() {
    let server = TestServer::start(Options {
        tls: true,
        port_range: 21000..=21002,
        ..Options::default()
    });
    let out = server.prod("3", "7001,7002", &[]);
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "uid; s2cs; access_token; role");
    assert!(
        lines[1].ends_with(&format!("{} INVALID_TOKEN PROD", server.s2cs())),
        "{}",
        lines[1]
    );
    assert_eq!(
        &lines[2..4],
        ["waiting for hello message", "started client request"]
    );
    let listeners = listeners_of(&out);
    assert_eq!(listeners.len(), 3);
    for l in &listeners {
        assert!(l.starts_with(&server.listener_ip.to_string()), "{l}");
        assert!(is_bound(l), "{l} is not bound");
    }

    // The range holds exactly three ports: a second session fails until the first is released.
    server
        .req("prod", &prod_flags("1", "7001"))
        .assert()
        .failure()
        .stderr(contains("port range 21000-21002 exhausted"));
    server
        .req("release", &[&uid_of(&out)])
        .assert()
        .success()
        .stdout("Release completed\n");
    assert!(
        listeners.iter().all(|l| !is_bound(l)),
        "release left listeners bound"
    );
    let mut again = prod(&server, "3");
    again.sort();
    let mut first = listeners.clone();
    first.sort();
    assert_eq!(again, first, "released ports are reused");
}

#[test]
fn cons_session_on_a_second_server_targets_the_prod_listeners() {
    let prod_gw = TestServer::start(Options::default());
    let cons_gw = TestServer::start(Options::default());
    let prod_listeners = prod(&prod_gw, "2");
    let joined = prod_listeners.join(",");
    let cons = [
        "--num-conn",
        "2",
        "--json",
        "--plaintext-hop",
        "session-1",
        &joined,
    ];
    let out = cons_gw.stdout_of("cons", &cons);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
    assert_eq!(json["uid"], "session-1");
    assert_eq!(json["role"], "CONS");
    assert_eq!(json["s2cs"], cons_gw.s2cs());
    assert_eq!(json["targets"], serde_json::json!(prod_listeners));
    let listeners = json["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2);
    assert!(listeners.iter().all(|l| is_bound(l.as_str().unwrap())));
    cons_gw.req("release", &["session-1"]).assert().success();
}

#[test]
fn text_cons_output_has_the_header_and_listeners() {
    let server = TestServer::start(Options::default());
    let cons = ["--num-conn", "1", "--plaintext-hop", "u-1", "127.0.0.1:9"];
    let out = server.stdout_of("cons", &cons);
    let text = String::from_utf8_lossy(&out);
    assert!(text.lines().nth(1).unwrap().starts_with("u-1 "), "{text}");
    assert!(text.lines().nth(1).unwrap().ends_with(" CONS"), "{text}");
    assert_eq!(listeners_of(&out).len(), 1);
}

#[test]
fn wrong_certificate_is_refused_with_a_clear_message() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let other = tempfile::tempdir().unwrap();
    let (_, other_cert) = scistream::tls::generated_identity(
        other.path(),
        &["localhost".to_string(), "127.0.0.1".to_string()],
    )
    .unwrap();
    server
        .req(
            "prod",
            &[
                &["--server-cert", other_cert.to_str().unwrap()][..],
                &producer_on("1"),
            ]
            .concat(),
        )
        .assert()
        .code(4)
        .stderr(contains("could not connect to s2cs"))
        .stderr(contains("--server-cert"));
}

#[test]
fn plaintext_client_against_tls_server_fails_cleanly() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    server
        .cli()
        .args(["req", "release", "--no-tls", "--s2cs", &server.s2cs(), "x"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(4)
        .stderr(contains(format!(
            "the connection to s2cs {} failed",
            server.s2cs()
        )))
        .stderr(contains("use --no-tls exactly when"));
}

#[test]
fn unreachable_server_exits_4() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = TestServer::start(Options::default());
    server
        .cli()
        .args([
            "req",
            "release",
            "--no-tls",
            "--s2cs",
            &free.to_string(),
            "x",
        ])
        .assert()
        .code(4)
        .stderr(contains("is `scistream server` running there"));
}

/// `req list`, `req prod` (with its hello) and a TLS `req list` against a server that accepts
/// TCP connections and never answers: each gives up at its --timeout with exit code 4.
#[test]
fn a_server_that_never_answers_fails_at_the_timeout_with_exit_4() {
    // Never accepted, never read: the kernel completes the TCP handshakes into its backlog.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let server = TestServer::start(Options::default());
    let prod = [&["prod"][..], &producer_on("7001")].concat();
    for (args, tls) in [
        (&["list"][..], false),
        (&prod[..], false),
        (&["list"], true),
    ] {
        let mut cmd = server.cli();
        cmd.args(["req", args[0], "--s2cs", &addr, "--timeout", "1"])
            .args(&args[1..]);
        if !tls {
            cmd.arg("--no-tls");
        }
        cmd.timeout(Duration::from_secs(20))
            .assert()
            .code(4)
            .stderr(contains(format!("no answer from {addr} within 1 s")))
            .stderr(contains("--timeout"));
    }
    drop(silent);
}

#[test]
fn release_of_an_unknown_uid_exits_5() {
    let server = TestServer::start(Options::default());
    server
        .req("release", &["no-such-uid"])
        .assert()
        .code(5)
        .stderr(contains("no session with uid"));
}

#[test]
fn hello_timeout_fails_the_request_and_frees_its_ports() {
    let server = TestServer::start(Options {
        hello_timeout: Duration::from_millis(300),
        port_range: 21010..=21011,
        ..Options::default()
    });
    // No --receiver-ports: the client waits for an app controller's hello that never comes.
    server
        .req("prod", &["--num-conn", "2"])
        .assert()
        .code(1)
        .stderr(contains("Hello not received within the timeout period"))
        .stderr(contains("start the producer's app controller"));
    assert_eq!(
        prod(&server, "2").len(),
        2,
        "the timed-out session's ports were freed"
    );
}

#[test]
fn fifty_concurrent_sessions_get_disjoint_listeners() {
    let server = TestServer::start(Options {
        port_range: 22000..=22200,
        ..Options::default()
    });
    let children: Vec<_> = (0..50)
        .map(|_| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scistream"));
            cmd.args([
                "--config",
                server.config().to_str().unwrap(),
                "req",
                "prod",
                "--no-tls",
            ])
            .args(["--s2cs", &server.s2cs()])
            .args(prod_flags("2", "7001"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut all = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        all.extend(listeners_of(&out.stdout));
    }
    assert_eq!(all.len(), 100);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100, "two sessions share a listener");
}

#[test]
fn a_request_the_server_finds_invalid_is_a_usage_error() {
    let server = TestServer::start(Options {
        max_conn: 4,
        ..Options::default()
    });
    server
        .req(
            "cons",
            &["--num-conn", "5", "--plaintext-hop", "u-1", "127.0.0.1:9"],
        )
        .assert()
        .code(2)
        .stderr(format!(
            "error: s2cs {} refused the request: num_conn 5 is out of range: use 1 to 4 \
             (server --max-conn)\n",
            server.s2cs()
        ));
}

#[test]
fn a_refused_update_releases_the_session_it_opened() {
    // Two ports: a session left behind would hold one, and the next req would find one free.
    let server = TestServer::start(Options {
        port_range: 21010..=21011,
        ..Options::default()
    });
    for uid in ["u-self-1", "u-self-2"] {
        server
            .req(
                "cons",
                &["--num-conn", "1", "--plaintext-hop", uid, &server.s2cs()],
            )
            .assert()
            .code(2)
            .stderr(contains("cannot relay into its own server"));
    }
    server
        .req("list", &["--json"])
        .assert()
        .success()
        .stdout("[]\n");
    assert_eq!(listeners_of(&server.prod("2", "7001", &[])).len(), 2);
}

/// A control server whose hello is refused at once as already received, and whose req is
/// refused a little later as a taken uid: the order of a second `req prod` for a uid in use.
struct TakenUid;

#[tonic::async_trait]
impl scistream::pb::control_server::Control for TakenUid {
    async fn req(
        &self,
        _: tonic::Request<scistream::pb::Request>,
    ) -> Result<tonic::Response<scistream::pb::Response>, tonic::Status> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Err(tonic::Status::already_exists("uid \"u-1\" is taken"))
    }
    async fn hello(
        &self,
        _: tonic::Request<scistream::pb::Hello>,
    ) -> Result<tonic::Response<scistream::pb::AppResponse>, tonic::Status> {
        Err(tonic::Status::failed_precondition("hello already received"))
    }
    async fn update(
        &self,
        _: tonic::Request<scistream::pb::UpdateTargets>,
    ) -> Result<tonic::Response<scistream::pb::Response>, tonic::Status> {
        Err(tonic::Status::unimplemented("update"))
    }
    async fn release(
        &self,
        _: tonic::Request<scistream::pb::Release>,
    ) -> Result<tonic::Response<scistream::pb::Response>, tonic::Status> {
        Err(tonic::Status::unimplemented("release"))
    }
    async fn list(
        &self,
        _: tonic::Request<scistream::pb::ListRequest>,
    ) -> Result<tonic::Response<scistream::pb::SessionList>, tonic::Status> {
        Err(tonic::Status::unimplemented("list"))
    }
    async fn status(
        &self,
        _: tonic::Request<scistream::pb::StatusRequest>,
    ) -> Result<tonic::Response<scistream::pb::SessionInfo>, tonic::Status> {
        Err(tonic::Status::unimplemented("status"))
    }
    async fn hop(
        &self,
        _: tonic::Request<scistream::pb::HopRequest>,
    ) -> Result<tonic::Response<scistream::pb::HopCredential>, tonic::Status> {
        Err(tonic::Status::unimplemented("hop"))
    }
    async fn update_hop(
        &self,
        _: tonic::Request<scistream::pb::HopUpdate>,
    ) -> Result<tonic::Response<scistream::pb::Response>, tonic::Status> {
        Err(tonic::Status::unimplemented("update_hop"))
    }
}

#[test]
fn a_req_for_a_taken_uid_says_so_even_when_its_hello_is_refused_first() {
    let addr = stand_in(|incoming| {
        tonic::transport::Server::builder()
            .add_service(scistream::pb::control_server::ControlServer::new(TakenUid))
            .serve_with_incoming(incoming)
    });
    let config = tempfile::tempdir().unwrap();
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"))
        .arg("--config")
        .arg(config.path().join("config.yaml"))
        .args(["req", "prod", "--no-tls", "--s2cs", &addr.to_string()])
        .args(["--uid", "u-1"])
        .args(producer_on("1"))
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(contains("uid \"u-1\" is taken"));
}
