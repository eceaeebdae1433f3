use predicates::prelude::*;

use super::{S1, S2};
use crate::common::oauth::OAuthServer;
use crate::common::user::User;

#[test]
fn not_logged_in_exits_3_with_the_login_command() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.cmd(&["check-auth"])
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "scistream login --scope {S1}"
        )));
    // A script reading --json gets an empty list, not nothing, with the same exit code.
    user.cmd(&["check-auth", "--json"])
        .assert()
        .code(3)
        .stdout("[]\n")
        .stderr(predicate::str::contains(format!(
            "scistream login --scope {S1}"
        )));
    user.cmd(&["check-auth", "--scope", S2])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "not logged in to scope {S2}; run: scistream login --scope {S2}"
        )));
}

fn expired_config(access_token: &str) -> String {
    format!(
        "tokens:\n  {S1}:\n    access_token: {access_token}\n    refresh_token: rt\n    \
         expires_at: 2020-01-01T00:00:00Z\n    scope: x\n"
    )
}

#[test]
fn an_expired_token_is_shown_and_the_renewal_command_given() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.write_config(&expired_config("old-token"));
    user.cmd(&["check-auth", "--scope", S1])
        .assert()
        .code(3)
        .stdout(format!("Access Token for scope '{S1}': old-token\n"))
        .stderr(predicate::str::contains(
            "expired at 2020-01-01 00:00:00 UTC",
        ))
        .stderr(predicate::str::contains(format!(
            "scistream login --scope {S1} --force"
        )));
}

#[test]
fn json_lists_scope_token_expiry_and_whether_expired() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.write_config(&expired_config("old-token"));
    let output = user.cmd(&["check-auth", "--json"]).output().unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        entries,
        serde_json::json!([{
            "scope": S1,
            "access_token": "old-token",
            "expires_at": "2020-01-01T00:00:00Z",
            "expired": true,
        }])
    );
}

#[test]
fn an_unmapped_server_address_is_named_with_the_command_that_maps_it() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.login(&auth, &[]);
    user.cmd(&["check-auth", "--s2cs", "10.0.0.1:5000"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!(
            "no scope is mapped for 10.0.0.1; add it with scistream login --scope {S1} --map 10.0.0.1"
        )));
}

#[test]
fn a_stored_token_a_header_cannot_carry_is_refused_not_silently_left_out() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.write_config(&format!(
        "tokens:\n  {S1}:\n    access_token: \"tok\\u0007en\"\n    refresh_token: rt\n    \
         expires_at: 2999-01-01T00:00:00Z\n    scope: x\n"
    ));
    let list = [
        "req",
        "list",
        "--no-tls",
        "--s2cs",
        "127.0.0.1:9",
        "--scope",
        S1,
    ];
    user.cmd(&list)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "holds characters a request header cannot carry",
        ))
        .stderr(predicate::str::contains("scistream login --scope"))
        .stderr(predicate::str::contains("tok\u{7}en").not());
}
