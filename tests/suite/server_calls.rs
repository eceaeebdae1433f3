//! The control server's one path per call, over real gRPC: every call is counted once and
//! every failure logged once; a server with authentication off says so on every reply and
//! gives a session's hop only to the address that opened it; one client cannot fill the
//! early-hello table; the update log line tells the session's real hop.

use std::time::Duration;

use crate::common::metrics::{scrape, value};
use crate::common::net::wait_until;
use crate::common::oauth::OAuthServer;
use crate::common::server::{grpc_from, private_loopback, Options, TestServer};
use crate::common::server_process::{ServerProcess, ServerSetup};
use crate::common::user::User;
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use tonic::transport::Channel;
use tonic::Code;

const AUTH_METADATA_KEY: &str = "scistream-auth";
/// The early hellos one client may have waiting (the server's table holds 1024).
const EARLY_HELLO_SHARE: usize = 64;

/// A server process on `ip` with authentication off, JSON logs and `/metrics`.
fn open_server(auth: &OAuthServer, ip: &str) -> ServerProcess {
    let extra = ["--log-format=json", "--metrics=127.0.0.1:0"];
    ServerProcess::start(
        auth,
        ServerSetup {
            ip,
            credentials: None,
            extra_args: &extra,
        },
    )
}

/// The JSON log lines of `server` whose event is `name`.
fn events(server: &ServerProcess, name: &str) -> Vec<serde_json::Value> {
    server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["event"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_status_or_list_is_logged_once_and_counted_once() {
    let auth = OAuthServer::start();
    let server = open_server(&auth, "127.0.0.1");
    let mut client = grpc_from(&server.addr, None).await;
    let status = client
        .status(pb::StatusRequest {
            uid: "no-such-session".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let page_token = "not-a-cursor".to_string();
    let list = client.list(pb::ListRequest { page_token }).await;
    assert_eq!(list.unwrap_err().code(), Code::InvalidArgument);

    let metrics = scrape(server.metrics.as_deref().unwrap());
    for (series, count) in [
        ("{rpc=\"status\",code=\"NotFound\"}", 1.0),
        ("{rpc=\"list\",code=\"InvalidArgument\"}", 1.0),
    ] {
        let series = format!("scistream_requests_total{series}");
        assert_eq!(value(&metrics, &series), count, "{series}");
    }
    wait_until("both failures are logged", || {
        !events(&server, "status").is_empty() && !events(&server, "list").is_empty()
    })
    .await;
    let status = events(&server, "status");
    assert_eq!(status.len(), 1, "{status:#?}");
    assert_eq!(status[0]["level"], "WARN");
    assert!(status[0]["uid"]
        .as_str()
        .unwrap()
        .contains("no-such-session"));
    assert!(status[0]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let list = events(&server, "list");
    assert_eq!(list.len(), 1, "{list:#?}");
    assert!(list[0]["error"].as_str().unwrap().contains("page_token"));
}

/// req + hello from `client`, concurrently: a PROD session awaiting its update.
async fn open_session(client: &ControlClient<Channel>, uid: &str) {
    let (mut a, mut b) = (client.clone(), client.clone());
    let req = pb::Request {
        uid: uid.into(),
        role: "PROD".into(),
        num_conn: 1,
        rate: 0,
        ..Default::default()
    };
    let hello = pb::Hello {
        uid: uid.into(),
        prod_listeners: vec!["127.0.0.1:7000".into()],
        role: "PROD".into(),
    };
    let (req, hello) = tokio::join!(a.req(req), b.hello(hello));
    req.unwrap();
    hello.unwrap();
}

fn hop(uid: &str, plaintext: bool) -> pb::HopRequest {
    pb::HopRequest {
        uid: uid.into(),
        plaintext,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_auth_off_only_the_address_that_opened_a_session_gets_its_hop() {
    let server = TestServer::start(Options::default());
    let opener = grpc_from(&server.s2cs(), Some("127.0.0.1".parse().unwrap())).await;
    let mut stranger = grpc_from(&server.s2cs(), Some(private_loopback())).await;
    open_session(&opener, "s1").await;

    for plaintext in [false, true] {
        let refused = stranger.hop(hop("s1", plaintext)).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(
            refused.message().contains("opened from another address"),
            "{refused:?}"
        );
    }
    let credential = opener.clone().hop(hop("s1", false)).await.unwrap();
    assert_eq!(credential.into_inner().secret.len(), 32);
    // Everything else stays open to everyone, as before.
    let view = stranger.status(pb::StatusRequest { uid: "s1".into() });
    assert_eq!(view.await.unwrap().into_inner().uid, "s1");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_auth_off_every_reply_says_so() {
    let server = TestServer::start(Options::default());
    let mut client = server.grpc().await;
    let listed = client.list(pb::ListRequest::default()).await.unwrap();
    assert_eq!(listed.metadata().get(AUTH_METADATA_KEY).unwrap(), "off");
    let uid = "no-such-session".to_string();
    let refused = client.status(pb::StatusRequest { uid }).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(refused.metadata().get(AUTH_METADATA_KEY).unwrap(), "off");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_checks_tokens_does_not_say_it_is_open() {
    const SCOPE: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
    let auth = OAuthServer::start();
    auth.accept_client(SCOPE, "secret");
    let server = ServerProcess::start(
        &auth,
        ServerSetup {
            ip: "127.0.0.1",
            credentials: Some((SCOPE, "secret")),
            extra_args: &[],
        },
    );
    let mut client = grpc_from(&server.addr, None).await;
    let refused = client.list(pb::ListRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.metadata().get(AUTH_METADATA_KEY).is_none());
    let token = auth.mint(SCOPE, Duration::from_secs(600)).access_token;
    let mut request = tonic::Request::new(pb::ListRequest::default());
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    let listed = client.list(request).await.unwrap();
    assert!(listed.metadata().get(AUTH_METADATA_KEY).is_none());
}

#[test]
fn with_auth_off_the_start_up_warning_says_hops_and_streams_are_exposed() {
    let auth = OAuthServer::start();
    let server = open_server(&auth, "127.0.0.1");
    let log = server.log();
    let warning = log
        .lines()
        .find(|line| line.contains("authentication is OFF"))
        .unwrap_or_else(|| panic!("no warning in {log}"));
    assert!(warning.contains("streams are exposed"), "{warning}");
    assert!(warning.contains("hop credential"), "{warning}");
}

/// The number of hellos waiting for their req on the server whose `/metrics` is `metrics`.
fn early_hellos(metrics: &str) -> f64 {
    value(&scrape(metrics), "scistream_early_hellos")
}

fn hello(uid: &str) -> pb::Hello {
    pb::Hello {
        uid: uid.into(),
        prod_listeners: vec!["127.0.0.1:7000".into()],
        role: "PROD".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_cannot_fill_the_early_hello_table_for_everyone() {
    let server = TestServer::start(Options {
        metrics: true,
        ..Options::default()
    });
    let metrics = server.metrics.unwrap().to_string();
    let flooder = grpc_from(&server.s2cs(), Some("127.0.0.1".parse().unwrap())).await;
    let waiting: Vec<_> = (0..EARLY_HELLO_SHARE)
        .map(|i| {
            let mut flooder = flooder.clone();
            tokio::spawn(async move { flooder.hello(hello(&format!("junk{i}"))).await })
        })
        .collect();
    wait_until("the flood's hellos wait", || {
        early_hellos(&metrics) == EARLY_HELLO_SHARE as f64
    })
    .await;
    let refused = flooder.clone().hello(hello("junk-more")).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("hellos of yours"), "{refused:?}");

    // Another client's hello still waits for its req, and its session opens.
    let user = grpc_from(&server.s2cs(), Some(private_loopback())).await;
    let early = tokio::spawn({
        let mut user = user.clone();
        async move { user.hello(hello("real")).await }
    });
    wait_until("the user's hello waits", || {
        early_hellos(&metrics) == (EARLY_HELLO_SHARE + 1) as f64
    })
    .await;
    let req = pb::Request {
        uid: "real".into(),
        role: "PROD".into(),
        num_conn: 1,
        rate: 0,
        ..Default::default()
    };
    let opened = user.clone().req(req).await.unwrap().into_inner();
    assert_eq!(opened.prod_listeners, ["127.0.0.1:7000"]);
    assert_eq!(
        early.await.unwrap().unwrap().into_inner().listeners,
        opened.listeners
    );
    for call in waiting {
        call.abort();
    }
}

/// `req prod` through the binary against `server`, with `extra` flags; returns the uid.
fn req_prod(user: &User, server: &ServerProcess, extra: &[&str]) -> String {
    let args = [
        &[
            "req",
            "prod",
            "--no-tls",
            "--s2cs",
            &server.addr,
            "--num-conn",
            "1",
        ][..],
        &["--remote-ip", "127.0.0.1", "--receiver-ports", "7000"],
        extra,
    ]
    .concat();
    let out = user.cmd(&args).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line = stdout.lines().nth(1).expect("the uid line");
    line.split(' ').next().unwrap().to_owned()
}

#[test]
fn the_update_log_line_tells_the_sessions_real_hop() {
    let auth = OAuthServer::start();
    let server = open_server(&auth, "127.0.0.1");
    let user = User::new(&auth);
    let encrypted = req_prod(&user, &server, &[]);
    let plaintext = req_prod(&user, &server, &["--plaintext-hop"]);
    let updates = events(&server, "update");
    let hop_of = |uid: &str| {
        let line = updates.iter().find(|e| e["uid"] == uid);
        line.unwrap_or_else(|| panic!("no update of {uid} in {updates:#?}"))["encrypted_hop"]
            .clone()
    };
    assert_eq!(hop_of(&encrypted), true);
    assert_eq!(hop_of(&plaintext), false);
}
