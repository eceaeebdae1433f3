use std::time::Duration;

use scistream::auth::{token_from_headers, AuthError, AuthSettings, Introspector};
use scistream::config::Config;
use scistream::secret::Secret;

use crate::common::oauth::OAuthServer;
use crate::{S1, S2};

const HOUR: Duration = Duration::from_secs(3600);

fn introspector(auth: &OAuthServer, client_id: &str, secret: &str) -> Introspector {
    let config = Config {
        auth_url: Some(auth.base_url()),
        ..Config::default()
    };
    let settings = AuthSettings::resolve(&config, None).unwrap();
    Introspector::new(&settings, client_id.parse().unwrap(), Secret::new(secret)).unwrap()
}

/// An auth server that knows the S1 resource server, and its introspector.
fn server_for_s1() -> (OAuthServer, Introspector) {
    let auth = OAuthServer::start();
    auth.accept_client(S1, "s1-secret");
    let checker = introspector(&auth, S1, "s1-secret");
    (auth, checker)
}

fn message(result: Result<(), AuthError>) -> String {
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn an_active_token_with_the_servers_scope_passes() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    checker.check(Some(&minted.access_token)).await.unwrap();
}

#[tokio::test]
async fn a_bearer_prefixed_token_from_the_headers_passes() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    let mut headers = tonic::codegen::http::HeaderMap::new();
    let value = format!("Bearer {}", minted.access_token);
    headers.insert("authorization", value.parse().unwrap());
    checker.check(token_from_headers(&headers)).await.unwrap();
}

#[tokio::test]
async fn missing_wrong_scope_and_inactive_tokens_are_refused_with_the_exact_messages() {
    let (auth, checker) = server_for_s1();
    let invalid = format!("Authentication token is invalid for scope {S1}");

    assert_eq!(
        message(checker.check(None).await),
        format!("Authentication token is missing for scope {S1}")
    );
    let other_scope = auth.mint(S2, HOUR);
    assert_eq!(
        message(checker.check(Some(&other_scope.access_token)).await),
        invalid
    );
    let revoked = auth.mint(S1, HOUR);
    auth.revoke(&revoked.access_token);
    assert_eq!(
        message(checker.check(Some(&revoked.access_token)).await),
        invalid
    );
    let expired = auth.mint(S1, Duration::ZERO);
    assert_eq!(
        message(checker.check(Some(&expired.access_token)).await),
        invalid
    );
    assert_eq!(message(checker.check(Some("made-up")).await), invalid);
    let status = tonic::Status::from(checker.check(Some("made-up")).await.unwrap_err());
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn a_positive_answer_is_cached_a_negative_one_is_not() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    checker.check(Some(&minted.access_token)).await.unwrap();
    checker.check(Some(&minted.access_token)).await.unwrap();
    assert_eq!(auth.introspection_calls(), 1);

    for _ in 0..2 {
        checker.check(Some("made-up")).await.unwrap_err();
    }
    assert_eq!(auth.introspection_calls(), 3);
}

#[tokio::test]
async fn without_the_cache_a_revoked_token_is_refused_at_once() {
    let (auth, checker) = server_for_s1();
    let checker = checker.with_cache_ttl(Duration::ZERO);
    let minted = auth.mint(S1, HOUR);
    checker.check(Some(&minted.access_token)).await.unwrap();
    auth.revoke(&minted.access_token);
    checker.check(Some(&minted.access_token)).await.unwrap_err();
    assert_eq!(auth.introspection_calls(), 2);
}

#[tokio::test]
async fn credentials_are_verified_once_at_start() {
    let (auth, checker) = server_for_s1();
    checker.verify_credentials().await.unwrap();

    let wrong = introspector(&auth, S1, "not-the-secret");
    let err = message(wrong.verify_credentials().await);
    assert!(err.contains(&format!("rejected client id {S1}")), "{err}");
    let unknown = introspector(&auth, S2, "s1-secret");
    assert!(matches!(
        unknown.verify_credentials().await,
        Err(AuthError::CredentialsRejected { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_auth_server_is_unavailable_not_unauthenticated() {
    let (mut auth, checker) = server_for_s1();
    auth.stop();
    let err = checker.verify_credentials().await.unwrap_err();
    assert!(matches!(err, AuthError::Unavailable { .. }), "{err}");
    let status = tonic::Status::from(checker.check(Some("token")).await.unwrap_err());
    assert_eq!(status.code(), tonic::Code::Unavailable);
}
