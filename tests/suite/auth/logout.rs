use predicates::prelude::*;
use scistream::config::Config;

use super::{S1, S2};
use crate::common::oauth::OAuthServer;
use crate::common::user::User;

/// Both tokens of each stored scope, as the file holds them.
fn stored_tokens(user: &User) -> Vec<String> {
    let config = Config::from_str(&user.config_text()).unwrap();
    config
        .tokens
        .values()
        .flat_map(|t| [Some(&t.access_token), t.refresh_token.as_ref()])
        .flatten()
        .map(|t| t.expose().to_owned())
        .collect()
}

fn logged_in_to_both(auth: &OAuthServer) -> User {
    let user = User::new(auth);
    user.login(auth, &["--map", "localhost"]);
    user.login(auth, &["--scope", S2]);
    user
}

#[test]
fn logout_revokes_every_token_and_empties_the_store() {
    let auth = OAuthServer::start();
    let user = logged_in_to_both(&auth);
    let tokens = stored_tokens(&user);
    assert_eq!(tokens.len(), 4);

    user.cmd(&["logout"])
        .assert()
        .success()
        .stdout("Successfully logged out!\n");
    for token in &tokens {
        assert!(!auth.is_active(token), "{token} still active");
    }
    let config = Config::from_str(&user.config_text()).unwrap();
    assert!(config.tokens.is_empty());
    assert_eq!(config.servers.len(), 1, "the server map is not a login");
    user.cmd(&["check-auth"]).assert().code(3);
}

#[test]
fn logout_of_one_scope_keeps_the_other() {
    let auth = OAuthServer::start();
    let user = logged_in_to_both(&auth);
    user.cmd(&["logout", "--scope", S2]).assert().success();
    let config = Config::from_str(&user.config_text()).unwrap();
    let scopes: Vec<_> = config.tokens.keys().map(|s| s.to_string()).collect();
    assert_eq!(scopes, [S1]);
    assert!(auth.is_active(config.tokens.values().next().unwrap().access_token.expose()));
}

#[test]
fn logging_out_twice_is_fine() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.login(&auth, &[]);
    user.cmd(&["logout"]).assert().success();
    user.cmd(&["logout"])
        .assert()
        .success()
        .stdout("Not logged in; nothing to log out.\n");
}

#[test]
fn logout_with_the_auth_server_down_still_forgets_and_says_the_tokens_stay_valid() {
    let mut auth = OAuthServer::start();
    let user = User::new(&auth);
    user.login(&auth, &[]);
    auth.stop();

    user.cmd(&["logout"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "could not revoke them at the auth server",
        ))
        .stderr(predicate::str::contains("stays valid until it expires"))
        .stderr(predicate::str::contains("could not reach the auth server"));
    assert!(stored_tokens(&user).is_empty());
}
