//! Live upgrades: a new server process takes over the running one's listeners, sessions and
//! plain relayed connections (`--take-over`, or SIGHUP with the binary now on disk) while
//! streams flow; encrypted connections drain in the old process; no connect is refused; a
//! failed handover leaves the old process serving.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::metrics::{scrape, value};
use crate::common::net::{echo, serve, TEST_LIMIT};
use crate::common::oauth::OAuthServer;
use crate::common::server_process::{server_words, ServerProcess};
use crate::common::site::{json, status, strings, Site};
use crate::common::user::User;
use tokio::runtime::Runtime;

/// How long a condition may take to come true before a test gives up.
const DEADLINE: Duration = Duration::from_secs(120);

/// A site's server flags for these tests: its own, a rate policy whose buckets park and
/// resume with the connections, and metrics, then `more`.
/// The site's flags, `--rate-policy limit`, metrics on the site's address, then `more`.
fn flags(site: &Site, more: &[&str]) -> Vec<String> {
    let metrics = format!("{}:0", site.ip);
    let ours = ["--rate-policy", "limit", "--metrics", &metrics];
    site.args(&[&ours[..], more].concat())
}

fn start(site: &Site, auth: &OAuthServer, more: &[&str]) -> ServerProcess {
    let args = flags(site, more);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start(auth, site.setup(&args))
}

fn handover_socket(site: &Site) -> PathBuf {
    site.state_dir().join("handover.sock")
}

/// A new process that takes over from the one running.
fn take_over(site: &Site, auth: &OAuthServer) -> ServerProcess {
    let socket = handover_socket(site);
    start(site, auth, &["--take-over", socket.to_str().unwrap()])
}

/// Waits (polling, up to [`DEADLINE`]) until `condition` holds.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `scistream app ARGS`, its output piped.
fn app(args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("scistream"))
        .arg("app")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A producer that sends `bytes` to the first connection it accepts: it and its address.
fn producer(bytes: &str) -> (Child, u16) {
    let mut child = app(&["send", "--listen", "127.0.0.1:0", "--bytes", bytes]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("Listening on ")
        .unwrap()
        .parse()
        .unwrap();
    (child, addr.port())
}

/// The checksum a finished `app send` or `app recv` printed.
fn checksum(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text.lines().find_map(|l| l.strip_prefix("checksum: "));
    line.unwrap_or_else(|| panic!("no checksum in {text}"))
        .to_string()
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Connects to each address again and again until dropped, counting the connects refused.
struct ConnectLoop {
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    tried: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectLoop {
    fn start(addrs: Vec<String>) -> ConnectLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let (refused, tried) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let thread = {
            let (stop, refused, tried) = (stop.clone(), refused.clone(), tried.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for addr in &addrs {
                        tried.fetch_add(1, Ordering::Relaxed);
                        let addr: SocketAddr = addr.parse().unwrap();
                        if TcpStream::connect_timeout(&addr, TEST_LIMIT).is_err() {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // Within the sessions' new-connection rate.
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        ConnectLoop {
            stop,
            refused,
            tried,
            thread: Some(thread),
        }
    }

    /// Stops it; how many connects it tried, and how many were refused.
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (
            self.tried.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

/// How many connections the new process's log says it took over.
fn taken_over(server: &ServerProcess) -> usize {
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("took_over"))
        .unwrap_or_else(|| panic!("{log}"));
    let count = line
        .split("connections=")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"));
    let digits: String = count.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// Waits until the old process, having handed over, has exited by itself.
fn exits(mut old: ServerProcess) -> String {
    eventually("the old process exits", || !old.is_running());
    old.log()
}

fn bytes_from_target(user: &User, server: &str, uid: &str) -> u64 {
    status(user, server, uid)["stats"]["bytes_from_target"]
        .as_u64()
        .unwrap()
}

/// `req WORDS`, then what every session here has: 2 connections, rate-capped, listener 0 to
/// the producer, 1 to the echo server; its reply's uid and listeners.
fn open(user: &User, words: &[&str], producer: u16, echo: SocketAddr) -> (String, Vec<String>) {
    let ports = format!("{producer},{}", echo.port());
    let mut args = vec!["req"];
    args.extend_from_slice(words);
    args.extend(["-q", "--no-tls", "--num-conn", "2", "--rate", "4G"]);
    args.extend([
        "--remote-ip",
        "127.0.0.1",
        "--receiver-ports",
        &ports,
        "--json",
    ]);
    let opened = json(&user.cmd(&args).timeout(TEST_LIMIT).assert().success());
    if words[0] == "stream" {
        assert_eq!(opened["hop"], "encrypted", "{opened}");
    }
    (
        opened["uid"].as_str().unwrap().to_string(),
        strings(&opened["listeners"]),
    )
}

/// A PROD session, plaintext hop: uid, listeners.
fn open_prod(user: &User, server: &str, producer: u16, echo: SocketAddr) -> (String, Vec<String>) {
    let words = ["prod", "--s2cs", server, "--plaintext-hop"];
    open(user, &words, producer, echo)
}

#[test]
fn two_upgrades_in_a_row_in_the_middle_of_a_2_gib_plain_transfer_lose_no_byte_and_refuse_no_connect(
) {
    let rt = Runtime::new().unwrap();
    let (echo_addr, _echo) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(22100);
    let old = start(&site, &auth, &[]);
    let (sender, port) = producer("2G");
    let (uid, listeners) = open_prod(&user, &old.addr, port, echo_addr);
    let connects = ConnectLoop::start(vec![listeners[1].clone(), old.addr.clone()]);
    let receiver = app(&["recv", "--connect", &listeners[0]]);

    // Well into the transfer, the consumer stops reading: bytes wait in the relay's pipe.
    eventually("64 MiB went through", || {
        bytes_from_target(&user, &old.addr, &uid) > 64 << 20
    });
    signal(&receiver, libc::SIGSTOP);
    let age = |server: &ServerProcess| status(&user, &server.addr, &uid)["age_secs"].as_u64();
    eventually("the session is a second old", || age(&old) >= Some(1));
    let new = take_over(&site, &auth);
    assert_eq!(new.addr, old.addr, "the same control listener");
    assert!(taken_over(&new) >= 1, "{}", new.log());
    // Its age counts from when it was opened, not from the new process's start.
    assert!(age(&new) >= Some(1));
    let log = exits(old);
    assert!(log.contains("handed_over"), "{log}");
    signal(&receiver, libc::SIGCONT);

    // The second upgrade while the stream flows; the next process counts both.
    let newer = take_over(&site, &auth);
    let log = exits(new);
    assert!(log.contains("handed_over"), "{log}");
    assert_eq!(checksum(receiver), checksum(sender));
    let (tried, refused) = connects.finish();
    assert!(tried > 0);
    assert_eq!(refused, 0, "of {tried} connects");

    let status = status(&user, &newer.addr, &uid);
    // The payload and the app's framing, counted on from process to process.
    let counted = status["stats"]["bytes_from_target"].as_u64().unwrap();
    assert!(counted > 2 << 30, "{status}");
    assert_eq!(strings(&status["listeners"]), listeners);
    let metrics = scrape(newer.metrics.as_ref().unwrap());
    assert_eq!(
        value(&metrics, "scistream_handovers_total"),
        2.0,
        "{metrics}"
    );
}

/// A stream through a PROD and a CONS gateway (encrypted hop): uid, CONS listeners.
fn open_stream(
    user: &User,
    prod: &str,
    cons: &str,
    producer: u16,
    echo: SocketAddr,
) -> (String, Vec<String>) {
    let words = ["stream", "--prod-s2cs", prod, "--cons-s2cs", cons];
    open(user, &words, producer, echo)
}

#[test]
fn upgrading_both_gateways_of_an_encrypted_chain_lets_its_stream_drain_in_the_old_processes() {
    let rt = Runtime::new().unwrap();
    let (echo_addr, _echo) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let (prod_site, cons_site) = (Site::new(22200), Site::new(22300));
    let mut old_prod = start(&prod_site, &auth, &[]);
    let mut old_cons = start(&cons_site, &auth, &[]);
    let (sender, port) = producer("2G");
    let (uid, listeners) = open_stream(&user, &old_prod.addr, &old_cons.addr, port, echo_addr);
    let addrs = vec![
        listeners[1].clone(),
        old_prod.addr.clone(),
        old_cons.addr.clone(),
    ];
    let connects = ConnectLoop::start(addrs);
    let receiver = app(&["recv", "--connect", &listeners[0]]);

    eventually("64 MiB went through", || {
        bytes_from_target(&user, &old_cons.addr, &uid) > 64 << 20
    });
    signal(&receiver, libc::SIGSTOP);
    let new_prod = take_over(&prod_site, &auth);
    let new_cons = take_over(&cons_site, &auth);
    // Its TLS state lives in the old processes: the stream stays there.
    for new in [&new_prod, &new_cons] {
        assert_eq!(taken_over(new), 0, "{}", new.log());
    }
    // New connections go to the new processes, through the same listeners, while the old ones
    // still hold the stopped stream (they stopped accepting when they handed over).
    let status_new = status(&user, &new_cons.addr, &uid);
    assert_eq!(strings(&status_new["listeners"]), listeners);
    assert_echoed(&listeners[1], b"while the old drains");
    assert!(old_prod.is_running() && old_cons.is_running());
    signal(&receiver, libc::SIGCONT);
    assert_eq!(checksum(receiver), checksum(sender));
    for old in [old_prod, old_cons] {
        let log = exits(old);
        assert!(log.contains("handed_over"), "{log}");
    }
    let (tried, refused) = connects.finish();
    assert!(tried > 0);
    assert_eq!(refused, 0, "of {tried} connects");
    // The new processes relay the session's new connections over the hop.
    assert_echoed(&listeners[1], b"after the upgrade");
}

/// Sends `message` through `listener` (relayed to the echo server) and reads it back.
fn assert_echoed(listener: &str, message: &[u8]) {
    let mut through = TcpStream::connect(listener).unwrap();
    through.set_read_timeout(Some(TEST_LIMIT)).unwrap();
    through.write_all(message).unwrap();
    let mut echoed = vec![0u8; message.len()];
    through.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, message);
}

#[test]
fn an_encrypted_stream_still_open_at_the_drain_timeout_is_cut_and_the_old_process_exits() {
    let rt = Runtime::new().unwrap();
    let (echo_addr, _echo) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let (prod_site, cons_site) = (Site::new(22700), Site::new(22800));
    let prod = start(&prod_site, &auth, &[]);
    let old_cons = start(&cons_site, &auth, &["--drain-timeout", "1"]);
    let (mut sender, port) = producer("512M");
    let (uid, listeners) = open_stream(&user, &prod.addr, &old_cons.addr, port, echo_addr);
    let receiver = app(&["recv", "--connect", &listeners[0]]);
    eventually("1 MiB went through", || {
        bytes_from_target(&user, &old_cons.addr, &uid) > 1 << 20
    });
    // Stopped, the consumer holds its stream open past the drain timeout.
    signal(&receiver, libc::SIGSTOP);
    let new_cons = take_over(&cons_site, &auth);
    let log = exits(old_cons);
    assert!(log.contains("drain_timeout"), "{log}");
    signal(&receiver, libc::SIGCONT);
    let cut = receiver.wait_with_output().unwrap();
    assert!(!cut.status.success(), "the stream was not cut");
    sender.kill().unwrap();
    sender.wait().unwrap();
    // The new process relays the session's new connections.
    assert_echoed(&listeners[1], b"after the drain");
    assert_eq!(
        strings(&status(&user, &new_cons.addr, &uid)["listeners"]),
        listeners
    );
}

#[test]
fn a_handed_over_session_holds_its_owners_quota_in_the_new_process() {
    let rt = Runtime::new().unwrap();
    let (echo_addr, _echo) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(22900);
    let quota = ["--quota-sessions", "1"];
    let old = start(&site, &auth, &quota);
    let (uid, _) = open_prod(&user, &old.addr, echo_addr.port(), echo_addr);
    let socket = handover_socket(&site);
    let take_over = ["--take-over", socket.to_str().unwrap()];
    let new = start(&site, &auth, &[&quota[..], &take_over].concat());
    exits(old);
    let port = echo_addr.port().to_string();
    let words = [
        "--s2cs",
        &new.addr,
        "--plaintext-hop",
        "--remote-ip",
        "127.0.0.1",
    ];
    let args = [
        &["req", "prod", "-q", "--no-tls"][..],
        &words,
        &["--receiver-ports", &port],
    ];
    let refused = user
        .cmd(&args.concat())
        .timeout(TEST_LIMIT)
        .assert()
        .failure();
    let error = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(error.contains("sessions quota"), "{error}");
    // Released there, its place is free again.
    let release = [
        "req", "release", "-q", "--no-tls", "--s2cs", &new.addr, &uid,
    ];
    user.cmd(&release).timeout(TEST_LIMIT).assert().success();
    open_prod(&user, &new.addr, echo_addr.port(), echo_addr);
}

#[test]
fn a_take_over_with_another_state_directory_is_refused_and_the_old_process_serves_on() {
    let rt = Runtime::new().unwrap();
    let (echo_addr, _echo) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(22400);
    let old = start(&site, &auth, &[]);
    let (uid, _) = open_prod(&user, &old.addr, echo_addr.port(), echo_addr);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("scistream"))
        .args([
            "--config",
            elsewhere.path().join("config.yaml").to_str().unwrap(),
        ])
        .args([
            "server",
            "--no-tls",
            "--port",
            "0",
            "--bind",
            &site.ip,
            "--listener-ip",
            &site.ip,
        ])
        .args([
            "--state-dir",
            elsewhere.path().join("state").to_str().unwrap(),
        ])
        .args(["--take-over", handover_socket(&site).to_str().unwrap()])
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{error}");
    assert!(
        error.contains("keeps its sessions in") && error.contains("goes on serving"),
        "{error}"
    );
    // It refuses, then logs (and counts) the failure.
    eventually("the old process logs the failed handover", || {
        old.log().contains("handover_failed")
    });
    // Still the gateway: its sessions answer, and it opens new ones.
    status(&user, &old.addr, &uid);
    open_prod(&user, &old.addr, echo_addr.port(), echo_addr);
    let metrics = scrape(old.metrics.as_ref().unwrap());
    assert_eq!(
        value(&metrics, "scistream_handovers_failed_total"),
        1.0,
        "{metrics}"
    );
}

/// One message of the handover protocol, as frames: a header (length, fd count) then the JSON.
fn send_frames(socket: &rustix::fd::OwnedFd, message: &serde_json::Value) {
    let bytes = serde_json::to_vec(message).unwrap();
    let header = [(bytes.len() as u64).to_le_bytes(), 0u64.to_le_bytes()].concat();
    for frame in [&header[..], &bytes[..]] {
        rustix::net::send(socket, frame, rustix::net::SendFlags::empty()).unwrap();
    }
}

/// The JSON of the next message (its fds discarded by the kernel: no room for them).
fn receive_frames(socket: &rustix::fd::OwnedFd) -> serde_json::Value {
    let mut frame = vec![0u8; 64 << 10];
    let n = rustix::net::recv(socket, &mut frame, rustix::net::RecvFlags::empty())
        .unwrap()
        .0;
    let len = u64::from_le_bytes(frame[..8].try_into().unwrap()) as usize;
    assert_eq!(n, 16);
    let mut bytes = Vec::new();
    while bytes.len() < len {
        let n = rustix::net::recv(socket, &mut frame, rustix::net::RecvFlags::empty())
            .unwrap()
            .0;
        bytes.extend_from_slice(&frame[..n]);
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_new_process_that_dies_after_the_manifest_leaves_every_stream_running_in_the_old_one() {
    let rt = Runtime::new().unwrap();
    let (echo_addr, _echo) = rt.block_on(serve(echo));
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let site = Site::new(22500);
    let old = start(&site, &auth, &[]);
    let (sender, port) = producer("512M");
    let (uid, listeners) = open_prod(&user, &old.addr, port, echo_addr);
    let receiver = app(&["recv", "--connect", &listeners[0]]);
    eventually("1 MiB went through", || {
        bytes_from_target(&user, &old.addr, &uid) > 1 << 20
    });
    signal(&receiver, libc::SIGSTOP);

    // A stand-in for the new process: it says hello, takes the manifest, and hangs up.
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};
    let socket = rustix::net::socket(AddressFamily::UNIX, SocketType::SEQPACKET, None).unwrap();
    rustix::net::connect(
        &socket,
        &SocketAddrUnix::new(handover_socket(&site)).unwrap(),
    )
    .unwrap();
    let hello = serde_json::json!({"Hello": {"protocol": 1, "version": "test", "pid": 1,
        "state_dir": site.state_dir()}});
    send_frames(&socket, &hello);
    let manifest = receive_frames(&socket);
    let sessions = &manifest["Manifest"]["sessions"];
    assert_eq!(sessions[0]["record"]["uid"], uid.as_str(), "{manifest}");
    assert_eq!(
        sessions[0]["connections"].as_array().unwrap().len(),
        1,
        "{manifest}"
    );
    drop(socket);

    eventually("the old process takes everything back", || {
        old.log().contains("handover_failed")
    });
    signal(&receiver, libc::SIGCONT);
    assert_eq!(checksum(receiver), checksum(sender));
    // Changes are taken again, and kept.
    let args = [
        "req", "release", "-q", "--no-tls", "--s2cs", &old.addr, &uid,
    ];
    user.cmd(&args).timeout(TEST_LIMIT).assert().success();
}

/// `scistream server` started from `program` (a copy of the binary), with NOTIFY_SOCKET set.
fn start_from(
    program: &Path,
    site: &Site,
    notify: &Path,
) -> (Child, BufReader<ChildStdout>, String) {
    let config = site.state.path().join("config.yaml");
    let mut child = Command::new(program)
        .args(server_words(&config, &site.ip))
        .args(flags(site, &[]))
        .env("NOTIFY_SOCKET", notify)
        .env_remove("SCISTREAM_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(site.state.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let addr = started(&mut stdout);
    (child, stdout, addr)
}

/// The address of the next "Server started on" line.
fn started(stdout: &mut BufReader<ChildStdout>) -> String {
    let lines = stdout.by_ref().lines().map(Result::unwrap);
    let addr = lines
        .filter_map(|l| l.strip_prefix("Server started on ").map(str::to_owned))
        .next();
    addr.expect("a server that started")
}

/// Replaces `path` with `contents` (a new file: the running binary's stays as it was).
fn replace(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let next = path.with_extension("next");
    std::fs::write(&next, contents).unwrap();
    std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&next, path).unwrap();
}

fn notified(socket: &UnixDatagram) -> String {
    let mut message = [0u8; 256];
    let n = socket.recv(&mut message).unwrap();
    String::from_utf8_lossy(&message[..n]).into_owned()
}

#[test]
fn sighup_runs_the_binary_now_on_disk_and_systemd_hears_of_the_new_main_process() {
    let site = Site::new(22600);
    let dir = site.state.path();
    let program = dir.join("scistream");
    let binary = std::fs::read(assert_cmd::cargo::cargo_bin("scistream")).unwrap();
    replace(&program, &binary);
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut old, mut stdout, addr) = start_from(&program, &site, &notify_path);
    assert_eq!(notified(&notify), "READY=1\n");
    let log = || std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();

    // An upgrade whose binary fails to start: the old process says so and serves on.
    replace(&program, b"#!/bin/sh\nexit 3\n");
    signal(&old, libc::SIGHUP);
    eventually("the failure is logged", || log().contains("exit status: 3"));
    assert!(log().contains("goes on serving"), "{}", log());
    assert!(TcpStream::connect(&addr).is_ok());

    // With a working binary, the new process takes over and becomes systemd's main process.
    replace(&program, &binary);
    signal(&old, libc::SIGHUP);
    assert_eq!(started(&mut stdout), addr);
    let message = notified(&notify);
    let pid = message
        .strip_prefix("MAINPID=")
        .unwrap_or_else(|| panic!("{message}"));
    let pid: i32 = pid.lines().next().unwrap().parse().unwrap();
    assert_ne!(pid as u32, old.id());
    assert!(message.ends_with("READY=1\n"), "{message}");
    assert!(old.wait().unwrap().success(), "{}", log());
    assert!(TcpStream::connect(&addr).is_ok());
    // SAFETY: the new server is this test's grandchild; nothing else has its pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
}

/// The unit's `KEY=value` lines for `key`.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

#[test]
fn the_systemd_unit_reloads_by_sighup_and_tracks_whichever_process_serves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/scistream-server.service");
    let unit = std::fs::read_to_string(path).unwrap();
    // READY=1 and MAINPID= from the new process are heard only with these.
    assert_eq!(unit_values(&unit, "Type"), ["notify"]);
    assert_eq!(unit_values(&unit, "NotifyAccess"), ["all"]);
    assert_eq!(
        unit_values(&unit, "ExecReload"),
        ["/bin/kill -HUP $MAINPID"]
    );
    // The handover socket is a Unix socket in the state directory.
    let families = unit_values(&unit, "RestrictAddressFamilies").join(" ");
    assert!(families.split(' ').any(|f| f == "AF_UNIX"), "{families}");
    assert!(!unit_values(&unit, "StateDirectory").is_empty());
}
