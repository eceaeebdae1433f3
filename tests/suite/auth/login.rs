use std::os::unix::fs::PermissionsExt;

use predicates::prelude::*;
use scistream::config::Config;

use super::{S1, S2};
use crate::common::oauth::{scistream_scope, OAuthServer, NATIVE_CLIENT_ID};
use crate::common::user::{stderr, stdout, User};

fn stored_token(user: &User, scope: &str) -> String {
    let config = Config::from_str(&user.config_text()).unwrap();
    let scope = scope.parse().unwrap();
    config.tokens[&scope].access_token.expose().to_owned()
}

#[test]
fn login_prints_the_prompt_stores_the_token_and_check_auth_shows_it() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let output = user.login(&auth, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let url = auth.authorize_queries().pop().unwrap();
    let expected_prompt = format!(
        "To obtain token for the scope, please open the URL in your browser and follow the instructions\n\
         Please authenticate with Globus here:\n\
         ------------------------------------\n\
         {base}/v2/oauth2/authorize?{query}\n\
         ------------------------------------\n\
         \n\
         Enter the resulting Authorization Code here: ",
        base = auth.base_url(),
        query = stdout(&output).split_once('?').unwrap().1.lines().next().unwrap(),
    );
    assert!(
        stdout(&output).starts_with(&expected_prompt),
        "{}",
        stdout(&output)
    );
    assert_eq!(url["client_id"], NATIVE_CLIENT_ID);
    assert_eq!(url["scope"], scistream_scope(S1));
    assert_eq!(
        url["redirect_uri"],
        format!("{}/v2/web/auth-code", auth.base_url())
    );
    assert_eq!(url["code_challenge_method"], "S256");
    assert_eq!(url["access_type"], "offline");
    assert_eq!(url["prompt"], "login");
    assert_eq!(url["response_type"], "code");

    let token = stored_token(&user, S1);
    assert!(auth.is_active(&token));
    let mode = std::fs::metadata(user.config_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    user.cmd(&["check-auth"])
        .assert()
        .success()
        .stdout(format!("Access Token for scope '{S1}': {token}\n"));
}

#[test]
fn each_login_uses_a_fresh_pkce_challenge_and_state() {
    let auth = OAuthServer::start();
    let (a, b) = (User::new(&auth), User::new(&auth));
    a.login(&auth, &[]);
    b.login(&auth, &[]);
    let queries = auth.authorize_queries();
    assert_ne!(queries[0]["code_challenge"], queries[1]["code_challenge"]);
    assert_ne!(queries[0]["state"], queries[1]["state"]);
}

#[test]
fn a_second_login_says_already_logged_in_and_force_replaces_and_revokes_the_old_tokens() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.login(&auth, &[]);
    let first = stored_token(&user, S1);

    user.cmd(&["login"])
        .write_stdin("")
        .assert()
        .success()
        .stdout("You are already logged in, to try different credentials please log out!\n");

    let output = user.login(&auth, &["--force"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let second = stored_token(&user, S1);
    assert_ne!(first, second);
    assert!(auth.is_active(&second));
    assert!(
        !auth.is_active(&first),
        "the replaced token should be revoked"
    );
}

#[test]
fn map_records_server_addresses_also_when_already_logged_in() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let output = user.login(&auth, &["--scope", S2, "--map", "localhost"]);
    assert!(output.status.success(), "{}", stderr(&output));
    user.cmd(&["login", "--scope", S2, "--map", "127.0.0.1:5000"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Server 127.0.0.1:5000 now uses scope",
        ));

    let config = Config::from_str(&user.config_text()).unwrap();
    let servers: Vec<_> = config
        .servers
        .iter()
        .map(|(addr, scope)| (addr.to_string(), scope.to_string()))
        .collect();
    assert_eq!(
        servers,
        [
            ("127.0.0.1:5000".into(), S2.into()),
            ("localhost".into(), S2.into())
        ]
    );
    let token = stored_token(&user, S2);
    user.cmd(&["check-auth", "--s2cs", "localhost:5000"])
        .assert()
        .success()
        .stdout(format!("Access Token for scope '{S2}': {token}\n"));
}

#[test]
fn a_second_scope_is_stored_beside_the_first() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    user.login(&auth, &[]);
    let output = user.login(&auth, &["--scope", S2]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (t1, t2) = (stored_token(&user, S1), stored_token(&user, S2));

    user.cmd(&["check-auth", "--scope", S2])
        .assert()
        .success()
        .stdout(format!("Access Token for scope '{S2}': {t2}\n"));
    // Listed in scope order; S2 (5b5f...) sorts before S1 (c42c...).
    user.cmd(&["check-auth"]).assert().success().stdout(format!(
        "Access Token for scope '{S2}': {t2}\nAccess Token for scope '{S1}': {t1}\n"
    ));
}

#[test]
fn concurrent_logins_for_different_scopes_all_survive() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let scopes: Vec<String> = (0..6)
        .map(|i| format!("00000000-0000-4000-8000-00000000000{i}"))
        .collect();
    let pending: Vec<_> = scopes
        .iter()
        .map(|scope| user.start_login(&["--scope", scope]))
        .collect();
    let codes: Vec<_> = pending
        .iter()
        .map(|p| auth.open_in_browser(&p.url))
        .collect();
    // Hand out every code before waiting, so the exchanges and file updates overlap.
    let mut running = Vec::new();
    for (mut login, code) in pending.into_iter().zip(&codes) {
        login.type_code(code);
        running.push(login);
    }
    for login in running {
        let output = login.wait();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let config = Config::from_str(&user.config_text()).unwrap();
    let stored: Vec<String> = config.tokens.keys().map(|s| s.to_string()).collect();
    assert_eq!(stored, scopes);
}

#[test]
fn no_code_or_a_wrong_code_is_a_clear_error_and_stores_nothing() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    for (typed, expected) in [
        ("", "standard input closed before an authorization code"),
        ("\n", "no authorization code was entered"),
        ("not-a-code\n", "refused to exchange the authorization code"),
    ] {
        user.cmd(&["login"])
            .write_stdin(typed)
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected));
    }
    assert_eq!(user.config_text(), "");
}

#[test]
fn a_code_exchange_needs_the_pkce_verifier_of_the_login_that_asked() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let login = user.start_login(&[]);
    // A code minted for another challenge: the binary's verifier cannot match it.
    let code = auth.mint_code(NATIVE_CLIENT_ID, S1, "some-other-challenge");
    let output = login.finish(&code);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("invalid_grant"),
        "{}",
        stderr(&output)
    );
}
