//! The Control service's answers to bad input, races and concurrency, over real gRPC.

use std::time::Duration;

use crate::common::server::{is_bound, Options, TestServer};
use scistream::pb;
use tonic::Code;

fn request(uid: &str, role: &str, num_conn: i32) -> pb::Request {
    pb::Request {
        uid: uid.into(),
        role: role.into(),
        num_conn,
        rate: 10000,
        ..Default::default()
    }
}

fn hello(uid: &str, prod_listeners: &[&str]) -> pb::Hello {
    pb::Hello {
        uid: uid.into(),
        prod_listeners: prod_listeners.iter().map(|s| s.to_string()).collect(),
        role: "PROD".into(),
    }
}

fn update(uid: &str, targets: &[&str]) -> pb::UpdateTargets {
    pb::UpdateTargets {
        uid: uid.into(),
        remote_listeners: targets.iter().map(|s| s.to_string()).collect(),
        role: "PROD".into(),
    }
}

fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, words: &str) {
    let status = result.expect_err("call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(words),
        "{:?} lacks {words:?}",
        status.message()
    );
}

/// req + hello concurrently, then update: a complete session.
async fn open_session(server: &TestServer, uid: &str) -> Vec<String> {
    let mut a = server.grpc().await;
    let mut b = a.clone();
    let (r, h) = tokio::join!(
        a.req(request(uid, "PROD", 2)),
        b.hello(hello(uid, &["127.0.0.1:7001"]))
    );
    let listeners = r.unwrap().into_inner().listeners;
    assert_eq!(
        h.unwrap().into_inner().listeners,
        listeners,
        "hello replies with the session's listeners"
    );
    a.update(update(uid, &["127.0.0.1:7001"])).await.unwrap();
    listeners
}

// Multi-threaded: the server fixture's drop blocks this thread while the clients close.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_precise_statuses_and_the_server_keeps_serving() {
    let server = TestServer::start(Options {
        max_conn: 4,
        hello_timeout: Duration::from_secs(2),
        ..Options::default()
    });
    let mut c = server.grpc().await;
    assert_status(
        c.req(request("", "PROD", 1)).await,
        Code::InvalidArgument,
        "uid is empty",
    );
    assert_status(
        c.req(request("u", "MIDDLE", 1)).await,
        Code::InvalidArgument,
        "role \"MIDDLE\" is unknown",
    );
    assert_status(
        c.req(request("u", "PROD", 0)).await,
        Code::InvalidArgument,
        "num_conn 0 is out of range",
    );
    assert_status(
        c.req(request("u", "PROD", 5)).await,
        Code::InvalidArgument,
        "use 1 to 4",
    );
    assert_status(
        c.req(pb::Request {
            rate: -1,
            ..request("u", "PROD", 1)
        })
        .await,
        Code::InvalidArgument,
        "rate -1",
    );
    assert_status(
        c.update(update("nope", &["127.0.0.1:1"])).await,
        Code::NotFound,
        "no session with uid \"nope\"",
    );
    assert_status(
        c.release(pb::Release { uid: "nope".into() }).await,
        Code::NotFound,
        "nope",
    );
    assert_status(
        c.hello(hello("u", &[])).await,
        Code::InvalidArgument,
        "prod_listeners is empty",
    );
    assert_status(
        c.hello(hello("u", &["bad"])).await,
        Code::InvalidArgument,
        "prod_listeners: \"bad\" is not host:port",
    );
    assert_status(
        c.hello(hello("never-requested", &["127.0.0.1:1"])).await,
        Code::NotFound,
        "no req for it followed",
    );

    open_session(&server, "s1").await;
    assert_status(
        c.update(update("s1", &[])).await,
        Code::InvalidArgument,
        "remote_listeners is empty",
    );
    assert_status(
        c.update(update("s1", &["127.0.0.1:0"])).await,
        Code::InvalidArgument,
        "remote_listeners",
    );
    assert_status(
        c.req(request("s1", "PROD", 1)).await,
        Code::AlreadyExists,
        "already exists",
    );
    assert_status(
        c.hello(hello("s1", &["127.0.0.1:1"])).await,
        Code::FailedPrecondition,
        "already received",
    );
    let retargeted = c
        .update(update("s1", &["127.0.0.1:7002", "127.0.0.1:7003"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        retargeted.prod_listeners,
        ["127.0.0.1:7002", "127.0.0.1:7003"]
    );
    c.release(pb::Release { uid: "s1".into() }).await.unwrap();
    open_session(&server, "s2").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hello_may_arrive_before_its_req() {
    let server = TestServer::start(Options::default());
    let mut a = server.grpc().await;
    let mut b = a.clone();
    let early = tokio::spawn(async move { b.hello(hello("race", &["127.0.0.1:7001"])).await });
    // Let the hello reach the server first; correctness does not depend on this delay.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reply = a
        .req(request("race", "CONS", 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.prod_listeners, ["127.0.0.1:7001"]);
    assert_eq!(
        early.await.unwrap().unwrap().into_inner().listeners,
        reply.listeners
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cons_session_accepts_the_python_clients_prod_role_hello() {
    let server = TestServer::start(Options::default());
    let mut a = server.grpc().await;
    let mut b = a.clone();
    let (r, h) = tokio::join!(
        a.req(request("c", "CONS", 1)),
        b.hello(hello("c", &["127.0.0.1:7001"]))
    );
    let reply = r.unwrap().into_inner();
    assert_eq!(reply.prod_listeners, ["127.0.0.1:7001"]);
    // The hello's answer names the session's own listeners, as for a CONS-role hello.
    assert_eq!(h.unwrap().into_inner().listeners, reply.listeners);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_req_frees_its_ports() {
    let server = TestServer::start(Options {
        port_range: 24000..=24001,
        ..Options::default()
    });
    let mut a = server.grpc().await;
    let pending = tokio::spawn(async move { a.req(request("gone", "PROD", 2)).await });
    // Wait until the session holds the whole range, then drop the caller.
    let ports = [24000, 24001].map(|p| format!("{}:{p}", server.listener_ip));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ports.iter().all(|p| is_bound(p)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never took the range"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pending.abort();
    // The server notices the cancelled call, drops the session and closes its listeners.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ports.iter().any(|p| is_bound(p)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ports not freed after cancel"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open_session(&server, "after").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sessions_never_see_each_others_replies() {
    let server = TestServer::start(Options::default());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let server_addr = server.addr;
            tokio::spawn(async move {
                let mut a =
                    pb::control_client::ControlClient::connect(format!("http://{server_addr}"))
                        .await
                        .unwrap();
                let mut b = a.clone();
                let uid = format!("s{i}");
                let target = format!("127.0.0.1:{}", 7000 + i);
                let (r, h) = tokio::join!(
                    a.req(request(&uid, "PROD", 1)),
                    b.hello(hello(&uid, &[&target]))
                );
                h.unwrap();
                let reply = r.unwrap().into_inner();
                assert_eq!(reply.prod_listeners, [target]);
                reply.listeners
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20);
}
