//! A real etcd on a loopback address of the test's own (on ports the kernel picked free, kept
//! across its restarts), with a temporary data directory; stopped, started again and removed by
//! the test; its clients over plain HTTP, or over TLS with client certificates
//! ([`Etcd::start_tls`]). etcd is a
//! requirement of the test suite like the Rust toolchain: without it, a test that needs it
//! fails and says how to install it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::server::private_loopback;

const INSTALL: &str = "install it: sudo apt-get install -y etcd-server (Debian, Ubuntu), or put \
                       an etcd 3.4 or later on PATH";

pub struct Etcd {
    child: Option<Child>,
    ip: IpAddr,
    client_port: u16,
    peer_port: u16,
    /// Plain HTTP, whatever the clients speak: `/health` for the fixture to wait on.
    metrics_port: u16,
    tls: Option<EtcdTlsFiles>,
    dir: tempfile::TempDir,
}

/// What etcd speaks TLS to its clients with: it shows `cert` (with `key`), and accepts only
/// clients that show a certificate `ca` signed (`--client-cert-auth`).
pub struct EtcdTlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Three ports free on `ip` now, for etcd's clients, peers and metrics: nothing else uses the
/// test's own address, so they stay free for etcd (and for etcd again after a stop).
fn free_ports(ip: IpAddr) -> [u16; 3] {
    let listeners = [0; 3].map(|_| TcpListener::bind((ip, 0)).unwrap());
    listeners.map(|l| l.local_addr().unwrap().port())
}

fn path(file: &Path) -> &str {
    file.to_str().unwrap()
}

/// The `etcd` on PATH.
fn binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| panic!("this test needs etcd, which is not on PATH: {INSTALL}"))
}

impl Etcd {
    /// Starts it (its clients over plain HTTP) and waits until it answers.
    pub fn start() -> Etcd {
        Etcd::launch(private_loopback(), None)
    }

    /// Starts it on `ip`, its clients over TLS with client certificates, and waits until it
    /// answers. `tls.cert` must name `ip`.
    pub fn start_tls(ip: IpAddr, tls: EtcdTlsFiles) -> Etcd {
        Etcd::launch(ip, Some(tls))
    }

    fn launch(ip: IpAddr, tls: Option<EtcdTlsFiles>) -> Etcd {
        let [client_port, peer_port, metrics_port] = free_ports(ip);
        let mut etcd = Etcd {
            child: None,
            ip,
            client_port,
            peer_port,
            metrics_port,
            tls,
            dir: tempfile::tempdir().unwrap(),
        };
        etcd.start_again();
        etcd
    }

    /// Its client URL, as `--cluster` takes it.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.ip, self.client_port)
    }

    /// The flags that make it speak TLS to its clients, if it does.
    fn tls_args(&self) -> Vec<&str> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        vec![
            "--trusted-ca-file",
            path(&tls.ca),
            "--cert-file",
            path(&tls.cert),
            "--key-file",
            path(&tls.key),
            "--client-cert-auth",
        ]
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// Starts it (again, on the same data) and waits until it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "etcd already runs");
        let (client, peer) = (self.url(), format!("http://{}:{}", self.ip, self.peer_port));
        let metrics = format!("http://{}:{}", self.ip, self.metrics_port);
        let data = self.dir.path().join("data");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let child = Command::new(binary())
            .args(["--name", "test", "--data-dir", data.to_str().unwrap()])
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("test={peer}")])
            .args(["--listen-metrics-urls", &metrics])
            .args(self.tls_args())
            .args([
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
                "--log-level",
                "warn",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start etcd ({e}): {INSTALL}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.healthy() {
            assert!(
                Instant::now() < deadline,
                "etcd did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (SIGTERM) and waits until it has exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = child.wait();
    }

    fn healthy(&self) -> bool {
        let answer = self.http(self.metrics_port, "GET", "/health", "");
        let answer = answer.unwrap_or_default();
        answer.contains("\"health\":\"true\"")
    }

    /// The keys under `prefix` now, read through etcd's JSON gateway (of a plain HTTP etcd).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let body = serde_json::json!({
            "key": STANDARD.encode(prefix),
            "range_end": STANDARD.encode(end),
            "keys_only": true,
        });
        let answer = self.http(self.client_port, "POST", "/v3/kv/range", &body.to_string());
        let answer = answer.unwrap_or_else(|| panic!("etcd did not answer:\n{}", self.log()));
        let json = &answer[answer.find('{').unwrap_or(0)..answer.rfind('}').map_or(0, |i| i + 1)];
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let kvs = value["kvs"].as_array().cloned().unwrap_or_default();
        kvs.iter()
            .map(|kv| {
                let key = STANDARD.decode(kv["key"].as_str().unwrap()).unwrap();
                String::from_utf8(key).unwrap()
            })
            .collect()
    }

    /// One HTTP/1.0 exchange with its `port`: the whole answer.
    fn http(&self, port: u16, method: &str, path: &str, body: &str) -> Option<String> {
        let mut stream = TcpStream::connect((self.ip, port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.ip,
            port,
            body.len()
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
