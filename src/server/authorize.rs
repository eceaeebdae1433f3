//! Token checking in front of the whole `Control` service, so that every call (and any RPC
//! added later) is checked before its handler runs. An async tower filter, because the check
//! is a network call and tonic's interceptors cannot await. The caller's [`Identity`] goes on to
//! the handlers in the request's extensions.

use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::Arc;

use tonic::codegen::http;
use tower::filter::AsyncPredicate;
use tower::BoxError;

use super::connections::mark_authenticated;
use super::metrics::Metrics;
use super::peer::peer_of;
use super::rpc::{self, Rpc};
use crate::auth::{AuthError, Identity, Introspector};
use crate::scope::SCOPE_METADATA_KEY;

/// Lets a call through when it carries a token the introspector accepts; with no introspector
/// (the server has no client secret) every call goes through. Refusals are logged and counted.
#[derive(Clone)]
pub(crate) struct Authorize {
    pub(crate) introspector: Option<Arc<Introspector>>,
    pub(crate) metrics: Arc<Metrics>,
}

type Checked<B> = Pin<Box<dyn Future<Output = Result<http::Request<B>, BoxError>> + Send>>;

impl<B: Send + 'static> AsyncPredicate<http::Request<B>> for Authorize {
    type Future = Checked<B>;
    type Request = http::Request<B>;

    fn check(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(introspector) = self.introspector.clone() else {
            return Box::pin(ready(Ok(request)));
        };
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let token = token_from_headers(request.headers()).map(str::to_owned);
            let err = match introspector.check(token.as_deref()).await {
                Ok(identity) => {
                    mark_authenticated(request.extensions());
                    request.extensions_mut().insert::<Identity>(identity);
                    return Ok(request);
                }
                Err(err) => err,
            };
            let rpc = Rpc::from_path(request.uri().path());
            let label = rpc::label(rpc);
            let peer = peer_of(request.extensions());
            let reason = err.reason();
            match err {
                // The caller's problem: a warning. Below, the server cannot check tokens.
                AuthError::Missing { .. } | AuthError::Invalid { .. } => {
                    tracing::warn!(event = "auth_failure", rpc = label, %peer, reason, "{err}");
                }
                _ => tracing::error!(event = "auth_failure", rpc = label, %peer, reason, "{err}"),
            }
            metrics.record_auth_failure(reason);
            // Answered (and counted) as that gRPC status by the replies layer.
            Err(Box::new(tonic::Status::from(err)) as BoxError)
        })
    }
}

/// The token in a call's `authorization` metadata (an HTTP/2 header): the bare token, as the
/// Python client sends it, or `Bearer <token>`.
pub fn token_from_headers(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        // A scheme with nothing after it is a missing token, not a token named "Bearer".
        None if value.eq_ignore_ascii_case("bearer") => "",
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

impl From<AuthError> for tonic::Status {
    fn from(err: AuthError) -> Self {
        let message = err.to_string();
        match err {
            AuthError::Missing { scope } | AuthError::Invalid { scope } => {
                let mut status = Self::unauthenticated(message);
                // A scope id is a UUID, always valid ASCII metadata.
                if let Ok(scope) = scope.as_str().parse() {
                    status.metadata_mut().insert(SCOPE_METADATA_KEY, scope);
                }
                status
            }
            AuthError::Unavailable { .. } => Self::unavailable(message),
            // The caller can do nothing about the server's own credentials.
            AuthError::CredentialsRejected { .. } => Self::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::DEFAULT_SCOPE;
    use http::HeaderMap;

    fn token(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value.parse().unwrap());
        token_from_headers(&headers).map(String::from)
    }

    #[test]
    fn accepts_bare_and_bearer_tokens() {
        assert_eq!(token("abc").as_deref(), Some("abc"));
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token_from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn unauthenticated_status_carries_the_exact_message_and_the_scope() {
        let status = tonic::Status::from(AuthError::Invalid {
            scope: DEFAULT_SCOPE.parse().unwrap(),
        });
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            status.message(),
            "Authentication token is invalid for scope c42c0dac-0a52-408e-a04f-5d31bfe0aef8"
        );
        let scope = status.metadata().get(SCOPE_METADATA_KEY).unwrap();
        assert_eq!(scope.to_str().unwrap(), DEFAULT_SCOPE);
    }
}
