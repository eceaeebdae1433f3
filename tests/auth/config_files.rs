use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use scistream::config::Config;

use crate::common::oauth::OAuthServer;
use crate::common::user::User;

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

/// Each invalid fixture starts with `# error: <what the message must contain>`.
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
