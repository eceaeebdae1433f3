//! Property tests: the uid validator, and random field values for every RPC against an
//! in-process server. Whatever a client sends, the server answers with a precise status, its
//! message never echoes more than a short quoted prefix of the input nor a raw control
//! character, and nothing stays behind in its tables.

use std::time::Duration;

use crate::common::metrics::{scrape, value};
use crate::common::server::{Options, TestServer};
use proptest::collection::vec;
use proptest::prelude::*;
use scistream::limits::{check_uid, MAX_UID_LEN};
use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::quote::{quote, QUOTED_CHARS};
use tonic::transport::Channel;
use tonic::Code;

/// Any text: valid uids, arbitrary Unicode, control characters, values past every bound.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-~]{1,128}",
        "[\\x00-\\x1f\\x7f a-z:\\[\\]]{0,40}",
        vec(any::<char>(), 0..300).prop_map(String::from_iter),
        (1usize..3000).prop_map(|n| "u".repeat(n)),
    ]
}

/// host:port values, mostly well-formed ones.
fn endpoint() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u16..).prop_map(|port| format!("127.0.0.1:{port}")),
        ("[a-z]{1,300}", any::<u16>()).prop_map(|(host, port)| format!("{host}:{port}")),
        text(),
    ]
}

fn endpoints() -> impl Strategy<Value = Vec<String>> {
    vec(endpoint(), 0..8)
}

/// The server under test: few listeners per call, a short hello timeout so that random reqs
/// end quickly.
fn server() -> TestServer {
    TestServer::start(Options {
        max_conn: 4,
        hello_timeout: Duration::from_millis(100),
        port_range: 25000..=25010,
        metrics: true,
        ..Options::default()
    })
}

/// Checks a refusal against the codes `rpc` may answer with and the inputs it was given.
fn check_refusal(rpc: &str, status: &tonic::Status, allowed: &[Code], inputs: &[&str]) {
    assert!(allowed.contains(&status.code()), "{rpc}: {status:?}");
    let message = status.message();
    assert!(
        message.len() <= 600,
        "{rpc}: {} bytes of message",
        message.len()
    );
    assert!(!message.chars().any(char::is_control), "{rpc}: {message:?}");
    for input in inputs {
        let beyond_quote: String = input.chars().take(QUOTED_CHARS + 1).collect();
        if beyond_quote.chars().count() > QUOTED_CHARS {
            assert!(
                !message.contains(&beyond_quote),
                "{rpc} echoes {input:?}: {message}"
            );
        }
    }
}

/// After the calls: no session and no early hello left.
async fn assert_tables_empty(server: &TestServer, client: &mut ControlClient<Channel>) {
    let listed = client.list(pb::ListRequest::default()).await.unwrap();
    assert!(listed.into_inner().sessions.is_empty());
    let metrics = scrape(&server.metrics.unwrap().to_string());
    assert_eq!(value(&metrics, "scistream_early_hellos"), 0.0);
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..config() })]

    #[test]
    fn the_uid_validator_accepts_exactly_short_printable_ascii(uid in text()) {
        let valid = (1..=MAX_UID_LEN).contains(&uid.len()) && uid.bytes().all(|b| b.is_ascii_graphic());
        match check_uid(&uid) {
            Ok(()) => prop_assert!(valid, "{uid:?} accepted"),
            Err(message) => {
                prop_assert!(!valid, "{uid:?} refused: {message}");
                prop_assert!(message.len() <= 200, "{message}");
                prop_assert!(!message.chars().any(char::is_control), "{message:?}");
            }
        }
    }

    #[test]
    fn quoting_shows_a_short_escaped_prefix(value in text()) {
        let quoted = quote(&value);
        prop_assert!(!quoted.chars().any(char::is_control), "{quoted:?}");
        prop_assert!(quoted.len() <= QUOTED_CHARS + 40, "{quoted:?}");
        let plain = value.bytes().all(|b| b.is_ascii_graphic() && b != b'\'');
        let debug = format!("{value:?}");
        if plain && debug.len() <= QUOTED_CHARS + "\"\"".len() {
            prop_assert_eq!(quoted, debug);
        }
    }
}

#[test]
fn random_reqs_get_precise_statuses() {
    let server = server();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(server.grpc());
    let codes = [
        Code::InvalidArgument,
        Code::AlreadyExists,
        Code::DeadlineExceeded,
        Code::ResourceExhausted,
    ];
    let num_conn = prop_oneof![-1..6, any::<i32>()];
    let role = prop_oneof![Just("PROD".to_string()), Just("cons".to_string()), text()];
    let cases = (text(), role, num_conn, any::<i32>());
    proptest!(config(), |((uid, role, num_conn, rate) in cases)| {
        let request = pb::Request { uid: uid.clone(), role: role.clone(), num_conn, rate, ..Default::default() };
        let answer = runtime.block_on(client.clone().req(request));
        check_refusal("req", &answer.unwrap_err(), &codes, &[&uid, &role]);
    });
    runtime.block_on(assert_tables_empty(&server, &mut client.clone()));
}

#[test]
fn random_hellos_get_precise_statuses() {
    let server = server();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(server.grpc());
    let codes = [Code::InvalidArgument, Code::NotFound];
    proptest!(config(), |((uid, role, listeners) in (text(), text(), endpoints()))| {
        let hello = pb::Hello { uid: uid.clone(), prod_listeners: listeners.clone(), role: role.clone() };
        let status = runtime.block_on(client.clone().hello(hello)).unwrap_err();
        let mut inputs = vec![uid.as_str()];
        inputs.extend(listeners.iter().map(String::as_str));
        check_refusal("hello", &status, &codes, &inputs);
    });
    runtime.block_on(assert_tables_empty(&server, &mut client.clone()));
}

#[test]
fn random_updates_releases_and_statuses_get_precise_statuses() {
    let server = server();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(server.grpc());
    let codes = [Code::InvalidArgument, Code::NotFound];
    proptest!(config(), |((uid, role, targets) in (text(), text(), endpoints()))| {
        let update = pb::UpdateTargets { uid: uid.clone(), remote_listeners: targets.clone(), role };
        let status = runtime.block_on(client.clone().update(update)).unwrap_err();
        let mut inputs = vec![uid.as_str()];
        inputs.extend(targets.iter().map(String::as_str));
        check_refusal("update", &status, &codes, &inputs);
        let release = pb::Release { uid: uid.clone() };
        let status = runtime.block_on(client.clone().release(release)).unwrap_err();
        check_refusal("release", &status, &codes, &[&uid]);
        let query = pb::StatusRequest { uid: uid.clone() };
        let status = runtime.block_on(client.clone().status(query)).unwrap_err();
        check_refusal("status", &status, &codes, &[&uid]);
    });
    runtime.block_on(assert_tables_empty(&server, &mut client.clone()));
}

#[test]
fn random_list_page_tokens_get_a_page_or_a_precise_status() {
    let server = server();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(server.grpc());
    let token = prop_oneof![any::<u64>().prop_map(|n| n.to_string()), text()];
    proptest!(config(), |(page_token in token)| {
        let request = pb::ListRequest { page_token: page_token.clone() };
        match runtime.block_on(client.clone().list(request)) {
            Ok(page) => prop_assert!(page.into_inner().sessions.is_empty()),
            Err(status) => check_refusal("list", &status, &[Code::InvalidArgument], &[&page_token]),
        }
    });
    runtime.block_on(assert_tables_empty(&server, &mut client.clone()));
}
