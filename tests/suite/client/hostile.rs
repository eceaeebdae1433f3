//! A hostile control server: pages of sessions that never end, and terminal escapes in
//! everything it sends. The client stops, and prints nothing raw.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use scistream::pb;
use scistream::pb::control_server::Control;
use tokio::runtime::Runtime;
use tonic::{Request, Response, Status};

use super::front::serve_control;
use crate::common::net::TEST_LIMIT;
use crate::common::user::{stderr, stdout};

/// What a server would print in green to fake a success, and clear the screen with.
const FORGED: &str = "\u{1b}[32mRelease completed\u{1b}[0m\u{1b}[2J\u{9b}1A";
/// How the client shows the start of [`FORGED`].
const SHOWN: &str = r"\u{1b}[32mRelease completed";

/// How `list` pages.
#[derive(Clone, Copy)]
enum Pages {
    /// One page.
    One,
    /// Tokens "a", "b", "a", "b"...
    Circle,
    /// A new token on every page.
    Endless,
}

struct Hostile {
    pages: Pages,
    list_calls: Arc<AtomicUsize>,
}

fn forged_session() -> pb::SessionInfo {
    pb::SessionInfo {
        uid: format!("u-{FORGED}"),
        role: "PROD".into(),
        state: "relaying".into(),
        listeners: vec![format!("{FORGED}:1")],
        targets: vec![format!("{FORGED}:2")],
        ..Default::default()
    }
}

fn forged_response() -> Response<pb::Response> {
    Response::new(pb::Response {
        listeners: vec![format!("{FORGED}:1")],
        prod_listeners: vec![format!("{FORGED}:2")],
    })
}

#[tonic::async_trait]
impl Control for Hostile {
    async fn req(&self, _: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        Ok(forged_response())
    }
    async fn update(
        &self,
        _: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        Ok(forged_response())
    }
    async fn release(&self, _: Request<pb::Release>) -> Result<Response<pb::Response>, Status> {
        Err(Status::not_found(FORGED))
    }
    async fn hello(&self, _: Request<pb::Hello>) -> Result<Response<pb::AppResponse>, Status> {
        Ok(Response::new(pb::AppResponse {
            message: FORGED.into(),
            listeners: vec![format!("{FORGED}:1")],
        }))
    }
    async fn list(&self, r: Request<pb::ListRequest>) -> Result<Response<pb::SessionList>, Status> {
        let call = self.list_calls.fetch_add(1, Ordering::Relaxed);
        let next_page_token = match self.pages {
            Pages::One => String::new(),
            Pages::Circle if r.get_ref().page_token == "a" => "b".into(),
            Pages::Circle => "a".into(),
            Pages::Endless => format!("page-{call}"),
        };
        Ok(Response::new(pb::SessionList {
            sessions: vec![forged_session()],
            next_page_token,
        }))
    }
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        Ok(Response::new(forged_session()))
    }
    async fn hop(&self, _: Request<pb::HopRequest>) -> Result<Response<pb::HopCredential>, Status> {
        Err(Status::unimplemented(FORGED))
    }
    async fn update_hop(
        &self,
        _: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        Err(Status::unimplemented(FORGED))
    }
}

/// A hostile server paging as `pages` says; its address and the count of its list calls.
fn hostile(rt: &Runtime, pages: Pages) -> (String, Arc<AtomicUsize>) {
    let list_calls = Arc::new(AtomicUsize::new(0));
    let service = Hostile {
        pages,
        list_calls: list_calls.clone(),
    };
    (serve_control(rt, service).to_string(), list_calls)
}

/// `scistream ARGS` with a config of its own.
fn scistream(config: &tempfile::TempDir, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"));
    cmd.env_clear()
        .arg("--config")
        .arg(config.path().join("config.yaml"))
        .args(args)
        .timeout(TEST_LIMIT);
    cmd
}

#[test]
fn req_list_stops_when_the_page_tokens_go_in_a_circle() {
    let rt = Runtime::new().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (s2cs, calls) = hostile(&rt, Pages::Circle);
    let out = scistream(&config, &["req", "list", "--no-tls", "--s2cs", &s2cs])
        .assert()
        .code(1);
    let err = stderr(out.get_output());
    assert!(err.contains("circle"), "{err}");
    assert!(
        calls.load(Ordering::Relaxed) <= 3,
        "followed {calls:?} pages"
    );
}

#[test]
fn req_list_stops_after_64_pages() {
    let rt = Runtime::new().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (s2cs, calls) = hostile(&rt, Pages::Endless);
    let out = scistream(&config, &["req", "list", "--no-tls", "--s2cs", &s2cs])
        .assert()
        .code(1);
    let err = stderr(out.get_output());
    assert!(err.contains("more than 64 pages"), "{err}");
    assert_eq!(calls.load(Ordering::Relaxed), 64);
}

#[test]
fn nothing_a_hostile_server_sends_reaches_the_terminal_raw() {
    let rt = Runtime::new().unwrap();
    let config = tempfile::tempdir().unwrap();
    let (s2cs, _) = hostile(&rt, Pages::One);
    let server = ["--no-tls", "--s2cs", s2cs.as_str()];
    let prod = [
        "--plaintext-hop",
        "--num-conn",
        "1",
        "--remote-ip",
        "127.0.0.1",
        "--receiver-ports",
        "9",
    ];
    let commands: Vec<Vec<&str>> = vec![
        [&["req", "list"][..], &server].concat(),
        [&["req", "list", "--json"][..], &server].concat(),
        [&["req", "status"][..], &server, &["u-1"]].concat(),
        [&["req", "status", "--json"][..], &server, &["u-1"]].concat(),
        [&["req", "prod"][..], &server, &prod].concat(),
        [&["req", "prod", "--json"][..], &server, &prod].concat(),
        [&["req", "release"][..], &server, &["u-1"]].concat(),
        [&["req", "release", "--json"][..], &server, &["u-1"]].concat(),
        [
            &["app", "hello"][..],
            &server,
            &["u-1", "--prod-listeners", "127.0.0.1:9"],
        ]
        .concat(),
        [
            &["app", "hello", "--json"][..],
            &server,
            &["u-1", "--prod-listeners", "127.0.0.1:9"],
        ]
        .concat(),
    ];
    for args in commands {
        let out = scistream(&config, &args).output().unwrap();
        let (printed, err) = (stdout(&out), stderr(&out));
        for text in [&printed, &err] {
            assert!(
                !text.contains(['\u{1b}', '\u{9b}']),
                "{args:?} printed an escape: {text:?}"
            );
        }
        // What the server sent is shown, escaped (in JSON, with its backslash escaped too).
        let shown = printed.replace(r"\\", r"\") + &err;
        assert!(shown.contains(SHOWN), "{args:?}: {printed}{err}");
    }
}
