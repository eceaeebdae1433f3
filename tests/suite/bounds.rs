//! Bounds on what a client may send: uid, list and host sizes, the early-hello table, the
//! session state an update needs, the size of `list`, and what reaches the log.

use std::time::Duration;

use crate::common::metrics::{scrape, value};
use crate::common::net::wait_until;
use crate::common::oauth::OAuthServer;
use crate::common::server::{grpc_from, private_loopback, Options, TestServer};
use crate::common::server_process::{ServerProcess, ServerSetup};
use scistream::pb;
use tonic::Code;

fn request(uid: &str, num_conn: i32) -> pb::Request {
    pb::Request {
        uid: uid.into(),
        role: "PROD".into(),
        num_conn,
        rate: 0,
        ..Default::default()
    }
}

fn hello(uid: &str, prod_listeners: Vec<String>) -> pb::Hello {
    pb::Hello {
        uid: uid.into(),
        prod_listeners,
        role: "PROD".into(),
    }
}

fn update(uid: &str, targets: Vec<String>) -> pb::UpdateTargets {
    pb::UpdateTargets {
        uid: uid.into(),
        remote_listeners: targets,
        role: "PROD".into(),
    }
}

/// The refusal of `result`: its code must be `code`, and its message short and naming `words`.
fn refusal<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    words: &str,
) -> String {
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    let message = status.message().to_owned();
    assert!(message.contains(words), "{message:?} lacks {words:?}");
    assert!(message.len() < 400, "{} bytes of message", message.len());
    message
}

// Multi-threaded: the server fixture's drop blocks this thread while the clients close.
#[tokio::test(flavor = "multi_thread")]
async fn uids_are_short_printable_ascii_and_quoted_briefly() {
    let server = TestServer::start(Options::default());
    let mut c = server.grpc().await;
    let huge = "u".repeat(100_000);
    let message = refusal(
        c.req(request(&huge, 1)).await,
        Code::InvalidArgument,
        "at most 128",
    );
    assert!(message.contains(&"u".repeat(64)), "{message}");
    assert!(!message.contains(&"u".repeat(65)), "{message}");
    let too_big = c.req(request(&"u".repeat(2 << 20), 1)).await.unwrap_err();
    assert_eq!(too_big.code(), Code::OutOfRange, "{too_big:?}");
    refusal(
        c.req(request(&"u".repeat(129), 1)).await,
        Code::InvalidArgument,
        "uid",
    );
    let message = refusal(
        c.hello(hello("a\nb\u{1b}[31m", vec!["127.0.0.1:1".into()]))
            .await,
        Code::InvalidArgument,
        "printable ASCII",
    );
    assert!(message.contains(r"a\nb\u{1b}[31m"), "{message}");
    for rpc in ["update", "release", "status"] {
        let uid = "x".repeat(200);
        let result = match rpc {
            "update" => c
                .update(update(&uid, vec!["127.0.0.1:1".into()]))
                .await
                .map(drop),
            "release" => c.release(pb::Release { uid }).await.map(drop),
            _ => c.status(pb::StatusRequest { uid }).await.map(drop),
        };
        refusal(result, Code::InvalidArgument, "at most 128");
    }
    // A uid at the bound is fine.
    let mut h = c.clone();
    let uid = "v".repeat(128);
    let (r, _) = tokio::join!(
        c.req(request(&uid, 1)),
        h.hello(hello(&uid, vec!["127.0.0.1:1".into()]))
    );
    r.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_hold_at_most_max_conn_entries_of_bounded_hosts() {
    let server = TestServer::start(Options {
        max_conn: 4,
        ..Options::default()
    });
    let mut c = server.grpc().await;
    let five = vec!["127.0.0.1:1".to_string(); 5];
    refusal(
        c.hello(hello("h", five.clone())).await,
        Code::InvalidArgument,
        "prod_listeners has 5 entries: at most 4",
    );
    let many = vec!["127.0.0.1:1".to_string(); 50_000];
    refusal(
        c.update(update("u", many)).await,
        Code::InvalidArgument,
        "remote_listeners has 50000 entries: at most 4",
    );
    let long_host = format!("{}:80", "h".repeat(254));
    let message = refusal(
        c.hello(hello("h", vec![long_host])).await,
        Code::InvalidArgument,
        "longer than 253 bytes",
    );
    assert!(!message.contains(&"h".repeat(65)), "{message}");
    refusal(
        c.hello(hello("h", vec!["ho\nst:80".into()])).await,
        Code::InvalidArgument,
        "printable ASCII",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_before_the_hello_is_a_failed_precondition() {
    let server = TestServer::start(Options::default());
    let mut c = server.grpc().await;
    let mut waiting = c.clone();
    let req = tokio::spawn(async move { waiting.req(request("early-update", 1)).await });
    while c
        .status(pb::StatusRequest {
            uid: "early-update".into(),
        })
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    refusal(
        c.update(update("early-update", vec!["127.0.0.1:1".into()]))
            .await,
        Code::FailedPrecondition,
        "awaits its hello",
    );
    c.hello(hello("early-update", vec!["127.0.0.1:1".into()]))
        .await
        .unwrap();
    req.await.unwrap().unwrap();
    c.update(update("early-update", vec!["127.0.0.1:1".into()]))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_early_hellos_leave_the_table() {
    let server = TestServer::start(Options {
        metrics: true,
        ..Options::default()
    });
    let metrics = server.metrics.unwrap().to_string();
    let early = || value(&scrape(&metrics), "scistream_early_hellos");
    // Spread over connections (the server serves at most 128 calls at once on one) from
    // addresses of their own (one address may have at most 64 hellos waiting).
    let mut connections = Vec::new();
    for _ in 0..6 {
        connections.push(grpc_from(&server.s2cs(), Some(private_loopback())).await);
    }
    let waiting: Vec<_> = (0..300)
        .map(|i| {
            let mut c = connections[i % connections.len()].clone();
            let uid = format!("{i}-{}", "w".repeat(120));
            tokio::spawn(async move { c.hello(hello(&uid, vec!["127.0.0.1:1".into()])).await })
        })
        .collect();
    wait_until("every hello waits for its req", || early() == 300.0).await;
    for call in &waiting {
        call.abort();
    }
    wait_until("the cancelled hellos are gone", || early() == 0.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_pages_stay_under_the_message_limit() {
    let max_conn = 3000;
    let server = TestServer::start(Options {
        max_conn,
        ..Options::default()
    });
    let mut c = server.grpc().await;
    // Eight sessions whose prod_listeners hold ~0.8 MB each: more than one gRPC message allows.
    let host = "h".repeat(250);
    let listeners: Vec<String> = (0..max_conn).map(|i| format!("{host}:{}", i + 1)).collect();
    for i in 0..8 {
        let uid = format!("big-{i}");
        let mut h = c.clone();
        let (r, h) = tokio::join!(
            c.req(request(&uid, 1)),
            h.hello(hello(&uid, listeners.clone()))
        );
        h.unwrap();
        r.unwrap();
    }
    let token = None;
    let client = scistream::client::Client::connect(&server.s2cs().parse().unwrap(), None, token)
        .await
        .unwrap();
    let listed = client.list().await.unwrap();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|s| s.prod_listeners == listeners));
    let text = server.stdout_of("list", &[]);
    assert!(String::from_utf8_lossy(&text).contains("big-7"));
}

#[test]
fn client_given_fields_are_escaped_in_the_text_log() {
    let auth = OAuthServer::start();
    let server = ServerProcess::start(
        &auth,
        ServerSetup {
            ip: "127.0.0.1",
            credentials: None,
            extra_args: &["--hello-timeout", "1"],
        },
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let forged = "x\n2026-01-01T00:00:00Z  INFO forged: \u{1b}[31mrelaying";
    runtime.block_on(async {
        let mut c = pb::control_client::ControlClient::connect(format!("http://{}", server.addr))
            .await
            .unwrap();
        for role in ["PROD", forged] {
            let r = pb::Request {
                role: role.into(),
                ..request(forged, 1)
            };
            assert!(c.req(r).await.is_err());
        }
        let _ = c.hello(hello("h", vec![forged.into()])).await;
        let _ = c.update(update(forged, vec![forged.into()])).await;
    });
    let log = server.log();
    assert!(log.contains(r"x\n2026"), "the refusals are logged:\n{log}");
    assert!(!log.contains('\u{1b}'), "raw escape in the log:\n{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("2026-01-01")),
        "a client forged a log line:\n{log}"
    );
}
