//! Sessions outlive the server process: after a `kill -9` or a stop, the next start takes them
//! back (same listeners, targets, owner and hop identity), says what it could not, and refuses
//! a store it must not trust.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::net::{echo, random_payload, read_exactly, serve, TEST_LIMIT};
use crate::common::oauth::OAuthServer;
use crate::common::server_process::{server_words, ServerProcess};
use crate::common::site::{json, open_stream, status, strings, Site};
use crate::common::user::{stderr, User};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

fn counted(status: &serde_json::Value) -> u64 {
    status["stats"]["connections_total"].as_u64().unwrap()
}

/// A payload through `listener` comes back from the echo producer unchanged.
fn echoes_through(rt: &Runtime, listener: &str, seed: u64) {
    rt.block_on(async {
        let mut stream = TcpStream::connect(listener).await.unwrap();
        let payload = random_payload(64 * 1024, seed);
        stream.write_all(&payload).await.unwrap();
        let echoed = read_exactly(&mut stream, payload.len()).await;
        assert!(echoed == payload, "another echo through {listener}");
    });
}

#[test]
fn a_stream_comes_back_after_kill_9_and_after_a_stop() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let (prod_site, cons_site) = (Site::new(21100), Site::new(21200));
    let prod = prod_site.start(&auth, &[]);
    let cons = cons_site.start(&auth, &[]);
    let (uid, listeners) = open_stream(&user, (&prod.addr, &cons.addr), "2", producer.port());
    for listener in &listeners {
        echoes_through(&rt, listener, 1);
    }
    let before = status(&user, &prod.addr, &uid);
    let cons_before = status(&user, &cons.addr, &uid);
    assert_eq!(counted(&cons_before), 2, "{cons_before}");

    // The PROD gateway dies without a word; the CONS gateway is stopped as systemd would.
    drop(prod);
    let log = cons.terminate();
    assert!(log.contains("the sessions stay stored"), "{log}");
    let prod = prod_site.start(&auth, &[]);
    let cons = cons_site.start(&auth, &[]);

    // Same listeners, relaying over the same encrypted hop to the same producer.
    for listener in &listeners {
        echoes_through(&rt, listener, 2);
    }
    let after = status(&user, &prod.addr, &uid);
    for field in ["listeners", "targets", "role", "rate"] {
        assert_eq!(after[field], before[field], "{field}: {after}");
    }
    // Stopped gracefully, the CONS gateway stored its final counters, which go on.
    let cons_after = status(&user, &cons.addr, &uid);
    assert_eq!(cons_after["listeners"], serde_json::json!(listeners));
    assert_eq!(
        counted(&cons_after),
        counted(&cons_before) + 2,
        "{cons_after}"
    );
    let args = ["req", "list", "--no-tls", "--s2cs", &prod.addr, "--json"];
    let listed = json(&user.cmd(&args).timeout(TEST_LIMIT).assert().success());
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // The restored sessions' ports are not handed out again.
    let (_other, others) = open_stream(&user, (&prod.addr, &cons.addr), "2", producer.port());
    assert!(
        others.iter().all(|l| !listeners.contains(l)),
        "{others:?} {listeners:?}"
    );

    for server in [&prod, &cons] {
        let args = ["req", "release", "--no-tls", "--s2cs", &server.addr, &uid];
        user.cmd(&args).timeout(TEST_LIMIT).assert().success();
    }
    // Released for good: not back after another restart.
    drop(prod);
    let prod = prod_site.start(&auth, &[]);
    let args = ["req", "status", "--no-tls", "--s2cs", &prod.addr, &uid];
    user.cmd(&args).timeout(TEST_LIMIT).assert().failure();
}

/// A PROD session of one listener relaying to `producer`, plaintext hop: (uid, listener).
fn open_prod(
    user: &User,
    server: &ServerProcess,
    producer: SocketAddr,
    n: &str,
) -> (String, Vec<String>) {
    let port = producer.port().to_string();
    let args = [
        "req",
        "prod",
        "--no-tls",
        "--s2cs",
        &server.addr,
        "--num-conn",
        n,
        "--plaintext-hop",
        "--remote-ip",
        "127.0.0.1",
        "--receiver-ports",
        &port,
        "--json",
    ];
    let opened = json(&user.cmd(&args).timeout(TEST_LIMIT).assert().success());
    (
        opened["uid"].as_str().unwrap().to_string(),
        strings(&opened["listeners"]),
    )
}

#[test]
fn a_listener_whose_port_was_taken_meanwhile_comes_back_lost_and_the_others_relay() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(21300);
    let server = site.start(&auth, &[]);
    let (uid, listeners) = open_prod(&user, &server, producer, "2");
    drop(server);
    let squatter = std::net::TcpListener::bind(&listeners[0]).unwrap();
    let server = site.start(&auth, &[]);
    let status = status(&user, &server.addr, &uid);
    assert_eq!(
        strings(&status["lost_listeners"]),
        [listeners[0].clone()],
        "{status}"
    );
    echoes_through(&rt, &listeners[1], 3);
    assert!(server.log().contains("listener_lost"), "{}", server.log());
    let args = ["req", "status", "--no-tls", "--s2cs", &server.addr, &uid];
    let shown = user.cmd(&args).timeout(TEST_LIMIT).assert().success();
    let shown = String::from_utf8_lossy(&shown.get_output().stdout).into_owned();
    assert!(
        shown.contains(&format!("{} -> ", listeners[0])) && shown.contains("(lost"),
        "{shown}"
    );
    drop(squatter);
}

#[test]
fn a_session_whose_target_is_now_forbidden_is_released_and_said_so() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(21400);
    let server = site.start(&auth, &[]);
    let (uid, _) = open_prod(&user, &server, producer, "1");
    drop(server);
    let server = site.start(&auth, &["--allow-targets", "10.0.0.0/8"]);
    let log = server.log();
    assert!(
        log.contains("session_dropped") && log.contains(&uid),
        "{log}"
    );
    let args = ["req", "status", "--no-tls", "--s2cs", &server.addr, &uid];
    user.cmd(&args).timeout(TEST_LIMIT).assert().failure();
}

#[test]
fn forget_sessions_starts_empty() {
    let rt = Runtime::new().unwrap();
    let (producer, _producer) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(21500);
    let server = site.start(&auth, &[]);
    let (uid, _) = open_prod(&user, &server, producer, "1");
    drop(server);
    let server = site.start(&auth, &["--forget-sessions"]);
    let args = ["req", "status", "--no-tls", "--s2cs", &server.addr, &uid];
    user.cmd(&args).timeout(TEST_LIMIT).assert().failure();
}

/// `scistream server` on a state directory, expected not to start: its stderr.
fn refused_start(state: &Path) -> String {
    let config = state.parent().unwrap().join("config.yaml");
    let out = assert_cmd::Command::cargo_bin("scistream")
        .unwrap()
        .args(server_words(&config, "127.0.0.1"))
        .args(["--state-dir", state.to_str().unwrap()])
        .env_remove("SCISTREAM_CLIENT_SECRET")
        .timeout(TEST_LIMIT)
        .assert()
        .failure();
    stderr(out.get_output())
}

#[test]
fn a_store_others_can_read_or_a_damaged_one_stops_the_start_with_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let store = state.join("sessions.redb");
    std::fs::write(&store, vec![0x5a; 4096]).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = refused_start(&state);
    assert!(
        error.contains(&format!("chmod 600 {}", store.display())),
        "{error}"
    );

    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600)).unwrap();
    let error = refused_start(&state);
    assert!(
        error.contains("damaged") && error.contains(&store.display().to_string()),
        "{error}"
    );
    assert!(error.contains("--forget-sessions"), "{error}");
}
