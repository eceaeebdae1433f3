//! Certificates that Python gRPC accepts: `--server-cert FILE` pins what the file holds, CA or
//! not, with names and dates still checked; each refusal says its cause and the fix.

use std::path::Path;
use std::time::Duration;

use crate::common::certs::{openssl_ca_signed, openssl_self_signed};
use crate::common::server_process::ServerProcess;
use assert_cmd::assert::Assert;
use predicates::str::contains;

/// `scistream server` with `dir/NAME.crt` and `dir/NAME.key` (None: plaintext) on 127.0.0.1,
/// any free port.
fn server_with(dir: &Path, name: Option<&str>) -> ServerProcess {
    let files = name.map(|name| [format!("{name}.crt"), format!("{name}.key")]);
    let tls = match &files {
        Some([cert, key]) => vec!["--tls-cert", cert, "--tls-key", key],
        None => vec!["--no-tls"],
    };
    let mut args = vec![
        "server",
        "--bind",
        "127.0.0.1",
        "--listener-ip",
        "127.0.0.1",
    ];
    args.extend(["--port", "0"]);
    args.extend(tls);
    ServerProcess::run(Path::new(env!("CARGO_BIN_EXE_scistream")), &args, dir, &[])
}

/// `req release` of a uid the server does not hold: exit 5 proves the TLS channel works.
fn release_unknown(dir: &Path, s2cs: &str, tls: &[&str]) -> Assert {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"))
        .current_dir(dir)
        .env_clear()
        .args(["--config", "client.yaml", "req", "release", "--s2cs", s2cs])
        .args(tls)
        .arg("no-such-uid")
        .timeout(Duration::from_secs(30))
        .assert()
}

fn localhost(server: &ServerProcess) -> String {
    server.addr.replace("127.0.0.1", "localhost")
}

#[test]
fn a_pinned_ca_true_self_signed_certificate_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "server", "127.0.0.1", "IP:127.0.0.1");
    let server = server_with(dir.path(), Some("server"));
    release_unknown(dir.path(), &server.addr, &["--server-cert", "server.crt"])
        .code(5)
        .stderr(contains("no session with uid"));
}

#[test]
fn a_certificate_signed_by_the_pinned_ca_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    openssl_ca_signed(dir.path(), "server", "DNS:localhost,IP:127.0.0.1");
    let server = server_with(dir.path(), Some("server"));
    release_unknown(dir.path(), &server.addr, &["--server-cert", "ca.crt"]).code(5);
    release_unknown(
        dir.path(),
        &localhost(&server),
        &["--server-cert", "ca.crt"],
    )
    .code(5);
}

#[test]
fn a_pinned_certificate_for_another_name_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "server", "127.0.0.1", "IP:127.0.0.1");
    let server = server_with(dir.path(), Some("server"));
    release_unknown(
        dir.path(),
        &localhost(&server),
        &["--server-cert", "server.crt"],
    )
    .code(4)
    .stderr(contains(
        "its TLS certificate is for IP:127.0.0.1, not localhost",
    ))
    .stderr(contains("subjectAltName=IP:"));
}

#[test]
fn a_ca_signed_certificate_for_another_name_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    openssl_ca_signed(dir.path(), "server", "IP:127.0.0.1");
    let server = server_with(dir.path(), Some("server"));
    release_unknown(
        dir.path(),
        &localhost(&server),
        &["--server-cert", "ca.crt"],
    )
    .code(4)
    .stderr(contains(
        "its TLS certificate is for IP:127.0.0.1, not localhost",
    ));
}

#[test]
fn an_expired_pinned_certificate_is_refused_with_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("old.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("old.key"), key.serialize_pem()).unwrap();
    let server = server_with(dir.path(), Some("old"));
    release_unknown(dir.path(), &server.addr, &["--server-cert", "old.crt"])
        .code(4)
        .stderr(contains("its TLS certificate expired at 2021-01-01"))
        .stderr(contains("needs a new certificate"));
}

#[test]
fn a_server_presenting_another_certificate_than_the_pinned_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "server", "127.0.0.1", "IP:127.0.0.1");
    openssl_self_signed(dir.path(), "other", "127.0.0.1", "IP:127.0.0.1");
    let server = server_with(dir.path(), Some("server"));
    let fingerprint = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            "server.crt",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(fingerprint.stdout).unwrap();
    let presented = fingerprint.trim().split_once('=').unwrap().1.to_owned();
    release_unknown(dir.path(), &server.addr, &["--server-cert", "other.crt"])
        .code(4)
        .stderr(contains(format!(
            "it presented a different TLS certificate (SHA-256 {presented}) than the one in \
             other.crt, and not one signed by it"
        )))
        .stderr(contains(
            "pass the server's current certificate with --server-cert",
        ));
}

#[test]
fn a_tls_client_against_a_plaintext_server_is_told_to_use_no_tls() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "server", "127.0.0.1", "IP:127.0.0.1");
    let server = server_with(dir.path(), None);
    release_unknown(dir.path(), &server.addr, &["--server-cert", "server.crt"])
        .code(4)
        .stderr(contains("it does not speak TLS"))
        .stderr(contains("--no-tls"));
}

#[test]
fn a_plaintext_client_against_a_tls_server_is_told_why_the_connection_broke() {
    let dir = tempfile::tempdir().unwrap();
    openssl_self_signed(dir.path(), "server", "127.0.0.1", "IP:127.0.0.1");
    let server = server_with(dir.path(), Some("server"));
    release_unknown(dir.path(), &server.addr, &["--no-tls"])
        .code(4)
        .stderr(contains("a TLS server hangs up on a plaintext client"))
        .stderr(contains("use --no-tls exactly when"));
}

#[test]
fn without_server_cert_a_self_signed_certificate_is_untrusted_and_the_fix_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // Not server.crt: the client would trust that name in its config directory (here, dir).
    openssl_self_signed(dir.path(), "gw", "127.0.0.1", "IP:127.0.0.1");
    let server = server_with(dir.path(), Some("gw"));
    release_unknown(dir.path(), &server.addr, &[])
        .code(4)
        .stderr(contains(
            "its TLS certificate is not signed by an authority this machine trusts: pass the \
             server's certificate (or its CA's) with --server-cert PEM",
        ));
}
