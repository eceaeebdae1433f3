use std::time::Duration;

use scistream::auth::credentials_for;
use scistream::config::Config;
use scistream::scope::ScopeId;

use super::{S1, S2};
use crate::common::oauth::{scistream_scope, Minted, OAuthServer};
use crate::common::user::User;

const HOUR: Duration = Duration::from_secs(3600);

/// A config file with `auth_url` in it: the library reads the environment only for the
/// override, and tests in one process must not share an environment variable.
fn config_with(
    auth: &OAuthServer,
    servers: &[(&str, &str)],
    tokens: &[(&str, &Minted, &str)],
) -> String {
    let mut yaml = format!("auth_url: {}\nservers:\n", auth.base_url());
    for (addr, scope) in servers {
        yaml += &format!("  \"{addr}\": {scope}\n");
    }
    yaml += "tokens:\n";
    for (scope, minted, expires_at) in tokens {
        yaml += &format!(
            "  {scope}:\n    access_token: {}\n    refresh_token: {}\n    expires_at: {expires_at}\n    scope: {}\n",
            minted.access_token,
            minted.refresh_token,
            scistream_scope(scope)
        );
    }
    yaml
}

fn token(credentials: &scistream::auth::Credentials) -> Option<&str> {
    credentials.access_token.as_ref().map(|t| t.expose())
}

#[tokio::test]
async fn scope_comes_from_the_flag_then_host_and_port_then_host() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let (t1, t2) = (auth.mint(S1, HOUR), auth.mint(S2, HOUR));
    let future = "2099-01-01T00:00:00Z";
    user.write_config(&config_with(
        &auth,
        &[("gw", S1), ("gw:5001", S2)],
        &[(S1, &t1, future), (S2, &t2, future)],
    ));
    let path = user.config_path();

    let by_host = credentials_for(path, &"gw:5000".parse().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(by_host.scope.as_ref().unwrap().as_str(), S1);
    assert_eq!(token(&by_host), Some(t1.access_token.as_str()));
    assert!(by_host.warning.is_none());

    let by_port = credentials_for(path, &"gw:5001".parse().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(token(&by_port), Some(t2.access_token.as_str()));

    let s2: ScopeId = S2.parse().unwrap();
    let explicit = credentials_for(path, &"gw:5000".parse().unwrap(), Some(&s2))
        .await
        .unwrap();
    assert_eq!(token(&explicit), Some(t2.access_token.as_str()));
}

#[tokio::test]
async fn an_unmapped_address_gets_no_token_and_a_warning_naming_it() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let t1 = auth.mint(S1, HOUR);
    user.write_config(&config_with(
        &auth,
        &[],
        &[(S1, &t1, "2099-01-01T00:00:00Z")],
    ));

    let credentials = credentials_for(user.config_path(), &"10.0.0.1:5000".parse().unwrap(), None)
        .await
        .unwrap();
    assert!(credentials.scope.is_none());
    assert!(credentials.access_token.is_none());
    assert_eq!(
        credentials.warning.as_deref(),
        Some(format!("no scope is mapped for 10.0.0.1; add it with scistream login --scope {S1} --map 10.0.0.1").as_str())
    );
}

#[tokio::test]
async fn without_any_login_there_is_no_token_and_no_warning() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let credentials = credentials_for(user.config_path(), &"10.0.0.1:5000".parse().unwrap(), None)
        .await
        .unwrap();
    assert!(credentials.access_token.is_none());
    assert!(credentials.warning.is_none());
}

/// `gw` maps to S1, whose access token has expired; its refresh token still works.
fn logged_in_with_expired_token(auth: &OAuthServer, user: &User) -> Minted {
    let expired = auth.mint(S1, Duration::ZERO);
    let tokens = [(S1, &expired, "2020-01-01T00:00:00Z")];
    user.write_config(&config_with(auth, &[("gw", S1)], &tokens));
    expired
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_saved() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let expired = logged_in_with_expired_token(&auth, &user);

    let credentials = credentials_for(user.config_path(), &"gw:5000".parse().unwrap(), None)
        .await
        .unwrap();
    let fresh = token(&credentials).expect("a refreshed token").to_owned();
    assert_ne!(fresh, expired.access_token);
    assert!(auth.is_active(&fresh));
    assert!(credentials.warning.is_none());

    let config = Config::from_str(&user.config_text()).unwrap();
    let stored = &config.tokens[&S1.parse().unwrap()];
    assert_eq!(stored.access_token.expose(), fresh);
    assert_eq!(
        stored.refresh_token.as_ref().unwrap().expose(),
        expired.refresh_token
    );
    assert!(!stored.is_expired(chrono::Utc::now()));
}

#[tokio::test]
async fn a_failed_refresh_says_how_to_log_in_again() {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let expired = logged_in_with_expired_token(&auth, &user);
    auth.revoke(&expired.refresh_token);

    let credentials = credentials_for(user.config_path(), &"gw".parse().unwrap(), None)
        .await
        .unwrap();
    assert!(credentials.access_token.is_none());
    let warning = credentials.warning.unwrap();
    assert!(
        warning.contains("expired and could not be refreshed"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("scistream login --scope {S1} --force")),
        "{warning}"
    );
}
