//! The binary under upstream's program names (symlinks), driven through upstream's quickstart
//! command lines against servers started as `s2cs` with openssl-made CA:TRUE certificates in
//! their working directories.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::certs::openssl_self_signed;
use crate::common::oauth::{scistream_scope, OAuthServer};
use crate::common::programs::link;
use crate::common::req::{listeners_of, uid_of};
use crate::common::server::private_loopback;
use crate::common::server_process::ServerProcess;
use predicates::str::contains;

/// Upstream's programs as symlinks in a directory of their own.
struct Programs {
    dir: tempfile::TempDir,
}

impl Programs {
    fn new() -> Programs {
        let dir = tempfile::tempdir().unwrap();
        link(dir.path(), "s2cs");
        link(dir.path(), "s2uc");
        Programs { dir }
    }

    fn path(&self, program: &str) -> PathBuf {
        self.dir.path().join(program)
    }

    /// `s2uc args...` run in `cwd`, with the user's config file `config`.
    fn s2uc(&self, cwd: &Path, config: &Path, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(self.path("s2uc"));
        cmd.current_dir(cwd)
            .env_clear()
            .env("SCISTREAM_CONFIG", config)
            .args(args)
            .timeout(Duration::from_secs(60));
        cmd
    }
}

/// A gateway as upstream's docs set one up: a directory holding server.crt and server.key made
/// by openssl for its address, and `s2cs` started there with upstream's flags.
struct Site {
    dir: tempfile::TempDir,
    ip: String,
    server: ServerProcess,
}

impl Site {
    fn start(programs: &Programs, extra: &[&str], envs: &[(&str, &str)]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let ip = private_loopback().to_string();
        openssl_self_signed(dir.path(), "server", &ip, &format!("IP:{ip}"));
        let listener_ip = format!("--listener_ip={ip}");
        let mut args = vec![listener_ip.as_str(), "--bind", &ip, "--port=0"];
        args.extend_from_slice(extra);
        let server = ServerProcess::run(&programs.path("s2cs"), &args, dir.path(), envs);
        Site { dir, ip, server }
    }

    fn s2cs(&self) -> &str {
        &self.server.addr
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("client.yaml")
    }
}

/// An echo server standing in for the producer application: one connection, then done.
fn producer() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let echo = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            conn.write_all(&buf[..n]).unwrap();
        }
    });
    (port, echo)
}

fn stdout_of(assert: assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.success().get_output().stdout.clone()).unwrap()
}

#[test]
fn upstreams_quickstart_streams_bytes_through_two_gateways() {
    let programs = Programs::new();
    let prod = Site::start(&programs, &["--type=StunnelSubprocess", "--verbose"], &[]);
    let cons = Site::start(&programs, &["--type", "Haproxy"], &[]);
    let (port, echo) = producer();

    // Run in each gateway's directory, as upstream's docs do: ./server.crt is trusted.
    let inbound = stdout_of(
        programs
            .s2uc(
                prod.dir.path(),
                &prod.config(),
                &["inbound-request", "--s2cs", prod.s2cs(), "--num_conn", "1"],
            )
            .args([
                "--remote_ip",
                "127.0.0.1",
                "--receiver_ports",
                &port.to_string(),
            ])
            .assert(),
    );
    let lines: Vec<&str> = inbound.lines().collect();
    assert_eq!(lines[0], "uid; s2cs; access_token; role", "{inbound}");
    let uid = uid_of(inbound.as_bytes());
    assert_eq!(
        lines[1],
        format!("{uid} {} INVALID_TOKEN PROD", prod.s2cs())
    );
    let prod_listeners = listeners_of(inbound.as_bytes());
    assert!(prod_listeners[0].starts_with(&prod.ip), "{inbound}");

    let outbound = stdout_of(
        programs
            .s2uc(
                cons.dir.path(),
                &cons.config(),
                &["outbound-request", "--s2cs", cons.s2cs(), "--num_conn", "1"],
            )
            .args(["--remote_ip", "127.0.0.1", &uid, &prod_listeners.join(",")])
            .assert(),
    );
    assert_eq!(
        outbound.lines().nth(1).unwrap(),
        format!("{uid} {} INVALID_TOKEN CONS", cons.s2cs())
    );
    let cons_listeners = listeners_of(outbound.as_bytes());

    let mut consumer = TcpStream::connect(&cons_listeners[0]).unwrap();
    consumer
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    consumer.write_all(&payload).unwrap();
    let mut echoed = vec![0; payload.len()];
    consumer.read_exact(&mut echoed).unwrap();
    assert!(echoed == payload, "the bytes came back changed");
    drop(consumer);
    echo.join().unwrap();

    for site in [&cons, &prod] {
        let released = programs
            .s2uc(
                site.dir.path(),
                &site.config(),
                &["release", &uid, "--s2cs", site.s2cs()],
            )
            .assert();
        assert_eq!(stdout_of(released), "Release completed\n");
    }
    assert!(
        prod.server
            .log()
            .contains("--type StunnelSubprocess: the built-in relay serves every type"),
        "{}",
        prod.server.log()
    );
}

#[test]
fn mock_true_uses_upstreams_fixed_uid() {
    let programs = Programs::new();
    let site = Site::start(&programs, &[], &[]);
    let out = stdout_of(
        programs
            .s2uc(
                site.dir.path(),
                &site.config(),
                &["inbound-request", "--mock", "True"],
            )
            .args(["--s2cs", site.s2cs(), "--num_conn=1", "--receiver_ports=9"])
            .assert(),
    );
    assert_eq!(
        uid_of(out.as_bytes()),
        "4f8583bc-a4d3-11ee-9fd6-034d1fcbd7c3",
        "{out}"
    );
    programs
        .s2uc(
            site.dir.path(),
            &site.config(),
            &["release", &uid_of(out.as_bytes())],
        )
        .args(["--s2cs", site.s2cs()])
        .assert()
        .success();
}

#[test]
fn check_auth_by_ip_prints_the_token_of_the_scope_that_address_maps_to() {
    let programs = Programs::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let scope = "5b5f6e43-6a8e-4d5e-9d6a-2a7f0b1c9e11";
    std::fs::write(
        &config,
        format!(
            "servers:\n  10.16.42.61: {scope}\ntokens:\n  {scope}:\n    access_token: AgTok\n    \
             refresh_token: AgRef\n    expires_at: 2999-01-01T00:00:00Z\n    scope: \
             https://auth.globus.org/scopes/{scope}/scistream\n"
        ),
    )
    .unwrap();
    programs
        .s2uc(dir.path(), &config, &["check-auth", "--ip", "10.16.42.61"])
        .assert()
        .success()
        .stdout(format!("Access Token for scope '{scope}': AgTok\n"));
    programs
        .s2uc(dir.path(), &config, &["check-auth", "--ip", "10.9.9.9"])
        .assert()
        .code(3)
        .stderr(contains("10.9.9.9"));
}

#[test]
fn ssl_false_serves_plaintext_without_certificate_files() {
    let programs = Programs::new();
    let dir = tempfile::tempdir().unwrap();
    let ip = private_loopback().to_string();
    let server = ServerProcess::run(
        &programs.path("s2cs"),
        &[
            "--ssl=False",
            "--listener_ip",
            &ip,
            "--bind",
            &ip,
            "--port",
            "0",
        ],
        dir.path(),
        &[],
    );
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"))
        .env_clear()
        .args(["--config", dir.path().join("c.yaml").to_str().unwrap()])
        .args([
            "req",
            "cons",
            "--no-tls",
            "--s2cs",
            &server.addr,
            "--num-conn",
            "1",
            "--plaintext-hop",
        ])
        .args(["u-1", "127.0.0.1:9"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stdout(contains(format!("Listeners: {ip}:")));
}

#[test]
fn s2cs_without_its_certificate_says_how_to_make_one() {
    let programs = Programs::new();
    let dir = tempfile::tempdir().unwrap();
    assert_cmd::Command::new(programs.path("s2cs"))
        .current_dir(dir.path())
        .env_clear()
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(contains("no --server_crt file server.crt"))
        .stderr(contains("openssl req -x509"))
        .stderr(contains("--ssl=False"));
}

#[test]
fn the_programs_print_their_versions_as_upstream() {
    let programs = Programs::new();
    let version = env!("CARGO_PKG_VERSION");
    assert_cmd::Command::new(programs.path("s2cs"))
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("s2cs, version: {version}\n"));
    for flag in ["-v", "--version"] {
        assert_cmd::Command::new(programs.path("s2uc"))
            .arg(flag)
            .assert()
            .success()
            .stdout(format!("s2uc, version {version}\n"));
    }
}

#[test]
fn a_failed_request_prints_upstreams_line_and_exits_with_our_code() {
    let programs = Programs::new();
    let dir = tempfile::tempdir().unwrap();
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // No server there: upstream's catch-all line, and our exit code for an unreachable server.
    programs
        .s2uc(
            dir.path(),
            &dir.path().join("c.yaml"),
            &["release", "u-1", "--s2cs", &free.to_string()],
        )
        .assert()
        .code(4)
        .stdout(contains(
            "Another GRPC error occurred: could not connect to s2cs",
        ));
}

#[test]
fn install_links_creates_the_three_programs_and_keeps_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"))
        .args(["install-links", bin.to_str().unwrap()])
        .assert()
        .success()
        .stdout(contains(format!("{} -> ", bin.join("appctrl").display())));
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_scistream")).unwrap();
    for program in ["s2cs", "s2uc", "appctrl"] {
        let target = std::fs::read_link(bin.join(program)).unwrap();
        assert_eq!(std::fs::canonicalize(target).unwrap(), binary, "{program}");
    }
    assert_cmd::Command::new(bin.join("s2cs"))
        .arg("--version")
        .assert()
        .stdout(contains("s2cs, version: "));

    // Again: the links are replaced; an upstream install's real file is left alone.
    std::fs::remove_file(bin.join("s2uc")).unwrap();
    std::fs::write(bin.join("s2uc"), "#!/usr/bin/python3\n").unwrap();
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"))
        .args(["install-links", bin.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(contains("s2uc exists and is not a symlink"));
    assert_eq!(
        std::fs::read_to_string(bin.join("s2uc")).unwrap(),
        "#!/usr/bin/python3\n"
    );
}

#[test]
fn with_auth_on_a_missing_token_prints_upstreams_line_and_a_stored_one_is_sent_and_shown() {
    const SCOPE: &str = "5b5f6e43-6a8e-4d5e-9d6a-2a7f0b1c9e11";
    let auth = OAuthServer::start();
    auth.accept_client(SCOPE, "s3cret");
    let programs = Programs::new();
    let client_id = format!("--client_id={SCOPE}");
    let site = Site::start(
        &programs,
        &[&client_id, "--client_secret", "s3cret"],
        &[("SCISTREAM_AUTH_URL", &auth.base_url())],
    );
    let inbound = |cmd: &mut assert_cmd::Command| {
        cmd.args(["--s2cs", site.s2cs(), "--num_conn=1", "--receiver_ports=9"])
            .env("SCISTREAM_AUTH_URL", auth.base_url())
            .assert()
    };
    let refused = inbound(&mut programs.s2uc(
        site.dir.path(),
        &site.config(),
        &["inbound-request", "--scope", SCOPE],
    ));
    refused
        .code(3)
        .stdout(contains("Please obtain new credentials: "))
        .stdout(contains(format!(
            "Authentication token is missing for scope {SCOPE}"
        )));

    let token = auth.mint(SCOPE, Duration::from_secs(3600)).access_token;
    std::fs::write(
        site.config(),
        format!(
            "servers:\n  {}: {SCOPE}\ntokens:\n  {SCOPE}:\n    access_token: {token}\n    \
             expires_at: 2999-01-01T00:00:00Z\n    scope: {}\n",
            site.ip,
            scistream_scope(SCOPE)
        ),
    )
    .unwrap();
    let out = stdout_of(inbound(&mut programs.s2uc(
        site.dir.path(),
        &site.config(),
        &["inbound-request"],
    )));
    let uid = uid_of(out.as_bytes());
    assert_eq!(
        out.lines().nth(1).unwrap(),
        format!("{uid} {} {token} PROD", site.s2cs())
    );
}
