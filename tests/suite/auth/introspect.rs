use std::time::Duration;

use futures_util::future::join_all;
use scistream::auth::{AuthError, AuthSettings, Identity, Introspector};
use scistream::config::Config;
use scistream::secret::Secret;
use scistream::server::token_from_headers;

use super::{S1, S2};
use crate::common::oauth::{OAuthServer, USER_SUB};

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

fn message<T: std::fmt::Debug>(result: Result<T, AuthError>) -> String {
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn an_active_token_with_the_servers_scope_passes_and_names_its_identity() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    let identity = checker.check(Some(&minted.access_token)).await.unwrap();
    let expected = Identity {
        sub: USER_SUB.into(),
        username: Some(format!("{USER_SUB}@example.org")),
    };
    assert_eq!(identity, expected);
    let other = auth.mint_for("other-sub", S1, HOUR);
    let identity = checker.check(Some(&other.access_token)).await.unwrap();
    assert_eq!(identity.sub, "other-sub");
    // From the cache, the same identity.
    let again = checker.check(Some(&minted.access_token)).await.unwrap();
    assert_eq!(again, expected);
    assert_eq!(auth.introspection_calls(), 2);
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
async fn a_positive_answer_is_cached() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    checker.check(Some(&minted.access_token)).await.unwrap();
    checker.check(Some(&minted.access_token)).await.unwrap();
    assert_eq!(auth.introspection_calls(), 1);
}

#[tokio::test]
async fn a_rejected_token_is_introspected_once_not_on_every_call() {
    let (auth, checker) = server_for_s1();
    // Even with positive answers never reused, rejections are remembered.
    let checker = checker.with_cache_ttl(Duration::ZERO);
    for _ in 0..200 {
        let err = checker.check(Some("junk-token")).await.unwrap_err();
        assert!(matches!(err, AuthError::Invalid { .. }), "{err}");
    }
    assert_eq!(auth.introspection_calls(), 1);
    let wrong_scope = auth.mint(S2, HOUR);
    for _ in 0..3 {
        checker
            .check(Some(&wrong_scope.access_token))
            .await
            .unwrap_err();
    }
    assert_eq!(auth.introspection_calls(), 2);
}

#[tokio::test]
async fn concurrent_calls_with_one_token_share_one_introspection() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    let good = join_all((0..50).map(|_| checker.check(Some(&minted.access_token)))).await;
    assert!(good
        .iter()
        .all(|r| r.as_ref().is_ok_and(|id| id.sub == USER_SUB)));
    assert_eq!(auth.introspection_calls(), 1);

    let junk = join_all((0..50).map(|_| checker.check(Some("junk-token")))).await;
    assert!(junk
        .iter()
        .all(|r| matches!(r, Err(AuthError::Invalid { .. }))));
    assert_eq!(auth.introspection_calls(), 2);
}

#[tokio::test]
async fn an_auth_server_outage_is_not_remembered_as_a_rejection() {
    let (auth, checker) = server_for_s1();
    let minted = auth.mint(S1, HOUR);
    auth.set_outage(true);
    for token in [minted.access_token.as_str(), "junk-token"] {
        let err = checker.check(Some(token)).await.unwrap_err();
        assert!(matches!(err, AuthError::Unavailable { .. }), "{err}");
    }
    auth.set_outage(false);
    checker.check(Some(&minted.access_token)).await.unwrap();
    let err = checker.check(Some("junk-token")).await.unwrap_err();
    assert!(matches!(err, AuthError::Invalid { .. }), "{err}");
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
