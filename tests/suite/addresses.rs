//! IPv6 literals end to end: two gateways on `::1` (TLS on their control ports), a producer on
//! `[::1]`, `req prod` and `req cons` talking to `[::1]:PORT`, a PROD session relaying to an
//! IPv6 target, and a CONS session relaying to the PROD session's `[::1]` listener over the
//! encrypted hop: the bytes arrive, and every address is shown as `[::1]:PORT`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// A `scistream server` on `::1` with a generated TLS certificate, stopped on drop.
struct Gateway {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    /// `[::1]:PORT` of the control port, as the server printed it.
    s2cs: String,
    cert: PathBuf,
    dir: tempfile::TempDir,
}

impl Gateway {
    fn start(port_range: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("scistream"))
            .args(["--config", dir.path().join("config.yaml").to_str().unwrap()])
            .args([
                "server",
                "--port",
                "0",
                "--bind",
                "::1",
                "--listener-ip",
                "::1",
            ])
            .args(["--port-range", port_range])
            .env_remove("SCISTREAM_CLIENT_SECRET")
            .env_remove("SCISTREAM_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let started = stdout
            .by_ref()
            .lines()
            .map(Result::unwrap)
            .find_map(|line| line.strip_prefix("Server started on ").map(str::to_owned));
        let s2cs = started.expect("the server started on ::1 (does this machine have ::1?)");
        Gateway {
            child,
            _stdout: stdout,
            s2cs,
            cert: dir.path().join("server.crt"),
            dir,
        }
    }

    /// `scistream req ...` against this gateway (with its certificate), as a separate user.
    fn req(&self, action: &str, rest: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("scistream").unwrap();
        cmd.args([
            "--config",
            self.dir.path().join("user.yaml").to_str().unwrap(),
        ])
        .args(["-q", "req", action, "--s2cs", &self.s2cs])
        .args(["--server-cert", self.cert.to_str().unwrap()])
        .args(rest)
        .env_remove("SCISTREAM_CONFIG")
        .timeout(Duration::from_secs(60));
        cmd
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the `Listeners: ` line of a `req` command's output.
fn listeners_of(stdout: &[u8]) -> String {
    let stdout = String::from_utf8_lossy(stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("Listeners: "));
    line.unwrap_or_else(|| panic!("no Listeners line in {stdout}"))
        .to_owned()
}

fn uid_of(stdout: &[u8]) -> String {
    let stdout = String::from_utf8_lossy(stdout);
    let line = stdout.lines().nth(1).expect("the header's second line");
    line.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn a_stream_between_gateways_on_ipv6_loopback_carries_its_bytes() {
    let prod = Gateway::start("24600-24609");
    let cons = Gateway::start("24610-24619");
    assert!(prod.s2cs.starts_with("[::1]:"), "{}", prod.s2cs);
    let producer = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let producer_port = producer.local_addr().unwrap().port().to_string();

    let opened = prod
        .req("prod", &["--num-conn", "1", "--remote-ip", "::1"])
        .args(["--receiver-ports", &producer_port])
        .assert()
        .success();
    let stdout = &opened.get_output().stdout;
    let prod_listener = listeners_of(stdout);
    assert!(prod_listener.starts_with("[::1]:246"), "{prod_listener}");
    let uid = uid_of(stdout);

    let opened = cons
        .req("cons", &["--num-conn", "1", "--prod-s2cs", &prod.s2cs])
        .args(["--prod-server-cert", prod.cert.to_str().unwrap(), "--json"])
        .args([&uid, &prod_listener])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&opened.get_output().stdout).unwrap();
    assert_eq!(json["hop"], "encrypted", "{json}");
    assert_eq!(json["targets"][0], prod_listener.as_str(), "{json}");
    let cons_listener: SocketAddr = json["listeners"][0].as_str().unwrap().parse().unwrap();
    assert_eq!(cons_listener.ip(), Ipv6Addr::LOCALHOST);

    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let sender = std::thread::spawn({
        let payload = payload.clone();
        move || {
            let (mut connection, _) = producer.accept().unwrap();
            connection.write_all(&payload).unwrap();
        }
    });
    let mut consumer = TcpStream::connect(cons_listener).unwrap();
    consumer
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut received = Vec::new();
    consumer.read_to_end(&mut received).unwrap();
    sender.join().unwrap();
    assert!(
        received == payload,
        "{} of {} bytes",
        received.len(),
        payload.len()
    );

    let listed = prod.req("list", &["--json"]).assert().success();
    let listed = String::from_utf8_lossy(&listed.get_output().stdout).into_owned();
    let producer_address = format!("[::1]:{producer_port}");
    assert!(listed.contains(&producer_address), "{listed}");
    for gateway in [&cons, &prod] {
        gateway.req("release", &[&uid]).assert().success();
    }
}

#[test]
fn an_ipv6_address_without_brackets_is_refused_with_the_fix() {
    let refused = assert_cmd::Command::cargo_bin("scistream")
        .unwrap()
        .args(["req", "release", "--s2cs", "::1:5000", "some-uid"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains("write IPv6 addresses in brackets, as [::1]:5000"),
        "{stderr}"
    );
}
