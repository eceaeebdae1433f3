//! What a server shows about its sessions: `req list` / `req status` (text and JSON) and the
//! `/metrics` endpoint, after real sessions with real bytes relayed.

use crate::common::metrics::{scrape, value};
use crate::common::net::{echo, random_payload, serve, wait_until};
use crate::common::req::{listeners_of, uid_of};
use crate::common::server::{Options, TestServer};
use predicates::str::contains;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Bytes sent each way through the relayed connection.
const PAYLOAD: usize = 1 << 20;

/// Sends random bytes through `listener` to an echo target and checks they all come back.
async fn echo_through(listener: &str) {
    let payload = random_payload(PAYLOAD, 5);
    let stream = TcpStream::connect(listener).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Written while reading: the echo fills our receive buffer while we still send.
    let send = async {
        writer.write_all(&payload).await.unwrap();
        writer.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let (_, read) = tokio::join!(send, reader.read_to_end(&mut back));
    read.unwrap();
    assert!(back == payload, "the relay changed the bytes");
}

fn status_json(server: &TestServer, uid: &str) -> Value {
    serde_json::from_slice(&server.stdout_of("status", &["--json", uid])).expect("one JSON object")
}

/// A PROD session on two listeners relaying to an echo target, with [`PAYLOAD`] bytes echoed
/// through its first listener; returns its uid, listeners and target once the connection has
/// closed on the server too (the client sees the end of it a moment earlier).
fn session_with_traffic(server: &TestServer) -> (String, Vec<String>, String) {
    let rt = Runtime::new().unwrap();
    let (target, _echo) = rt.block_on(serve(echo));
    let stdout = server.prod("2", &target.port().to_string(), &["--plaintext-hop"]);
    let uid = uid_of(&stdout);
    let listeners = listeners_of(&stdout);
    rt.block_on(async {
        echo_through(&listeners[0]).await;
        wait_until("the server counts the connection as closed", || {
            status_json(server, &uid)["stats"]["connections_active"] == 0
        })
        .await;
    });
    (uid, listeners, target.to_string())
}

#[test]
fn list_and_status_show_each_session_with_its_traffic() {
    let server = TestServer::start(Options::default());
    server
        .req("list", &[])
        .assert()
        .success()
        .stdout(format!("No sessions on s2cs {}\n", server.s2cs()));
    let (uid, listeners, target) = session_with_traffic(&server);
    let cons = [
        "--num-conn",
        "1",
        "--plaintext-hop",
        "cons-1",
        "127.0.0.1:9",
    ];
    server.stdout_of("cons", &cons);

    let table = String::from_utf8(server.stdout_of("list", &[])).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let columns: Vec<&str> = lines[0]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "UID",
            "ROLE",
            "STATE",
            "AGE",
            "CONN",
            "TO TARGET",
            "FROM TARGET",
            "LISTENERS",
            "TARGETS",
            "EXPIRES IN"
        ]
    );
    let row = lines.iter().find(|l| l.starts_with(&uid)).expect("a row");
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(words[1..3], ["PROD", "relaying"], "{row}");
    assert_eq!(words[4..9], ["0/1", "1.00", "MiB", "1.00", "MiB"], "{row}");
    assert_eq!(words[9], listeners.join(","), "{row}");
    assert_eq!(words[10], target, "{row}");

    let list: Value = serde_json::from_slice(&server.stdout_of("list", &["--json"])).unwrap();
    let sessions = list.as_array().expect("a JSON array");
    assert_eq!(sessions.len(), 2);
    let prod = sessions.iter().find(|s| s["uid"] == uid.as_str()).unwrap();
    let mut keys: Vec<&str> = prod
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "age_secs",
            "allow_from",
            "expires",
            "listeners",
            "prod_listeners",
            "rate",
            "rate_policy",
            "role",
            "state",
            "stats",
            "targets",
            "throughput",
            "uid"
        ]
    );
    assert_eq!(prod["role"], "PROD");
    assert_eq!(prod["state"], "relaying");
    assert_eq!(prod["listeners"], json!(listeners));
    assert_eq!(prod["targets"], json!([target]));
    assert_eq!(
        prod["stats"],
        json!({"bytes_to_target": PAYLOAD, "bytes_from_target": PAYLOAD,
               "connections_active": 0, "connections_total": 1})
    );
    assert!(prod["age_secs"].is_u64());

    let mut status = status_json(&server, &uid);
    // Both measured when asked: the throughput of a session this young, over its whole age.
    status["age_secs"] = prod["age_secs"].clone();
    status["throughput"] = prod["throughput"].clone();
    assert_eq!(&status, prod, "status and list disagree");
    server
        .req("status", &[&uid])
        .assert()
        .success()
        .stdout(contains(format!(
            "listeners    {} -> {target}\n",
            listeners[0]
        )))
        .stdout(contains(format!(
            "             {} -> {target}\n",
            listeners[1]
        )))
        .stdout(contains("connections  0 active, 1 total\n"));

    let released: Value =
        serde_json::from_slice(&server.stdout_of("release", &["--json", &uid])).unwrap();
    assert_eq!(
        released,
        json!({"uid": uid, "s2cs": server.s2cs(), "listeners": listeners, "targets": [target]})
    );
    server
        .req("status", &[&uid])
        .assert()
        .code(5)
        .stderr(contains(format!("no session with uid {uid:?}")));
}

#[test]
fn metrics_count_sessions_connections_bytes_and_calls() {
    let server = TestServer::start(Options {
        metrics: true,
        ..Options::default()
    });
    let metrics = server.metrics.unwrap().to_string();
    let (uid, _, _) = session_with_traffic(&server);
    let text = scrape(&metrics);
    let bytes = PAYLOAD as f64;
    for (series, expected) in [
        ("scistream_sessions{role=\"PROD\"}", 1.0),
        ("scistream_sessions{role=\"CONS\"}", 0.0),
        ("scistream_listeners", 2.0),
        ("scistream_connections_active", 0.0),
        ("scistream_connections_total", 1.0),
        (
            "scistream_relayed_bytes_total{direction=\"to_target\"}",
            bytes,
        ),
        (
            "scistream_relayed_bytes_total{direction=\"from_target\"}",
            bytes,
        ),
        ("scistream_requests_total{rpc=\"req\",code=\"OK\"}", 1.0),
        ("scistream_requests_total{rpc=\"hello\",code=\"OK\"}", 1.0),
        ("scistream_requests_total{rpc=\"update\",code=\"OK\"}", 1.0),
    ] {
        assert_eq!(value(&text, series), expected, "{series} in\n{text}");
    }
    assert!(
        !text.contains("scistream_introspection"),
        "auth is off:\n{text}"
    );

    server.req("release", &[&uid]).assert().success();
    server.req("release", &[&uid]).assert().code(5);
    let text = scrape(&metrics);
    for (series, expected) in [
        ("scistream_sessions{role=\"PROD\"}", 0.0),
        ("scistream_listeners", 0.0),
        // Counters keep what released sessions relayed.
        ("scistream_connections_total", 1.0),
        (
            "scistream_relayed_bytes_total{direction=\"to_target\"}",
            bytes,
        ),
        ("scistream_requests_total{rpc=\"release\",code=\"OK\"}", 1.0),
        (
            "scistream_requests_total{rpc=\"release\",code=\"NotFound\"}",
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), expected, "{series} in\n{text}");
    }
}
