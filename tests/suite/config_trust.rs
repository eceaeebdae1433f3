//! Files that someone else could have changed are refused, through the binary: a client config
//! (whose `auth_url` would receive the refresh token), a server config (whose
//! `admin_identities` would count), the directories they are in, and a `--client-secret-file`.
//! Each refusal names the file and the command that fixes it.

use std::fs::{self, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::oauth::{scistream_scope, OAuthServer};

const SCOPE: &str = "c42c0dac-0a52-408e-a04f-5d31bfe0aef8";
const SECRET: &str = "trust-secret";
const EXPIRED: &str = "2020-01-01T00:00:00Z";
const VALID: &str = "2099-01-01T00:00:00Z";
/// Far longer than a refusal takes; a command still running then was not refused.
const LIMIT: Duration = Duration::from_secs(20);

/// The binary with nothing from this environment but PATH, and `--config config`.
fn scistream(config: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_scistream"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--config")
        .arg(config)
        .timeout(LIMIT);
    cmd
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
}

/// A client config with a token that expires at `expires_at`: a token expired already is
/// refreshed at `auth_url` by the next `req`.
fn client_config(dir: &Path, auth_url: &str, expires_at: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    let yaml = format!(
        "auth_url: {auth_url}\nservers:\n  127.0.0.1: {SCOPE}\ntokens:\n  {SCOPE}:\n    \
         access_token: AT-expired\n    refresh_token: RT-secret\n    \
         expires_at: {expires_at}\n    scope: {}\n",
        scistream_scope(SCOPE)
    );
    fs::write(&path, yaml).unwrap();
    chmod(&path, 0o600);
    path
}

/// What a refusal of `file` (or of `fixed`, its directory) must say.
fn assert_refused(stderr: &[u8], file: &Path, fix: &str) {
    let stderr = String::from_utf8_lossy(stderr);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains(fix), "no `{fix}` in: {stderr}");
}

fn stderr_of_failure(cmd: &mut assert_cmd::Command) -> Vec<u8> {
    cmd.assert().failure().get_output().stderr.clone()
}

/// The finding: the file's `auth_url` received the refresh token. Here it points at a listener
/// that records whether anyone connected.
#[test]
fn a_client_config_others_can_write_is_refused_before_its_auth_url_hears_of_it() {
    for mode in [0o620, 0o602, 0o666] {
        let hostile = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        hostile.set_nonblocking(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let auth_url = format!("http://{}", hostile.local_addr().unwrap());
        let config = client_config(dir.path(), &auth_url, EXPIRED);
        chmod(&config, mode);
        let stderr = stderr_of_failure(scistream(&config).args([
            "req",
            "list",
            "--no-tls",
            "--s2cs",
            "127.0.0.1:1",
        ]));
        assert_refused(
            &stderr,
            &config,
            &format!("chmod go-w {}", config.display()),
        );
        let contacted = hostile.accept().map(|_| ());
        assert!(
            contacted.is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "mode {mode:o}: the config's auth_url was contacted"
        );
    }
}

/// A valid client config in the directory `name` of a temporary one (kept until dropped).
fn config_in_dir(auth: &OAuthServer, name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join(name);
    fs::create_dir(&dir).unwrap();
    let config = client_config(&dir, &auth.base_url(), VALID);
    (parent, dir, config)
}

#[test]
fn a_config_in_a_directory_others_can_write_is_refused_unless_the_directory_is_sticky() {
    let auth = OAuthServer::start();
    let (_parent, dir, config) = config_in_dir(&auth, "scistream");
    for mode in [0o770, 0o707] {
        chmod(&dir, mode);
        let stderr = stderr_of_failure(scistream(&config).arg("check-auth"));
        assert_refused(&stderr, &config, &format!("chmod go-w {}", dir.display()));
    }
    // As in /tmp: only a file's owner may replace it.
    chmod(&dir, 0o1777);
    scistream(&config).arg("check-auth").assert().success();
    chmod(&dir, 0o700);
}

/// A symlinked config is checked where it points, too.
#[test]
fn a_symlinked_config_is_checked_where_it_points() {
    let auth = OAuthServer::start();
    let (home, dotfiles, real) = config_in_dir(&auth, "dotfiles");
    let link = home.path().join("config.yaml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    scistream(&link).arg("check-auth").assert().success();
    chmod(&dotfiles, 0o777);
    let stderr = stderr_of_failure(scistream(&link).arg("check-auth"));
    assert_refused(
        &stderr,
        &link,
        &format!("chmod go-w {}", dotfiles.display()),
    );
    chmod(&dotfiles, 0o700);
}

/// `scistream server` with authentication on, `config` as its config file and the secret from
/// `secret_file` (else the environment).
fn server(auth: &OAuthServer, config: &Path, secret_file: Option<&Path>) -> assert_cmd::Command {
    let mut cmd = scistream(config);
    cmd.args(["server", "--no-tls", "--port", "0", "--bind", "127.0.0.1"])
        .args(["--client-id", SCOPE])
        .env("SCISTREAM_AUTH_URL", auth.base_url());
    match secret_file {
        Some(file) => cmd.arg("--client-secret-file").arg(file),
        None => cmd.env("SCISTREAM_CLIENT_SECRET", SECRET),
    };
    cmd
}

/// The finding: a server config others could write made its `admin_identities` count.
#[test]
fn a_server_config_others_can_write_does_not_start_the_server() {
    let auth = OAuthServer::start();
    auth.accept_client(SCOPE, SECRET);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    fs::write(
        &config,
        "admin_identities:\n  - 0bad0000-0000-4000-8000-000000000000\n",
    )
    .unwrap();
    chmod(&config, 0o664);
    let stderr = stderr_of_failure(&mut server(&auth, &config, None));
    assert_refused(
        &stderr,
        &config,
        &format!("chmod go-w {}", config.display()),
    );
}

#[test]
fn a_client_secret_file_others_can_write_does_not_start_the_server() {
    let auth = OAuthServer::start();
    auth.accept_client(SCOPE, SECRET);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let secrets = dir.path().join("secrets");
    fs::create_dir(&secrets).unwrap();
    let secret = secrets.join("client-secret");
    fs::write(&secret, SECRET).unwrap();
    chmod(&secret, 0o660);
    let stderr = stderr_of_failure(&mut server(&auth, &config, Some(&secret)));
    assert_refused(
        &stderr,
        &secret,
        &format!("chmod go-w {}", secret.display()),
    );
    chmod(&secret, 0o600);
    chmod(&secrets, 0o777);
    let stderr = stderr_of_failure(&mut server(&auth, &config, Some(&secret)));
    assert_refused(
        &stderr,
        &secret,
        &format!("chmod go-w {}", secrets.display()),
    );
}

/// Only root can give a file to another user, so only a test run as root can make one.
#[test]
fn files_another_user_owns_are_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root can make a file that another user owns");
        return;
    }
    let nobody = 65534;
    let auth = OAuthServer::start();
    auth.accept_client(SCOPE, SECRET);
    let dir = tempfile::tempdir().unwrap();
    let config = client_config(dir.path(), &auth.base_url(), VALID);
    std::os::unix::fs::chown(&config, Some(nobody), None).unwrap();
    let stderr = stderr_of_failure(scistream(&config).arg("check-auth"));
    assert_refused(
        &stderr,
        &config,
        &format!("sudo chown 0 {}", config.display()),
    );
    assert!(String::from_utf8_lossy(&stderr).contains("uid 65534"));

    let secret = dir.path().join("client-secret");
    fs::write(&secret, SECRET).unwrap();
    chmod(&secret, 0o600);
    std::os::unix::fs::chown(&secret, Some(nobody), None).unwrap();
    let other_config = dir.path().join("server.yaml");
    let stderr = stderr_of_failure(&mut server(&auth, &other_config, Some(&secret)));
    assert_refused(
        &stderr,
        &secret,
        &format!("sudo chown 0 {}", secret.display()),
    );
}
