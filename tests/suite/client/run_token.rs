//! `app send` / `app recv --run-token`: the two ends of one run take only each other's
//! connections, however well-formed a stranger's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::common::net::TEST_LIMIT;
use crate::common::server::private_loopback;
use crate::common::user::stdout;

const TOKEN: &str = "run-7f3a";

/// `scistream app ARGS --listen IP:0 --json` in the background, and the address it printed.
fn listening(args: &[&str]) -> (Child, String) {
    let listen = format!("{}:0", private_loopback());
    let mut child = Command::new(env!("CARGO_BIN_EXE_scistream"))
        .args(["app"])
        .args(args)
        .args(["--listen", &listen, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    let addr = line.strip_prefix("Listening on ").map(str::trim);
    let addr = addr.unwrap_or_else(|| panic!("no Listening line: {line:?}"));
    // Drained, so that a warning never blocks it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr.to_owned())
}

/// `scistream app ARGS --connect ADDR --json`, run to its end.
fn connecting(args: &[&str], addr: &str) -> Output {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"))
        .arg("app")
        .args(args)
        .args(["--connect", addr, "--json"])
        .timeout(TEST_LIMIT)
        .output()
        .unwrap()
}

fn report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

/// The listening end's report, once it exited successfully.
fn finished(mut child: Child) -> serde_json::Value {
    let mut printed = String::new();
    let mut out = child.stdout.take().unwrap();
    out.read_to_string(&mut printed).unwrap();
    assert!(child.wait().unwrap().success(), "{printed}");
    report(&printed)
}

/// A whole, well-formed `app send` stream of 5 bytes (stream 0 of 1), as anyone can write it.
fn strangers_stream() -> Vec<u8> {
    let payload = b"stray";
    let mut stream = b"SCISTRM1".to_vec();
    stream.extend_from_slice(&0u32.to_be_bytes());
    stream.extend_from_slice(&1u32.to_be_bytes());
    stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    stream.extend_from_slice(payload);
    stream.extend_from_slice(&0u32.to_be_bytes());
    stream.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    stream.extend_from_slice(&Sha256::digest(payload));
    stream
}

/// What `stranger` reads until the other end closes it.
fn read_to_close(stranger: &mut TcpStream) -> Vec<u8> {
    stranger.set_read_timeout(Some(TEST_LIMIT)).unwrap();
    let mut read = Vec::new();
    let _ = stranger.read_to_end(&mut read);
    read
}

#[test]
fn a_listening_receiver_with_a_run_token_drops_a_strangers_whole_stream() {
    let (receiver, addr) = listening(&["recv", "--run-token", TOKEN]);
    let mut stranger = TcpStream::connect(&addr).unwrap();
    stranger.write_all(&strangers_stream()).unwrap();
    // Dropped, not acknowledged: it was not taken as the run's stream.
    assert_eq!(read_to_close(&mut stranger), b"");
    let sent = connecting(&["send", "--bytes", "64K", "--run-token", TOKEN], &addr);
    assert!(sent.status.success(), "{sent:?}");
    let (sent, received) = (report(&stdout(&sent)), finished(receiver));
    assert_eq!(received["bytes"], 65536);
    assert_eq!(received["checksum"], sent["checksum"]);
}

#[test]
fn a_listening_sender_with_a_run_token_sends_only_to_its_receiver() {
    let (sender, addr) = listening(&["send", "--bytes", "64K", "--run-token", TOKEN]);
    let mut stranger = TcpStream::connect(&addr).unwrap();
    stranger.write_all(&[0u8; 40]).unwrap();
    // The stranger gets nothing, and does not take the run's one stream.
    assert_eq!(read_to_close(&mut stranger), b"");
    let received = connecting(&["recv", "--run-token", TOKEN], &addr);
    assert!(received.status.success(), "{received:?}");
    let (received, sent) = (report(&stdout(&received)), finished(sender));
    assert_eq!(sent["bytes"], 65536);
    assert_eq!(received["checksum"], sent["checksum"]);
}

#[test]
fn ends_with_different_run_tokens_do_not_take_each_others_streams() {
    let (sender, addr) = listening(&["send", "--bytes", "4K", "--run-token", TOKEN]);
    let mut wrong = assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"));
    wrong
        .args(["app", "recv", "--connect", &addr, "--run-token", "another"])
        .timeout(Duration::from_secs(20));
    wrong.assert().failure();
    // The sender still waits for its receiver, which then gets the run.
    let received = connecting(&["recv", "--run-token", TOKEN], &addr);
    assert!(received.status.success(), "{received:?}");
    assert_eq!(
        report(&stdout(&received))["checksum"],
        finished(sender)["checksum"]
    );
}
