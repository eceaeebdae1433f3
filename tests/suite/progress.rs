//! The spinner `req prod|cons` shows while it waits: on stderr when stderr is a terminal, and
//! never in pipes or with --json.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use crate::common::pty;
use crate::common::server::{Options, TestServer};
use scistream::pb;

/// `scistream req ACTION` against `server`, as a user's shell would start it.
fn req(server: &TestServer, action: &str, args: &[&str], stderr: Stdio) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scistream"));
    cmd.env_clear()
        .env("TERM", "xterm-256color")
        .arg("--config")
        .arg(server.config())
        .args([
            "req",
            action,
            "--no-tls",
            "--s2cs",
            &server.s2cs(),
            "--num-conn",
            "1",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr);
    cmd
}

/// Starts a `req prod` that waits for an app controller's hello; returns it and its uid.
fn prod_waiting_for_hello(server: &TestServer, stderr: Stdio) -> (Child, String) {
    let mut child = req(server, "prod", &[], stderr).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // These four lines are all it prints before it waits, so the reader buffers nothing more.
    while lines.last().is_none_or(|l| l != "started client request") {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "exited early: {lines:?}"
        );
        lines.push(line.trim_end().to_owned());
    }
    let uid = lines[1].split(' ').next().unwrap().to_owned();
    child.stdout = Some(stdout.into_inner());
    (child, uid)
}

/// What the app controller does: tells the server where the producer listens.
fn send_hello(server: &TestServer, uid: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let hello = pb::Hello {
            uid: uid.into(),
            prod_listeners: vec!["127.0.0.1:9".into()],
            role: "PROD".into(),
        };
        server.grpc().await.hello(hello).await.unwrap();
    });
}

fn succeeded(child: Child) -> Output {
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    output
}

#[test]
fn on_a_terminal_the_spinner_says_what_it_waits_for_and_goes_away() {
    let server = TestServer::start(Options::default());
    let (tty, mut terminal) = pty::open();
    let (child, uid) = prod_waiting_for_hello(&server, tty.into());
    let waiting = format!("waiting for the hello of session {uid} from its app controller [");
    terminal.wait_for(&waiting);
    send_hello(&server, &uid);
    let output = succeeded(child);
    assert!(String::from_utf8_lossy(&output.stdout).contains("Listeners: "));
    let shown = terminal.rest();
    let last = shown.rfind(&waiting).unwrap();
    let elapsed = &shown[last + waiting.len()..];
    assert!(
        elapsed.starts_with(|c: char| c.is_ascii_digit()),
        "{shown:?}"
    );
    // The last thing drawn erases the spinner's line.
    assert!(
        shown.trim_end_matches('\r').ends_with("\x1b[2K"),
        "{shown:?}"
    );
}

#[test]
fn in_a_pipe_stderr_stays_empty_while_waiting() {
    let server = TestServer::start(Options::default());
    let (child, uid) = prod_waiting_for_hello(&server, Stdio::piped());
    send_hello(&server, &uid);
    let stderr = String::from_utf8_lossy(&succeeded(child).stderr).into_owned();
    // No spinner: only the warning that this server checks no tokens, as plain lines.
    let open = format!("warning: s2cs {} has authentication off: ", server.s2cs());
    assert!(stderr.lines().all(|l| l.starts_with(&open)), "{stderr:?}");
    assert!(!stderr.contains(['\r', '\u{1b}']), "{stderr:?}");
}

#[test]
fn with_json_on_a_terminal_nothing_is_drawn() {
    let server = TestServer::start(Options::default());
    let (tty, terminal) = pty::open();
    let child = req(
        &server,
        "cons",
        &["--json", "--plaintext-hop", "u-1", "127.0.0.1:9"],
        tty.into(),
    )
    .spawn()
    .unwrap();
    let output = succeeded(child);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["uid"], "u-1");
    assert_eq!(terminal.rest(), "");
}
