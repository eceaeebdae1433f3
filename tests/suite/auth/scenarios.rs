//! The auth workflow end to end: `scistream server` and `scistream req` as processes, against
//! the test auth server, on loopback, plaintext.

use std::time::Duration;

use predicates::prelude::*;
use predicates::str::contains;
use scistream::config::Config;

use super::{S1, S2};
use crate::common::metrics::{documented_families, families, scrape, value};
use crate::common::net::wait_until;
use crate::common::oauth::OAuthServer;
use crate::common::req::{prod_flags, req_words, uid_of};
use crate::common::server_process::{ServerProcess, ServerSetup};
use crate::common::user::User;

const SECRET: &str = "s1-secret";

fn open_server(auth: &OAuthServer) -> ServerProcess {
    ServerProcess::start(
        auth,
        ServerSetup {
            ip: "127.0.0.1",
            credentials: None,
            extra_args: &[],
        },
    )
}

/// A server on `ip` that checks tokens for `client_id`.
fn server_for(auth: &OAuthServer, ip: &str, client_id: &str, extra_args: &[&str]) -> ServerProcess {
    auth.accept_client(client_id, SECRET);
    ServerProcess::start(
        auth,
        ServerSetup {
            ip,
            credentials: Some((client_id, SECRET)),
            extra_args,
        },
    )
}

/// `req prod` with one listener, the client sending the producer's hello itself.
fn req_prod(user: &User, server: &ServerProcess, extra: &[&str]) -> assert_cmd::Command {
    let flags = [&prod_flags("1", "7000")[..], extra].concat();
    user.cmd(&req_words(&server.addr, "prod", &flags))
}

fn stored_access_token(user: &User, scope: &str) -> String {
    let config = Config::from_str(&user.config_text()).unwrap();
    config.tokens[&scope.parse().unwrap()]
        .access_token
        .expose()
        .to_owned()
}

#[test]
fn s1a_without_a_secret_the_server_lets_everyone_in() {
    let auth = OAuthServer::start();
    let server = open_server(&auth);
    let user = User::new(&auth);
    // The one line on stderr: the server said it checks no tokens (scistream-auth: off).
    let open = format!("warning: s2cs {} has authentication off: ", server.addr);
    req_prod(&user, &server, &[])
        .assert()
        .success()
        .stdout(contains(format!("{} INVALID_TOKEN PROD", server.addr)))
        .stdout(contains("Listeners: 127.0.0.1:"))
        .stderr(
            predicate::str::starts_with(open)
                .and(predicate::function(|err: &str| err.lines().count() == 1)),
        );
    let log = server.log();
    assert!(log.contains("authentication is OFF"), "{log}");
    assert!(
        log.contains("open to anyone who can reach this port"),
        "{log}"
    );
}

#[test]
fn s1b_a_server_with_a_secret_refuses_a_user_who_has_not_logged_in_and_stays_up() {
    let auth = OAuthServer::start();
    let mut server = server_for(&auth, "127.0.0.1", S1, &[]);
    let user = User::new(&auth);
    for _ in 0..2 {
        req_prod(&user, &server, &[])
            .assert()
            .code(3)
            .stdout(contains("INVALID_TOKEN"))
            .stderr(contains(format!(
                "Please obtain new credentials: Authentication token is missing for scope {S1}"
            )))
            .stderr(contains(format!(
                "run: scistream login --scope {S1} --map 127.0.0.1"
            )));
    }
    assert!(server.is_running());
}

#[test]
fn s2_login_then_unmapped_is_refused_and_named_then_mapped_succeeds() {
    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &[]);
    let user = User::new(&auth);

    // 2a: log in with the code piped in.
    let output = user.login(&auth, &[]);
    assert!(output.status.success());

    // 2b: the address is not mapped, so no token goes out, and the user is told why.
    req_prod(&user, &server, &[])
        .assert()
        .code(3)
        .stderr(contains(format!(
            "warning: no scope is mapped for 127.0.0.1; add it with scistream login --scope {S1} --map 127.0.0.1"
        )))
        .stderr(contains(format!("Authentication token is missing for scope {S1}")));

    // 2d: map both names of this host; the request carries the token and succeeds.
    user.cmd(&["login", "--map", "localhost", "--map", "127.0.0.1"])
        .assert()
        .success();
    let token = stored_access_token(&user, S1);
    req_prod(&user, &server, &[])
        .assert()
        .success()
        .stdout(contains(format!("{} {}… PROD", server.addr, &token[..8])))
        .stdout(contains("Listeners: 127.0.0.1:"))
        .stderr("");
    req_prod(&user, &server, &["--show-token"])
        .assert()
        .success()
        .stdout(contains(format!(" {token} PROD")));
    assert!(!server.log().contains(&token), "the server logged a token");
}

#[test]
fn s3_a_server_of_another_scope_refuses_and_names_its_scope() {
    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S2, &[]);
    let user = User::new(&auth);
    user.login(&auth, &["--map", "127.0.0.1"]);

    req_prod(&user, &server, &[])
        .assert()
        .code(3)
        .stderr(contains(format!(
            "Please obtain new credentials: Authentication token is invalid for scope {S2}"
        )))
        .stderr(contains(format!(
            "run: scistream login --scope {S2} --map 127.0.0.1"
        )));
    let log = server.log();
    let refusal = log
        .lines()
        .find(|l| l.contains(&format!("Authentication token is invalid for scope {S2}")))
        .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
    // req and hello go out together: either may be the one refused first.
    for field in ["event=\"auth_failure\"", "rpc=\"", "peer=127.0.0.1:"] {
        assert!(refusal.contains(field), "{field} missing: {refusal}");
    }
}

#[test]
fn s4_and_s5_two_scopes_two_servers_both_reachable() {
    let auth = OAuthServer::start();
    let one = server_for(&auth, "127.0.0.1", S1, &[]);
    let two = server_for(&auth, "127.0.0.2", S2, &[]);
    let user = User::new(&auth);
    user.login(&auth, &["--map", "127.0.0.1"]);
    user.login(&auth, &["--scope", S2, "--map", "127.0.0.2"]);
    user.cmd(&["check-auth"])
        .assert()
        .success()
        .stdout(contains(format!("Access Token for scope '{S1}'")))
        .stdout(contains(format!("Access Token for scope '{S2}'")));

    req_prod(&user, &one, &[])
        .assert()
        .success()
        .stdout(contains("Listeners: 127.0.0.1:"));
    req_prod(&user, &two, &[])
        .assert()
        .success()
        .stdout(contains("Listeners: 127.0.0.2:"));
}

#[test]
fn a_revoked_token_is_refused_once_the_cache_window_has_passed() {
    let auth = OAuthServer::start();
    // A zero window: the next call after the revocation is checked afresh.
    let server = server_for(&auth, "127.0.0.1", S1, &["--auth-cache-secs", "0"]);
    let user = User::new(&auth);
    user.login(&auth, &["--map", "127.0.0.1"]);
    req_prod(&user, &server, &[]).assert().success();

    auth.revoke(&stored_access_token(&user, S1));
    req_prod(&user, &server, &[])
        .assert()
        .code(3)
        .stderr(contains(format!(
            "Authentication token is invalid for scope {S1}"
        )))
        .stderr(contains(format!(
            "run: scistream login --scope {S1} --force"
        )));
}

#[test]
fn an_expired_access_token_is_refreshed_transparently() {
    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &[]);
    let user = User::new(&auth);
    let expired = auth.mint(S1, Duration::ZERO);
    user.write_config(&format!(
        "servers:\n  127.0.0.1: {S1}\ntokens:\n  {S1}:\n    access_token: {}\n    \
         refresh_token: {}\n    expires_at: 2020-01-01T00:00:00Z\n    scope: x\n",
        expired.access_token, expired.refresh_token
    ));

    req_prod(&user, &server, &[]).assert().success().stderr("");
    let fresh = stored_access_token(&user, S1);
    assert_ne!(fresh, expired.access_token);
    assert!(auth.is_active(&fresh));
}

#[test]
fn release_is_checked_too() {
    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &[]);
    let user = User::new(&auth);
    user.cmd(&[
        "req",
        "release",
        "--no-tls",
        "--s2cs",
        &server.addr,
        "some-uid",
    ])
    .assert()
    .code(3)
    .stderr(contains(format!(
        "Authentication token is missing for scope {S1}"
    )));
}

#[tokio::test]
async fn every_rpc_without_a_token_is_unauthenticated() {
    use scistream::pb;
    use scistream::pb::control_client::ControlClient;

    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &[]);
    let mut client = ControlClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let uid = || "u".to_string();
    let codes = [
        client
            .req(pb::Request {
                uid: uid(),
                role: "PROD".into(),
                num_conn: 1,
                rate: 1,
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .hello(pb::Hello {
                uid: uid(),
                prod_listeners: vec!["127.0.0.1:1".into()],
                role: "PROD".into(),
            })
            .await
            .map(drop),
        client
            .update(pb::UpdateTargets {
                uid: uid(),
                remote_listeners: vec!["127.0.0.1:1".into()],
                role: "PROD".into(),
            })
            .await
            .map(drop),
        client.release(pb::Release { uid: uid() }).await.map(drop),
        client.list(pb::ListRequest::default()).await.map(drop),
        client
            .status(pb::StatusRequest { uid: uid() })
            .await
            .map(drop),
    ]
    .map(|result| result.unwrap_err().code());
    assert_eq!(codes, [tonic::Code::Unauthenticated; 6]);
}

#[test]
fn a_server_with_a_wrong_secret_or_no_auth_server_refuses_to_start() {
    let mut auth = OAuthServer::start();
    auth.accept_client(S1, SECRET);
    let user = User::new(&auth);
    let start = |secret_flag: &str| {
        user.cmd(&[
            "server",
            "--no-tls",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            secret_flag,
        ])
        .assert()
        .failure()
        .stderr(contains("refusing to start without working token checks"))
    };
    start("--client_secret=wrong").stderr(contains(format!("rejected client id {S1}")));
    auth.stop();
    start(&format!("--client-secret={SECRET}")).stderr(contains("unavailable"));
}

#[test]
fn the_secret_can_come_from_a_file_and_never_shows_in_help() {
    let auth = OAuthServer::start();
    auth.accept_client(S2, SECRET);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let file_arg = format!("--client-secret-file={}", secret_file.display());
    let server = ServerProcess::start(
        &auth,
        ServerSetup {
            ip: "127.0.0.1",
            credentials: None,
            extra_args: &["--client_id", S2, &file_arg],
        },
    );
    assert!(
        server.log().contains("authentication is ON"),
        "{}",
        server.log()
    );

    let user = User::new(&auth);
    user.cmd(&["server", "--help"])
        .env("SCISTREAM_CLIENT_SECRET", "do-not-print-me")
        .assert()
        .success()
        .stdout(contains("SCISTREAM_CLIENT_SECRET"))
        .stdout(contains("do-not-print-me").not());
}

/// The JSON log lines that have an `event` field, by event name.
fn events(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .filter(|line| line.get("event").is_some())
        .collect()
}

fn event<'a>(events: &'a [serde_json::Value], name: &str, uid: &str) -> &'a serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == name && (uid.is_empty() || e["uid"] == uid))
        .unwrap_or_else(|| panic!("no {name} event for {uid:?} in {events:#?}"))
}

#[test]
fn s6_session_events_and_refusals_are_logged_as_json_counted_and_never_show_secrets() {
    let auth = OAuthServer::start();
    let extra = [
        "--log-format=json",
        "-vv",
        "--hello-timeout=0.3",
        "--metrics=127.0.0.1:0",
    ];
    let server = server_for(&auth, "127.0.0.1", S1, &extra);
    let metrics = server.metrics.clone().expect("the metrics address printed");
    let user = User::new(&auth);
    let req = |action, rest: &[&str]| user.cmd(&req_words(&server.addr, action, rest));

    // Not logged in: list is refused like every other call.
    req("list", &[]).assert().code(3).stderr(contains(format!(
        "Authentication token is missing for scope {S1}"
    )));
    let text = scrape(&metrics);
    assert_eq!(
        value(
            &text,
            "scistream_auth_failures_total{reason=\"missing_token\"}"
        ),
        1.0
    );
    let unauthenticated = "scistream_requests_total{rpc=\"list\",code=\"Unauthenticated\"}";
    assert_eq!(value(&text, unauthenticated), 1.0);
    // Only the credentials check at start: a missing token needs no introspection.
    assert_eq!(
        value(&text, "scistream_introspection_duration_seconds_count"),
        1.0
    );

    user.login(&auth, &["--map", "127.0.0.1"]);
    let out = req_prod(&user, &server, &[]).assert().success();
    let uid = uid_of(&out.get_output().stdout);
    req("release", &[&uid]).assert().success();
    req("prod", &["--num-conn", "1"])
        .assert()
        .failure()
        .stderr(contains("Hello not received within the timeout period"));

    let log = server.log();
    let events = events(&log);
    let refused = event(&events, "auth_failure", "");
    assert_eq!(refused["rpc"], "list");
    assert_eq!(refused["reason"], "missing_token");
    for name in ["req", "hello", "update", "release"] {
        let line = event(&events, name, &uid);
        assert!(
            line["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{line}"
        );
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    // Lists are comma-joined strings, the same in text and JSON.
    assert_eq!(event(&events, "update", &uid)["targets"], "127.0.0.1:7000");
    let timeout = events
        .iter()
        .find(|e| e["event"] == "timeout")
        .expect("a timeout event");
    assert_eq!(timeout["level"], "WARN");
    let token = stored_access_token(&user, S1);
    assert!(!log.contains(&token), "the server logged a token");
    assert!(!log.contains(SECRET), "the server logged its client secret");

    let text = scrape(&metrics);
    assert!(value(&text, "scistream_introspection_duration_seconds_count") >= 2.0);
    assert_eq!(
        value(
            &text,
            "scistream_requests_total{rpc=\"req\",code=\"DeadlineExceeded\"}"
        ),
        1.0
    );
}

#[test]
fn a_live_scrape_is_openmetrics_text_with_every_metric_the_readme_documents() {
    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &["--metrics=127.0.0.1:0"]);
    let metrics = server.metrics.clone().expect("the metrics address printed");
    // A refused call gives the request and auth failure counters a sample each.
    let user = User::new(&auth);
    user.cmd(&req_words(&server.addr, "list", &[]))
        .assert()
        .code(3);
    let text = scrape(&metrics);
    assert_eq!(families(&text), documented_families(), "in\n{text}");
}

#[test]
fn when_the_auth_server_goes_down_requests_exit_4_and_say_whom_to_tell() {
    let mut auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &["--auth-cache-secs", "0"]);
    let user = User::new(&auth);
    user.login(&auth, &["--map", "127.0.0.1"]);
    auth.stop();
    req_prod(&user, &server, &[])
        .assert()
        .code(4)
        .stderr(contains("could not check the token: the auth server at"))
        .stderr(contains("try again later, or tell the gateway's operator"));
}

#[test]
fn a_client_that_goes_away_before_the_hello_is_logged_as_cancelled() {
    let auth = OAuthServer::start();
    let server = open_server(&auth);
    let user = User::new(&auth);
    let mut waiting = user
        .command(&req_words(&server.addr, "prod", &["--num-conn", "1"]))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let list = req_words(&server.addr, "list", &["--json"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(wait_until("the server holds the session", || {
        let out = user.cmd(&list).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("awaiting hello")
    }));
    waiting.kill().unwrap();
    waiting.wait().unwrap();
    runtime.block_on(wait_until("the server logs the cancellation", || {
        server.log().contains("event=\"cancelled\"")
    }));
    user.cmd(&list).assert().success().stdout("[]\n");
}

#[tokio::test]
async fn a_flood_of_calls_with_a_junk_token_costs_the_auth_server_one_introspection() {
    use scistream::pb;
    use scistream::pb::control_client::ControlClient;

    let auth = OAuthServer::start();
    let server = server_for(&auth, "127.0.0.1", S1, &[]);
    let at_start = auth.introspection_calls();
    let mut client = ControlClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    for _ in 0..200 {
        let mut list = tonic::Request::new(pb::ListRequest::default());
        let junk = "Bearer junk-token".parse().unwrap();
        list.metadata_mut().insert("authorization", junk);
        let refused = client.list(list).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    }
    assert_eq!(auth.introspection_calls() - at_start, 1);
}
