//! `scistream app send|recv|hello` through real gateway chains (servers in-process, sessions
//! set up with the binary).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use crate::common::net::{flipping_proxy, Flow};
use crate::common::programs::link;
use crate::common::pty;
use crate::common::req::{listeners_of, uid_of};
use crate::common::server::{private_loopback, Options, TestServer};
use predicates::str::contains;
use tokio::runtime::Runtime;

/// `scistream app ACTION --listen IP:0 [extra]` as a child, and the address it listens on.
struct ListeningEnd {
    child: Child,
    addr: String,
    _stderr: BufReader<ChildStderr>,
}

impl ListeningEnd {
    fn start(action: &str, extra: &[&str]) -> ListeningEnd {
        let listen = format!("{}:0", private_loopback());
        let mut child = Command::new(env!("CARGO_BIN_EXE_scistream"))
            .args(["app", action, "--listen", &listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("Listening on ")
            .unwrap_or_else(|| panic!("no Listening line: {line:?}"))
            .trim()
            .to_string();
        ListeningEnd {
            child,
            addr,
            _stderr: stderr,
        }
    }

    /// Waits for it to exit; its success and stdout.
    fn finish(mut self) -> (bool, String) {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        (self.child.wait().unwrap().success(), stdout)
    }
}

impl Drop for ListeningEnd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scistream app ACTION --connect ADDR [rest]`.
fn connecting(action: &str, connect: &str, rest: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("scistream").unwrap();
    cmd.args(["app", action, "--connect", connect])
        .args(rest)
        .timeout(Duration::from_secs(120));
    cmd
}

fn send(connect: &str, rest: &[&str]) -> assert_cmd::Command {
    connecting("send", connect, rest)
}

fn recv(connect: &str, rest: &[&str]) -> assert_cmd::Command {
    connecting("recv", connect, rest)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

/// The `checksum: ...` line of a text report.
fn checksum_of(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix("checksum: "))
        .unwrap_or_else(|| panic!("no checksum line in {text:?}"))
}

/// Both `--json` reports name `bytes` in `streams` and the same sha256 checksum.
fn assert_same_transfer(
    sent: &serde_json::Value,
    received: &serde_json::Value,
    bytes: u64,
    streams: u64,
) {
    assert_eq!(sent["bytes"], bytes);
    assert_eq!(sent["streams"], streams);
    assert_eq!(received["bytes"], sent["bytes"]);
    assert_eq!(received["streams"], streams);
    assert_eq!(received["checksum"], sent["checksum"]);
    assert_eq!(sent["checksum"].as_str().unwrap().len(), 64);
}

/// PROD on one gateway relaying to `producer`, CONS on another; returns the CONS listener.
fn chain(prod_gw: &TestServer, cons_gw: &TestServer, producer: &str) -> String {
    let (ip, port) = producer.rsplit_once(':').unwrap();
    let prod = prod_gw.stdout_of(
        "prod",
        &[
            "--num-conn",
            "2",
            "--remote-ip",
            ip,
            "--receiver-ports",
            port,
        ],
    );
    let uid = uid_of(&prod);
    let prod_listeners = listeners_of(&prod).join(",");
    // req cons asks the PROD gateway for the session's hop credential.
    let prod_s2cs = prod_gw.s2cs();
    let prod_cert = prod_gw.dir.path().join(scistream::tls::GENERATED_CERT);
    let prod_cert = prod_cert.to_str().unwrap();
    let mut cons_args = vec!["--num-conn", "1", "--prod-s2cs", &prod_s2cs];
    if prod_gw.tls {
        cons_args.extend(["--prod-server-cert", prod_cert]);
    }
    cons_args.extend([uid.as_str(), prod_listeners.as_str()]);
    let cons = cons_gw.stdout_of("cons", &cons_args);
    listeners_of(&cons).remove(0)
}

#[test]
fn send_and_recv_through_two_gateways_agree_on_the_checksum_over_several_streams() {
    let (prod_gw, cons_gw) = (
        TestServer::start(Options::default()),
        TestServer::start(Options::default()),
    );
    let receiver = ListeningEnd::start("recv", &["--json"]);
    let cons_listener = chain(&prod_gw, &cons_gw, &receiver.addr);

    let sent = send(
        &cons_listener,
        &["--bytes", "3M", "--streams", "3", "--json"],
    )
    .assert()
    .success();
    let sent = json(&String::from_utf8_lossy(&sent.get_output().stdout));
    let (ok, received) = receiver.finish();
    assert!(ok, "recv failed: {received}");
    let received = json(&received);

    assert_same_transfer(&sent, &received, 3 << 20, 3);
    for report in [&sent, &received] {
        assert!(report["seconds"].as_f64().unwrap() > 0.0, "{report}");
        assert!(report["gbit_per_s"].as_f64().unwrap() > 0.0, "{report}");
    }
}

#[test]
fn a_listening_producer_streams_through_two_gateways_to_a_connecting_consumer() {
    let (prod_gw, cons_gw) = (
        TestServer::start(Options::default()),
        TestServer::start(Options::default()),
    );
    let producer = ListeningEnd::start("send", &["--bytes", "3M", "--streams", "3", "--json"]);
    let cons_listener = chain(&prod_gw, &cons_gw, &producer.addr);

    let received = recv(&cons_listener, &["--streams", "3", "--json"])
        .assert()
        .success();
    let received = json(&String::from_utf8_lossy(&received.get_output().stdout));
    let (ok, sent) = producer.finish();
    assert!(ok, "send failed: {sent}");
    let sent = json(&sent);

    assert_same_transfer(&sent, &received, 3 << 20, 3);
}

#[test]
fn a_listening_sender_sends_for_its_time_on_every_stream_and_exits() {
    let sender = ListeningEnd::start("send", &["--seconds", "0.2", "--streams", "2"]);
    let out = recv(&sender.addr, &["--streams", "2"]).assert().success();
    let received = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let (ok, sent) = sender.finish();
    assert!(ok, "{sent}");
    assert!(sent.contains(" over 2 streams"), "{sent}");
    assert!(received.starts_with("received "), "{received}");
    assert_eq!(checksum_of(&received), checksum_of(&sent));
}

#[test]
fn a_connecting_receiver_with_another_stream_count_fails_both_ends() {
    let sender = ListeningEnd::start("send", &["--bytes", "1M", "--streams", "3"]);
    recv(&sender.addr, &["--streams", "2"])
        .assert()
        .failure()
        .stderr(contains("the sender sends 3 streams, not 2"));
    let (ok, sent) = sender.finish();
    assert!(!ok, "send succeeded with a receiver of 2 streams: {sent}");
}

#[test]
fn each_end_takes_exactly_one_side_of_the_connection() {
    let (connect, listen) = ("127.0.0.1:9", "127.0.0.1:0");
    for args in [
        vec!["send", "--bytes", "1"],
        vec!["send", "--connect", connect, "--listen", listen],
        vec!["recv", "--connect", connect, "--listen", listen],
        // A listening receiver learns the count from the sender's headers.
        vec!["recv", "--listen", listen, "--streams", "2"],
    ] {
        let mut cmd = assert_cmd::Command::cargo_bin("scistream").unwrap();
        let run = cmd.arg("app").args(&args).timeout(Duration::from_secs(30));
        run.assert().code(2).stderr(contains("Usage:"));
    }
}

#[test]
fn text_reports_print_the_same_checksum_line_and_no_progress_off_a_terminal() {
    let receiver = ListeningEnd::start("recv", &[]);
    let sent = send(&receiver.addr, &["--bytes", "100000"])
        .assert()
        .success();
    let output = sent.get_output();
    assert!(
        output.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = String::from_utf8_lossy(&output.stdout).into_owned();
    let (ok, received) = receiver.finish();
    assert!(ok);
    assert!(sent.starts_with("sent 100000 bytes "), "{sent}");
    assert!(received.starts_with("received 100000 bytes "), "{received}");
    assert_eq!(checksum_of(&sent), checksum_of(&received));
}

#[test]
fn send_shows_its_progress_on_a_terminal() {
    let receiver = ListeningEnd::start("recv", &[]);
    let (terminal, mut screen) = pty::open();
    let sender = Command::new(env!("CARGO_BIN_EXE_scistream"))
        .env("TERM", "xterm-256color")
        .args(["app", "send", "--connect", &receiver.addr, "--bytes", "16M"])
        .stdout(Stdio::piped())
        .stderr(terminal)
        .spawn()
        .unwrap();
    screen.wait_for("/16.00 MiB");
    let out = sender.wait_with_output().unwrap();
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.starts_with("sent 16777216 bytes"), "{report}");
    assert!(!report.contains("MiB/"), "progress on stdout: {report}");
    assert!(receiver.finish().0);
}

#[test]
fn different_data_gives_a_different_checksum() {
    let mut checksums = Vec::new();
    for _ in 0..2 {
        let receiver = ListeningEnd::start("recv", &[]);
        send(&receiver.addr, &["--bytes", "5000"])
            .assert()
            .success();
        let (_, received) = receiver.finish();
        checksums.push(checksum_of(&received).to_string());
    }
    assert_ne!(
        checksums[0], checksums[1],
        "each run sends fresh random data"
    );
}

#[test]
fn recv_ignores_a_stranger_and_still_takes_the_sender() {
    let receiver = ListeningEnd::start("recv", &[]);
    let mut stranger = TcpStream::connect(&receiver.addr).unwrap();
    stranger
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    send(&receiver.addr, &["--seconds", "0.2", "--streams", "2"])
        .assert()
        .success();
    let (ok, received) = receiver.finish();
    assert!(ok, "{received}");
    assert!(received.contains(" over 2 streams"), "{received}");
}

#[test]
fn corrupted_data_fails_both_ends() {
    let receiver = ListeningEnd::start("recv", &[]);
    let rt = Runtime::new().unwrap();
    // Byte 1000 is well inside the first frame's payload.
    let proxy = rt.block_on(flipping_proxy(receiver.addr.clone(), Flow::Up, 1000));
    send(&proxy.to_string(), &["--bytes", "4096"])
        .assert()
        .failure()
        .stderr(contains("the receiver did not confirm"));
    let (ok, _) = receiver.finish();
    assert!(!ok, "recv accepted corrupted data");
}

#[test]
fn app_hello_registers_the_producer_with_a_waiting_req_prod() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let mut prod = waiting_prod(&server);
    let uid = read_uid(&mut prod);
    let mut hello = server.cli();
    hello
        .args(["app", "hello", "--s2cs", &server.s2cs(), &uid, "--json"])
        .args(["--prod-listeners", "127.0.0.1:7101,127.0.0.1:7102"])
        .timeout(Duration::from_secs(60));
    let out = hello.assert().success();
    let reply = json(&String::from_utf8_lossy(&out.get_output().stdout));
    assert_eq!(reply["uid"], uid.as_str());
    assert_eq!(reply["listeners"].as_array().unwrap().len(), 2);
    let listeners = finish_prod(prod);
    assert_eq!(serde_json::json!(listeners), reply["listeners"]);
    assert_eq!(targets(&server, &uid), ["127.0.0.1:7101", "127.0.0.1:7102"]);
}

/// `req prod --num-conn 2 --plaintext-hop` with no producer ports: it waits for an app
/// controller's hello.
fn waiting_prod(server: &TestServer) -> Child {
    Command::new(env!("CARGO_BIN_EXE_scistream"))
        .arg("--config")
        .arg(server.config())
        .args(["req", "prod", "--s2cs", &server.s2cs(), "--num-conn", "2"])
        // The tests connect to the PROD listeners directly, not through a CONS gateway.
        .arg("--plaintext-hop")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The uid from the header `req prod` prints before it waits.
fn read_uid(prod: &mut Child) -> String {
    let mut stdout = BufReader::new(prod.stdout.as_mut().unwrap());
    let mut lines = String::new();
    for _ in 0..2 {
        stdout.read_line(&mut lines).unwrap();
    }
    uid_of(lines.as_bytes())
}

fn finish_prod(prod: Child) -> Vec<String> {
    let out = prod.wait_with_output().unwrap();
    assert!(out.status.success());
    listeners_of(&out.stdout)
}

/// The session's targets, as `req status --json` shows them.
fn targets(server: &TestServer, uid: &str) -> Vec<String> {
    let status = json(&String::from_utf8_lossy(
        &server.stdout_of("status", &["--json", uid]),
    ));
    serde_json::from_value(status["targets"].clone()).unwrap()
}

/// A working directory for `appctrl`: the name as a symlink to the binary, and the server's
/// certificate as ./server.crt.
fn appctrl_dir(server: &TestServer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    link(dir.path(), "appctrl");
    std::fs::copy(
        server.dir.path().join("server.crt"),
        dir.path().join("server.crt"),
    )
    .unwrap();
    dir
}

fn appctrl(dir: &tempfile::TempDir, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(dir.path().join("appctrl"));
    cmd.current_dir(dir.path())
        .args(args)
        .timeout(Duration::from_secs(120));
    cmd
}

#[test]
fn appctrl_mock_delivers_upstreams_producer_ports_to_a_waiting_req_prod() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let dir = appctrl_dir(&server);
    let mut prod = waiting_prod(&server);
    let uid = read_uid(&mut prod);
    let ip = private_loopback().to_string();
    appctrl(
        &dir,
        &["mock", &uid, &server.s2cs(), "INVALID_TOKEN", "PROD", &ip],
    )
    .assert()
    .success()
    .stdout(contains("AppCtrl: Hello sent\nCreated AppCtrl instance\n"));
    assert_eq!(finish_prod(prod).len(), 2);
    let ports = ["5074", "5075", "5076", "37000", "47000"];
    let expected: Vec<String> = ports.iter().map(|p| format!("{ip}:{p}")).collect();
    let session = json(&String::from_utf8_lossy(
        &server.stdout_of("status", &["--json", &uid]),
    ));
    assert_eq!(session["prod_listeners"], serde_json::json!(expected));
}

#[test]
fn appctrl_mock_cons_names_the_role_the_session_has() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let dir = appctrl_dir(&server);
    let uid = &uid_of(&server.prod("1", "7001", &[]));
    appctrl(
        &dir,
        &["mock", uid, &server.s2cs(), "INVALID_TOKEN", "CONS"],
    )
    .assert()
    .success()
    .stdout(contains(format!("AppCtrl: PROD session {uid} listens on ")));
}

#[test]
fn appctrl_create_appctrl_prod_sends_the_traffic_test_on_the_first_producer_port() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let dir = appctrl_dir(&server);
    let mut prod = waiting_prod(&server);
    let uid = read_uid(&mut prod);
    // Its own loopback address, so port 5074 is free for this test alone.
    let ip = private_loopback().to_string();
    let mut controller = std::process::Command::new(dir.path().join("appctrl"))
        .current_dir(dir.path())
        .args([
            "create-appctrl",
            &uid,
            &server.s2cs(),
            "INVALID_TOKEN",
            "PROD",
            &ip,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let listeners = finish_prod(prod);
    let received = recv(&listeners[0], &[]).assert().success();
    let received = String::from_utf8_lossy(&received.get_output().stdout).into_owned();
    let mut sent = String::new();
    controller
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut sent)
        .unwrap();
    assert!(controller.wait().unwrap().success(), "{sent}");
    assert!(
        sent.contains(&format!("AppCtrl: sending on {ip}:5074 for 10 s")),
        "{sent}"
    );
    assert_eq!(checksum_of(&sent), checksum_of(&received));
}

#[test]
fn appctrl_gives_up_after_five_attempts_when_no_server_answers() {
    let server = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let dir = appctrl_dir(&server);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = appctrl(&dir, &["mock", "u-1", &closed, "INVALID_TOKEN", "PROD"])
        .assert()
        .code(4)
        .stderr(contains("AppCtrl: Failed after 5 attempts"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("AppCtrl WARNING").count(), 4, "{stdout}");
}

#[test]
fn app_hello_for_an_unknown_session_fails_at_once_with_not_found() {
    let server = TestServer::start(Options {
        hello_timeout: Duration::from_secs(1),
        ..Options::default()
    });
    let mut hello = server.cli();
    hello
        .args([
            "app",
            "hello",
            "--no-tls",
            "--s2cs",
            &server.s2cs(),
            "no-such-session",
        ])
        .args(["--prod-listeners", "127.0.0.1:7101"])
        .timeout(Duration::from_secs(60));
    let out = hello.assert().code(5);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    // The server already waited for the req to appear: trying again cannot help.
    assert!(!stderr.contains("trying again"), "{stderr}");
    assert!(stderr.contains("no-such-session"), "{stderr}");
}

#[test]
fn appctrl_create_appctrl_cons_receives_from_the_sessions_first_listener() {
    let tls = || Options {
        tls: true,
        ..Options::default()
    };
    let (prod_gw, cons_gw) = (TestServer::start(tls()), TestServer::start(tls()));
    let producer = ListeningEnd::start("send", &["--bytes", "1M"]);
    let cons_listener = chain(&prod_gw, &cons_gw, &producer.addr);
    let session = json(&String::from_utf8_lossy(
        &cons_gw.stdout_of("list", &["--json"]),
    ));
    let uid = session[0]["uid"].as_str().unwrap().to_string();
    let dir = appctrl_dir(&cons_gw);
    let out = appctrl(
        &dir,
        &[
            "create-appctrl",
            &uid,
            &cons_gw.s2cs(),
            "INVALID_TOKEN",
            "CONS",
        ],
    )
    .assert()
    .success();
    let received = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        received.contains(&format!(
            "AppCtrl: CONS session {uid} listens on {cons_listener}"
        )),
        "{received}"
    );
    assert!(
        received.contains(&format!("AppCtrl: receiving from {cons_listener}")),
        "{received}"
    );
    assert!(received.contains("received 1048576 bytes"), "{received}");
    let (ok, sent) = producer.finish();
    assert!(ok, "{sent}");
    assert_eq!(checksum_of(&received), checksum_of(&sent));
}
