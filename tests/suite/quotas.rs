//! Fair shares on a shared gateway: quotas per identity (per client address with authentication
//! off) on sessions, listeners, relayed connections and rates, refused at the limit and let in
//! again after a release, also when many reqs race for the last place; per-group and
//! per-identity overrides; session lifetimes, idle and update timeouts that release sessions
//! (connections reset, ports returned); and a scistream-proto 1.2 client that knows none of it.
//! Against the server binary.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::common::identities::{ALICE, BOB, CAROL, GROUP, S1, SECRET};
use crate::common::metrics::{scrape, value};
use crate::common::net::{assert_reset, bounded, TEST_LIMIT};
use crate::common::oauth::OAuthServer;
use crate::common::open_gateway::OpenGateway as Gateway;
use crate::common::proto12::{open12, req12, Request12};
use crate::common::server_process::ServerProcess;
use predicates::str::contains;
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;
use tonic::{Code, Status};

type Client = ControlClient<Channel>;

/// A gateway with the flags under test, serving `/metrics`.
fn gateway(flags: &[&str]) -> Gateway {
    Gateway::start(&[&["--metrics", "127.0.0.1:0"], flags].concat())
}

impl Gateway {
    async fn client(&self) -> Client {
        ControlClient::connect(format!("http://{}", self.server.addr))
            .await
            .unwrap()
    }

    fn metric(&self, series: &str) -> f64 {
        value(&scrape(self.server.metrics.as_deref().unwrap()), series)
    }
}

fn request(uid: &str, num_conn: i32) -> pb::Request {
    pb::Request {
        uid: uid.into(),
        role: "PROD".into(),
        num_conn,
        rate: 10000,
        ..Default::default()
    }
}

fn hello(uid: &str, target: SocketAddr) -> pb::Hello {
    pb::Hello {
        uid: uid.into(),
        prod_listeners: vec![target.to_string()],
        role: "PROD".into(),
    }
}

/// Req and hello (sent together, as clients do): the session's listeners, or the req's refusal.
async fn open_unrouted(
    client: &Client,
    req: pb::Request,
    target: SocketAddr,
) -> Result<Vec<SocketAddr>, Status> {
    let mut app_controller = client.clone();
    let hello = hello(&req.uid, target);
    let helloed = tokio::spawn(async move { app_controller.hello(hello).await });
    let answer = match client.clone().req(req).await {
        Ok(answer) => answer.into_inner(),
        Err(refused) => {
            helloed.abort();
            return Err(refused);
        }
    };
    helloed.await.unwrap().unwrap();
    Ok(answer
        .listeners
        .iter()
        .map(|l| l.parse().unwrap())
        .collect())
}

/// [`open_unrouted`], then the update that makes it relay to `target`.
async fn open(
    client: &Client,
    uid: &str,
    num_conn: i32,
    target: SocketAddr,
) -> Result<Vec<SocketAddr>, Status> {
    let listeners = open_unrouted(client, request(uid, num_conn), target).await?;
    let update = pb::UpdateTargets {
        uid: uid.into(),
        remote_listeners: vec![target.to_string()],
        role: "PROD".into(),
    };
    client.clone().update(update).await?;
    Ok(listeners)
}

async fn release(client: &Client, uid: &str) {
    let release = pb::Release { uid: uid.into() };
    client.clone().release(release).await.unwrap();
}

async fn status(client: &Client, uid: &str) -> Result<pb::SessionInfo, Status> {
    let asked = pb::StatusRequest { uid: uid.into() };
    client
        .clone()
        .status(asked)
        .await
        .map(tonic::Response::into_inner)
}

#[track_caller]
fn assert_exhausted(result: Result<Vec<SocketAddr>, Status>, message: &str) {
    let status = result.expect_err("admitted past its quota");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains(message),
        "{:?} lacks {message:?}",
        status.message()
    );
}

/// A producer that greets each connection with "pong", then reads until its client closes.
async fn producer() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.write_all(b"pong").await;
                let _ = stream.read_to_end(&mut Vec::new()).await;
            });
        }
    });
    addr
}

/// A connection through `listener` that the producer greeted.
async fn greeted(listener: SocketAddr) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(listener).await?;
    let mut greeting = [0; 4];
    stream.read_exact(&mut greeting).await?;
    assert_eq!(&greeting, b"pong");
    Ok(stream)
}

/// Polls until `uid` is gone from the server (no sleeps as synchronisation: a bounded wait).
async fn until_gone(client: &Client, uid: &str) {
    loop {
        match status(client, uid).await {
            Err(gone) if gone.code() == Code::NotFound => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Opens a session of one listener once a port is free: an expired session's port comes back
/// a moment after the session leaves the table (once its relay has stopped).
async fn open_when_free(client: &Client, uid: &str, target: SocketAddr) -> Vec<SocketAddr> {
    loop {
        match open(client, uid, 1, target).await {
            Err(busy) if busy.message().contains("port range") => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            opened => return opened.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_and_listener_quotas_refuse_at_their_limit_and_admit_again_after_a_release() {
    let gateway = gateway(&["--quota-sessions", "2", "--quota-listeners", "3"]);
    bounded(async {
        let target = producer().await;
        let client = gateway.client().await;
        open(&client, "a", 2, target).await.unwrap();
        let refused = open(&client, "b", 2, target).await;
        assert_exhausted(
            refused,
            "holds 2 of 3 listeners (its listeners quota) and this req asks for 2 more: \
             release a session (scistream req list), ask for fewer (--num-conn 1)",
        );
        open(&client, "b", 1, target).await.unwrap();
        let refused = open(&client, "c", 1, target).await;
        assert_exhausted(
            refused,
            "holds 2 of 2 sessions (its sessions quota): release one",
        );
        // The user sees it through the binary too, and another client address is another
        // account with quotas of its own.
        let listed = gateway.req("list", &[]).assert().success();
        assert!(String::from_utf8_lossy(&listed.get_output().stdout).contains("EXPIRES IN"));
        release(&client, "a").await;
        open(&client, "c", 2, target).await.unwrap();
        let producer_port = target.port().to_string();
        gateway
            .req("prod", &["--num-conn", "1", "--remote-ip", "127.0.0.1"])
            .args(["--receiver-ports", &producer_port, "--plaintext-hop", "-q"])
            .assert()
            .code(1)
            .stderr(contains(
                "holds 2 of 2 sessions (its sessions quota): release one",
            ));
        let other = crate::common::server::grpc_from(
            &gateway.server.addr,
            Some("127.0.0.3".parse().unwrap()),
        )
        .await;
        open(&other, "d", 3, target).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_reqs_racing_for_the_last_session_let_exactly_one_in() {
    let gateway = gateway(&["--quota-sessions", "3"]);
    bounded(async {
        let target = producer().await;
        let client = gateway.client().await;
        for uid in ["held-1", "held-2"] {
            open(&client, uid, 1, target).await.unwrap();
        }
        // Without hellos: an admitted req waits for its hello, a refused one answers at once.
        let mut racing = tokio::task::JoinSet::new();
        for i in 0..50 {
            let mut client = client.clone();
            racing.spawn(async move { (i, client.req(request(&format!("race-{i}"), 1)).await) });
        }
        let mut refused = Vec::new();
        while refused.len() < 49 {
            let (i, answer) = racing.join_next().await.unwrap().unwrap();
            let status = answer.expect_err("a req was answered without its hello");
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            assert!(
                status.message().contains("holds 3 of 3 sessions"),
                "{status:?}"
            );
            refused.push(i);
        }
        let winner = (0..50).find(|i| !refused.contains(i)).unwrap();
        let uid = format!("race-{winner}");
        client.clone().hello(hello(&uid, target)).await.unwrap();
        let (i, answer) = racing.join_next().await.unwrap().unwrap();
        assert_eq!((i, answer.is_ok()), (winner, true));
        let listed = client
            .clone()
            .list(pb::ListRequest::default())
            .await
            .unwrap();
        assert_eq!(listed.into_inner().sessions.len(), 3);
        // The race left the count right: one release makes room for exactly one.
        release(&client, &uid).await;
        open(&client, "after", 1, target).await.unwrap();
        assert_exhausted(
            open(&client, "one-too-many", 1, target).await,
            "holds 3 of 3 sessions",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_quota_resets_a_connection_past_it_over_all_the_identitys_sessions() {
    let gateway = gateway(&["--quota-connections", "2"]);
    bounded(async {
        let target = producer().await;
        let client = gateway.client().await;
        let first = open(&client, "first", 1, target).await.unwrap()[0];
        let second = open(&client, "second", 1, target).await.unwrap()[0];
        let held = greeted(first).await.unwrap();
        let _also_held = greeted(second).await.unwrap();
        let past = greeted(first).await;
        let reset = past.expect_err("a third connection was relayed past the quota");
        assert_eq!(reset.kind(), io::ErrorKind::ConnectionReset, "{reset}");
        let rejected = r#"scistream_connections_rejected_total{reason="quota"}"#;
        assert_eq!(gateway.metric(rejected), 1.0);
        assert!(
            gateway.server.log().contains("reason=\"quota\""),
            "{}",
            gateway.server.log()
        );
        drop(held);
        while status(&client, "first").await.unwrap().connections_active > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        greeted(second).await.expect("a freed place is taken again");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_at_the_end_of_its_lifetime_is_released_its_connections_reset_its_port_returned()
{
    // One port: a session after the expiry can only have it if it was returned.
    let gateway = gateway(&["--port-range", "30000-30000"]);
    bounded(async {
        let target = producer().await;
        let client = gateway.client().await;
        let port = target.port().to_string();
        let mut prod = gateway.req("prod", &["--num-conn", "1", "--remote-ip", "127.0.0.1"]);
        prod.args([
            "--receiver-ports",
            &port,
            "--plaintext-hop",
            "--json",
            "--lifetime",
            "2s",
        ]);
        let output = prod.assert().success().get_output().stdout.clone();
        let opened: serde_json::Value = serde_json::from_slice(&output).unwrap();
        let uid = opened["uid"].as_str().unwrap().to_owned();
        let listener: SocketAddr = opened["listeners"][0].as_str().unwrap().parse().unwrap();
        let mut held = greeted(listener).await.unwrap();
        let info = status(&client, &uid).await.unwrap();
        assert_eq!(info.expires_by, "lifetime");
        let shown = gateway.req("status", &[&uid]).assert().success();
        let shown = String::from_utf8_lossy(&shown.get_output().stdout).into_owned();
        assert!(shown.contains("expires      in "), "{shown}");
        assert!(shown.contains("its lifetime ends"), "{shown}");

        until_gone(&client, &uid).await;
        assert_reset(&mut held).await;
        assert_eq!(
            gateway.metric(r#"scistream_sessions_expired_total{reason="lifetime"}"#),
            1.0
        );
        let log = gateway.server.log();
        assert!(
            log.contains("session_expired") && log.contains("its lifetime ended"),
            "{log}"
        );
        let again = open_when_free(&client, "again", target).await;
        assert_eq!(again, [listener], "the port did not come back");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_no_connection_for_its_idle_timeout_is_released_and_its_port_returned() {
    let gateway = gateway(&[
        "--port-range",
        "30000-30000",
        "--session-idle-timeout",
        "2s",
    ]);
    bounded(async {
        let target = producer().await;
        let client = gateway.client().await;
        let listener = open(&client, "idle", 1, target).await.unwrap()[0];
        assert_eq!(
            status(&client, "idle").await.unwrap().expires_by,
            "idle_timeout"
        );
        // While a connection is open the idle clock does not run; it starts when it closes.
        let held = greeted(listener).await.unwrap();
        assert_eq!(
            status(&client, "idle").await.unwrap().expires_by,
            "lifetime"
        );
        drop(held);
        until_gone(&client, "idle").await;
        assert_eq!(
            gateway.metric(r#"scistream_sessions_expired_total{reason="idle_timeout"}"#),
            1.0
        );
        assert!(gateway.server.log().contains("--session-idle-timeout"));
        let again = open_when_free(&client, "again", target).await;
        assert_eq!(again, [listener], "the port did not come back");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_update_never_comes_is_released_and_resets_who_waits_at_its_listener() {
    let gateway = gateway(&["--port-range", "30000-30000", "--update-timeout", "2s"]);
    bounded(async {
        let target = producer().await;
        let client = gateway.client().await;
        let listeners = open_unrouted(&client, request("stuck", 1), target)
            .await
            .unwrap();
        assert_eq!(
            status(&client, "stuck").await.unwrap().expires_by,
            "update_timeout"
        );
        // Accepted by the kernel into the listener's backlog: nothing relays before the update.
        let mut waiting = TcpStream::connect(listeners[0]).await.unwrap();
        until_gone(&client, "stuck").await;
        assert_reset(&mut waiting).await;
        assert_eq!(
            gateway.metric(r#"scistream_sessions_expired_total{reason="update_timeout"}"#),
            1.0
        );
        let again = open_when_free(&client, "again", target).await;
        assert_eq!(again, listeners, "the port did not come back");
    })
    .await;
}

/// The end of `uid`'s lifetime as the server says it, in seconds since the Unix epoch.
async fn expires_at(client: &Client, uid: &str) -> u64 {
    let info = status(client, uid).await.unwrap();
    assert_eq!(info.expires_by, "lifetime", "{info:?}");
    info.expires_at_unix
}

#[test]
fn a_restored_session_keeps_what_is_left_of_its_lifetime_and_holds_its_owners_quota() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("state");
    let flags = [
        "--state-dir",
        state_dir.to_str().unwrap(),
        "--quota-sessions",
        "1",
        "--metrics",
        "127.0.0.1:0",
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let gateway = Gateway::start(&flags);
    // Two accounts: alice (this process's address) holds a session for days; bob (another
    // address) one that lives for seconds.
    let bob_address = Some("127.0.0.3".parse().unwrap());
    let (target, ends) = runtime.block_on(bounded(async {
        let target = producer().await;
        let alice = gateway.client().await;
        let bob = crate::common::server::grpc_from(&gateway.server.addr, bob_address).await;
        open(&alice, "alice-days", 1, target).await.unwrap();
        let short = pb::Request {
            lifetime_secs: 10,
            ..request("bob-seconds", 1)
        };
        open_unrouted(&bob, short, target).await.unwrap();
        (target, expires_at(&bob, "bob-seconds").await)
    }));

    let gateway = gateway.restart();
    assert_eq!(gateway.metric("scistream_sessions_restored_total"), 2.0);
    runtime.block_on(bounded(async {
        let alice = gateway.client().await;
        let bob = crate::common::server::grpc_from(&gateway.server.addr, bob_address).await;
        // Alice's restored session holds her one place.
        assert_exhausted(
            open(&alice, "alice-more", 1, target).await,
            "holds 1 of 1 sessions (its sessions quota)",
        );
        // Bob's keeps the end it had: a restart neither shortens nor renews it.
        assert_eq!(expires_at(&bob, "bob-seconds").await, ends);
        until_gone(&bob, "bob-seconds").await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        assert!(
            now.unwrap().as_secs() >= ends,
            "released before its lifetime ended"
        );
        let expired = r#"scistream_sessions_expired_total{reason="lifetime"}"#;
        assert_eq!(gateway.metric(expired), 1.0);
        // Its place is free again for bob.
        open(&bob, "bob-again", 1, target).await.unwrap();
    }));

    // Expired for good: the store let it go too.
    let gateway = gateway.restart();
    assert_eq!(gateway.metric("scistream_sessions_restored_total"), 2.0);
    runtime.block_on(bounded(async {
        let alice = gateway.client().await;
        let gone = status(&alice, "bob-seconds").await.unwrap_err();
        assert_eq!(gone.code(), Code::NotFound, "{gone:?}");
        for kept in ["alice-days", "bob-again"] {
            status(&alice, kept).await.unwrap();
        }
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scistream_proto_1_2_client_gets_the_default_lifetime_and_the_quotas() {
    let gateway = gateway(&[
        "--quota-sessions",
        "1",
        "--quota-max-rate",
        "20M",
        "--rate-policy",
        "limit",
        "--session-lifetime",
        "1h",
    ]);
    bounded(async {
        let target = producer().await;
        let addr = gateway.server.addr.clone();
        let client = gateway.client().await;
        let listener = open12(&addr, "python-1", target).await;
        drop(greeted(listener).await.unwrap());

        let info = status(&client, "python-1").await.unwrap();
        assert_eq!(
            (info.expires_by.as_str(), info.rate_policy.as_str()),
            ("lifetime", "limit")
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let left = info.expires_at_unix.saturating_sub(now.as_secs());
        assert!(
            (3500..=3600).contains(&left),
            "expires in {left} s, not the default 1 h"
        );

        let refused = req12(
            &addr,
            Request12 {
                uid: "python-2".into(),
                role: "PROD".into(),
                num_conn: 1,
                rate: 10000,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            refused.message().contains("holds 1 of 1 sessions"),
            "{refused:?}"
        );
        release(&client, "python-1").await;
        // Its rate (the Python client's 10000 kb/s) is within the max_rate; more is refused.
        let too_fast = pb::Request {
            rate: 30_000,
            ..request("fast", 1)
        };
        let refused = open_unrouted(&client, too_fast, target).await;
        assert_exhausted(
            refused,
            "may ask for at most 20000 kb/s (20 Mbit/s) per session (its max_rate quota), and \
             this req asks for 30000 kb/s (30 Mbit/s): ask for less (--rate 20000)",
        );
    })
    .await;
}

fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

/// Req and hello with `sub`'s token, not updated: a session held until released.
async fn open_as(
    auth: &OAuthServer,
    addr: &str,
    sub: &str,
    uid: &str,
) -> Result<Vec<SocketAddr>, Status> {
    let token = auth
        .mint_for(sub, S1, Duration::from_secs(3600))
        .access_token;
    let mut client = ControlClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut app_controller = client.clone();
    let hello = authorized(hello(uid, "127.0.0.1:9".parse().unwrap()), &token);
    let helloed = tokio::spawn(async move { app_controller.hello(hello).await });
    match client.req(authorized(request(uid, 1), &token)).await {
        Ok(answer) => {
            helloed.await.unwrap().unwrap();
            let listeners = answer.into_inner().listeners;
            Ok(listeners.iter().map(|l| l.parse().unwrap()).collect())
        }
        Err(refused) => {
            helloed.abort();
            Err(refused)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_identity_overrides_give_their_members_more_than_the_default() {
    let auth = OAuthServer::start();
    auth.set_member(GROUP, ALICE, true);
    auth.set_username(CAROL, "carol@anl.gov");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    let yaml = format!(
        "groups_url: {}\nquotas:\n  default: {{sessions: 1}}\n  identities:\n    \
         Carol@anl.gov: {{sessions: 3}}\n  groups:\n    - {{id: {GROUP}, name: APS users, \
         quota: {{sessions: 2}}}}\n",
        auth.base_url()
    );
    std::fs::write(&config, yaml).unwrap();
    let flags = ["--config", config.to_str().unwrap()];
    let server = ServerProcess::with_auth(&auth, (S1, SECRET), &flags);
    bounded(async {
        let addr = &server.addr;
        for uid in ["alice-1", "alice-2"] {
            open_as(&auth, addr, ALICE, uid).await.unwrap();
        }
        assert_exhausted(
            open_as(&auth, addr, ALICE, "alice-3").await,
            "holds 2 of 2 sessions (its sessions quota, as a member of group APS users)",
        );
        open_as(&auth, addr, BOB, "bob-1").await.unwrap();
        assert_exhausted(
            open_as(&auth, addr, BOB, "bob-2").await,
            &format!("{BOB}@example.org holds 1 of 1 sessions (its sessions quota): release one"),
        );
        for uid in ["carol-1", "carol-2", "carol-3"] {
            open_as(&auth, addr, CAROL, uid).await.unwrap();
        }
        assert_exhausted(
            open_as(&auth, addr, CAROL, "carol-4").await,
            "carol@anl.gov holds 3 of 3 sessions (its sessions quota, set for this identity)",
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_for_identities_need_authentication_and_an_open_server_says_what_it_ignores() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "quotas:\n  identities:\n    alice@anl.gov: {sessions: 3}\n",
    )
    .unwrap();
    let mut server = assert_cmd::Command::cargo_bin("scistream").unwrap();
    server
        .env_clear()
        .arg("--config")
        .arg(&config)
        .args(["server", "--no-tls", "--port", "0", "--bind", "127.0.0.1"])
        .timeout(TEST_LIMIT)
        .assert()
        .code(1)
        .stderr(contains(
            "names identities or groups, which need authentication",
        ));
    // A file an open server cannot read holds nothing that applies: it starts, and says so.
    std::fs::write(&config, "quotas:\n  default: {sessions: 0}\n").unwrap();
    let gateway = gateway(&["--config", config.to_str().unwrap()]);
    let log = gateway.server.log();
    assert!(
        log.contains("line 2") && log.contains("its quotas: do not apply"),
        "{log}"
    );
}
