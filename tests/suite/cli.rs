//! The command line itself: help, flags, the server process.

use std::path::Path;

use crate::common::req::prod_flags;
use crate::common::server::private_loopback;
use crate::common::server_process::ServerProcess;
use assert_cmd::Command as Cmd;
use predicates::str::contains;

fn scistream() -> Cmd {
    Cmd::new(env!("CARGO_BIN_EXE_scistream"))
}

#[test]
fn help_lists_the_subcommands_and_exit_codes() {
    let out = scistream()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for word in [
        "server",
        "req",
        "login",
        "logout",
        "check-auth",
        "completions",
        "Exit codes:",
    ] {
        assert!(help.contains(word), "--help lacks {word:?}:\n{help}");
    }
}

#[test]
fn the_readme_lists_the_exit_codes_that_help_shows() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(scistream::exit::TABLE),
        "README.md's exit codes differ from scistream::exit::TABLE: copy them from \
         `scistream --help`"
    );
}

#[test]
fn server_refuses_to_advertise_an_unspecified_listener_ip() {
    let dir = tempfile::tempdir().unwrap();
    scistream()
        .args(["--config", dir.path().join("c.yaml").to_str().unwrap()])
        .args([
            "server",
            "--no-tls",
            "--port",
            "0",
            "--listener-ip",
            "0.0.0.0",
        ])
        .assert()
        .failure()
        .stderr(contains("cannot be advertised"));
}

#[test]
fn bad_port_range_is_a_usage_error() {
    scistream()
        .args(["server", "--port-range", "5200-5100"])
        .assert()
        .code(2)
        .stderr(contains("START"));
}

#[test]
fn an_s2cs_address_without_a_valid_port_is_a_usage_error() {
    for (s2cs, why) in [
        ("127.0.0.1", "is not host:port"),
        ("127.0.0.1:99999", "has no valid port (1-65535)"),
        ("", "is not host:port"),
    ] {
        scistream()
            .args(["req", "list", "--no-tls", "--s2cs", s2cs])
            .assert()
            .code(2)
            .stderr(contains(why));
    }
}

#[test]
fn a_uid_the_server_would_refuse_is_a_usage_error_before_anything_is_printed() {
    let long = "u".repeat(129);
    for (args, why) in [
        (&["req", "release", "a b"][..], "is not printable ASCII"),
        (&["req", "status", "new\nline"], "is not printable ASCII"),
        (&["req", "prod", "--uid", &long], "is too long: at most 128"),
        (
            &["req", "cons", "\u{1b}[31m", "127.0.0.1:5100"],
            "is not printable ASCII",
        ),
        (
            &["app", "hello", "", "--prod-listeners", "127.0.0.1:5100"],
            "uid is empty",
        ),
    ] {
        scistream()
            .args(args)
            .args(["--no-tls", "--s2cs", "127.0.0.1:9"])
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains(why));
    }
}

#[test]
fn a_bad_allow_targets_network_is_a_usage_error() {
    scistream()
        .args(["server", "--allow-targets", "10.0.0.0/8,10.0.0.0/33"])
        .assert()
        .code(2)
        .stderr(contains(
            "\"10.0.0.0/33\" is not a network (10.16.0.0/16) or an address",
        ));
}

/// `scistream server` on 127.0.0.1, any free port, with its config in `dir`, and `args`.
fn start_server(dir: &std::path::Path, args: &[&str]) -> ServerProcess {
    let config = dir.join("config.yaml");
    let words = [
        "--config",
        config.to_str().unwrap(),
        "server",
        "--port",
        "0",
    ];
    let args = [&words[..], &["--bind", "127.0.0.1"], args].concat();
    ServerProcess::run(Path::new(env!("CARGO_BIN_EXE_scistream")), &args, dir, &[])
}

#[test]
fn server_process_serves_then_releases_everything_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    // The seed's underscore spellings still work. The range is on a loopback address of this
    // test's own, so no other test's listeners can be in the way.
    let ip = private_loopback().to_string();
    let mut server = start_server(
        dir.path(),
        &["--listener_ip", &ip, "--port_range", "23000-23010"],
    );
    let out = scistream()
        .args(["--config", dir.path().join("config.yaml").to_str().unwrap()])
        .args(["req", "prod", "--s2cs", &server.addr])
        .args(prod_flags("1", "7001"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out);
    let listener = text
        .lines()
        .find_map(|l| l.strip_prefix("Listeners: "))
        .unwrap()
        .to_string();
    assert!(
        std::net::TcpListener::bind(&listener).is_err(),
        "listener bound while serving"
    );
    let status = server.interrupt();
    assert!(status.success(), "server exited with {status}");
    std::net::TcpListener::bind(&listener).expect("listener freed at shutdown");
}

#[test]
fn server_generates_its_certificate_once_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path(), &[]);
    server.interrupt();
    let printed = &server.printed;
    let cert = dir.path().join("server.crt");
    assert!(
        printed.iter().any(|l| l.contains(cert.to_str().unwrap())),
        "{printed:?}"
    );
    let first = std::fs::read(&cert).expect("certificate generated");
    start_server(dir.path(), &[]).interrupt();
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        first,
        "certificate regenerated"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
