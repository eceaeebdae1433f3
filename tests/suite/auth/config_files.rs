use std::os::unix::fs::symlink;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use scistream::config::Config;

use super::S1;
use crate::common::oauth::OAuthServer;
use crate::common::user::{stderr, User};

fn fixtures(kind: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

#[test]
fn every_valid_fixture_parses_and_round_trips() {
    for (path, text) in fixtures("valid") {
        let config =
            Config::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert_eq!(
            Config::from_str(&config.to_yaml()).unwrap(),
            config,
            "{}",
            path.display()
        );
    }
}

/// Each invalid fixture starts with `# error: <what the message must contain>`; the secrets in
/// them start with `AgSecret`, and no message may repeat one.
#[test]
fn every_invalid_fixture_is_rejected_with_its_message() {
    for (path, text) in fixtures("invalid") {
        let expected = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} lacks its '# error: ' line", path.display()));
        match Config::from_str(&text) {
            Ok(config) => panic!("{} parsed: {config:?}", path.display()),
            Err(err) => {
                let message = err.to_string();
                assert!(message.contains(expected), "{}: {message}", path.display());
                assert!(
                    !message.contains("AgSecret"),
                    "{}: {message}",
                    path.display()
                );
                assert!(
                    err.location().is_some(),
                    "{}: no line in {message}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_corrupt_file_is_reported_with_file_and_line_and_left_untouched() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let corrupt = "servers:\n  localhost: c42c0dac-0a52-408e-a04f-5d31bfe0aef8\ntokens: [oops\n";
    user.write_config(corrupt);
    let path = user.config_path();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::metadata(path).unwrap().modified().unwrap();

    for args in [
        &["login", "--force", "--map", "gw"][..],
        &["logout"],
        &["check-auth"],
    ] {
        user.cmd(args)
            .write_stdin("some-code\n")
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "config file {} is not valid",
                path.display()
            )))
            .stderr(predicate::str::contains("at line 3 column 9"))
            .stderr(predicate::str::contains("left it unchanged"));
    }
    assert_eq!(user.config_text(), corrupt);
    let metadata = std::fs::metadata(path).unwrap();
    assert_eq!(metadata.modified().unwrap(), before);
    assert_eq!(metadata.permissions().mode() & 0o777, 0o640);
}

#[test]
fn a_malformed_token_entry_is_located_without_printing_the_token() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let secret = "AgSecretXq7dT1mB9vK3pL0wZ5hR8nC2";
    user.write_config(&format!("tokens:\n  {S1}: {secret}\n"));
    for args in [&["check-auth"][..], &["logout"]] {
        user.cmd(args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "config file {} is not valid at line 2 column",
                user.config_path().display()
            )))
            .stderr(predicate::str::contains(secret).not());
    }
}

/// Makes the user's config file a symlink to a file elsewhere holding `text`, readable by all
/// (as a file copied around by hand may be); returns the real file's path.
fn symlinked_config(user: &User, text: &str) -> PathBuf {
    let link = user.config_path();
    let real = link
        .parent()
        .unwrap()
        .with_file_name("dotfiles")
        .join("config.yaml");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, text).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _ = std::fs::remove_file(link);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    symlink(&real, link).unwrap();
    real
}

/// The link is still a link, and the real file holds the config, private.
fn assert_written_through(user: &User, real: &Path) -> Config {
    let link = std::fs::symlink_metadata(user.config_path()).unwrap();
    assert!(link.file_type().is_symlink(), "the symlink was replaced");
    let mode = std::fs::metadata(real).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the real file keeps its old mode");
    Config::from_str(&std::fs::read_to_string(real).unwrap()).unwrap()
}

#[test]
fn logout_through_a_symlinked_config_empties_the_real_file() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.login(&auth, &["--map", "gw"]);
    let real = symlinked_config(&user, &user.config_text());
    user.cmd(&["logout"]).assert().success();
    let config = assert_written_through(&user, &real);
    assert!(config.tokens.is_empty(), "the real file still holds tokens");
    assert_eq!(config.servers.len(), 1);
}

#[test]
fn login_through_a_symlinked_config_stores_in_the_real_file() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let real = symlinked_config(&user, &format!("servers:\n  gw: {S1}\n"));
    let output = user.login(&auth, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let config = assert_written_through(&user, &real);
    assert_eq!(config.tokens.len(), 1);
    assert_eq!(config.servers.len(), 1);
}

#[test]
fn a_dangling_symlinked_config_is_refused_with_what_to_do() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let real = symlinked_config(&user, "");
    std::fs::remove_file(&real).unwrap();
    let output = user.login(&auth, &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("is a symlink to"), "{message}");
    assert!(message.contains("create that file"), "{message}");
    assert!(!real.exists(), "nothing is created behind the user's back");
}
