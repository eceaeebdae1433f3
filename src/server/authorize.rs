//! Token checking and the access policy in front of the whole `Control` service, so that every
//! call (and any RPC added later) is checked before its handler runs. An async tower filter,
//! because the check is a network call and tonic's interceptors cannot await. The policy's
//! [`Decision`] (the caller's identity, whether an admin) goes on to the handlers in the
//! request's extensions. Every decision is logged once per call; refusals of junk tokens, which a
//! stranger can send at will, are logged as one line per kind every few seconds.

use std::future::{ready, Future};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tonic::codegen::http;
use tonic::metadata::MetadataValue;
use tower::filter::AsyncPredicate;
use tower::BoxError;

use super::connections::mark_authenticated;
use super::metrics::Metrics;
use super::peer::{peer_of, Peer};
use super::rpc::{self, Rpc};
use super::throttle::LogThrottle;
use crate::auth::{AuthError, Identity, Introspector, AUTH_REQUIREMENTS_METADATA_KEY};
use crate::logging::THROTTLE_INTERVAL;
use crate::policy::{Decision, Policy, Refusal};
use crate::scope::{ScopeId, SCOPE_METADATA_KEY};

/// Authentication on: the token check, and who may use the gateway.
pub struct Access {
    pub introspector: Arc<Introspector>,
    pub policy: Arc<Policy>,
}

/// Why a call was kept out.
enum Refused {
    Token(AuthError),
    /// The policy refused this identity.
    Policy(Identity, Refusal),
}

impl Access {
    /// The decision on a call with these `headers` from `peer`.
    async fn admit(
        &self,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Decision, Refused> {
        let token = token_from_headers(headers);
        let who = self.introspector.authenticate(token, peer).await;
        let who = who.map_err(Refused::Token)?;
        let decided = self.policy.admit(&who, token.unwrap_or_default()).await;
        decided.map_err(|refusal| Refused::Policy(who.identity, refusal))
    }
}

/// Lets a call through when its token is valid and the policy admits its identity; with no
/// [`Access`] (the server has no client secret) every call goes through. Refusals are logged and
/// counted.
#[derive(Clone)]
pub(crate) struct Authorize {
    access: Option<Arc<Access>>,
    metrics: Arc<Metrics>,
    throttle: Arc<LogThrottle>,
}

impl Authorize {
    pub(crate) fn new(access: Option<Arc<Access>>, metrics: Arc<Metrics>) -> Self {
        Self {
            access,
            metrics,
            throttle: Arc::default(),
        }
    }
}

type Checked<B> = Pin<Box<dyn Future<Output = Result<http::Request<B>, BoxError>> + Send>>;

impl<B: Send + 'static> AsyncPredicate<http::Request<B>> for Authorize {
    type Future = Checked<B>;
    type Request = http::Request<B>;

    fn check(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(access) = self.access.clone() else {
            return Box::pin(ready(Ok(request)));
        };
        let this = self.clone();
        Box::pin(async move {
            let rpc = Rpc::from_path(request.uri().path());
            let peer = peer_of(request.extensions());
            let ip = Peer::of(request.extensions()).ip();
            match access.admit(request.headers(), ip).await {
                Ok(decision) => {
                    audit_admitted(&decision, rpc, &peer);
                    mark_authenticated(request.extensions());
                    request.extensions_mut().insert(decision);
                    Ok(request)
                }
                Err(refused) => {
                    let status = this.refuse(refused, rpc, &peer, access.introspector.scope());
                    // Answered (and counted) as that gRPC status by the replies layer.
                    Err(Box::new(status) as BoxError)
                }
            }
        })
    }
}

/// The audit line of a call let in.
fn audit_admitted(decision: &Decision, rpc: Option<Rpc>, peer: &str) {
    let identity = &decision.identity;
    tracing::info!(event = "access", decision = "admitted", rpc = rpc::label(rpc),
        sub = %identity.sub, username = identity.username.as_deref(), admin = decision.admin,
        rule = %decision.rule, %peer, "call admitted");
}

impl Authorize {
    /// Logs and counts a refused call; its status.
    fn refuse(
        &self,
        refused: Refused,
        rpc: Option<Rpc>,
        peer: &str,
        scope: &ScopeId,
    ) -> tonic::Status {
        let label = rpc::label(rpc);
        let (reason, status) = match refused {
            Refused::Token(err) => {
                let reason = err.reason();
                self.log_token_failure(&err, label, peer);
                (reason, tonic::Status::from(err))
            }
            Refused::Policy(
                identity,
                Refusal::Denied {
                    message,
                    rule,
                    requirements,
                },
            ) => {
                tracing::warn!(event = "access", decision = "refused", rpc = label,
                    sub = %identity.sub, username = identity.username.as_deref(), rule, %peer,
                    "{message}");
                let mut status = tonic::Status::permission_denied(message);
                insert_scope(&mut status, scope);
                if !requirements.is_empty() {
                    let value = MetadataValue::try_from(requirements.to_metadata());
                    if let Ok(value) = value {
                        status
                            .metadata_mut()
                            .insert(AUTH_REQUIREMENTS_METADATA_KEY, value);
                    }
                }
                ("policy_refused", status)
            }
            Refused::Policy(_, err @ Refusal::Unavailable(_)) => {
                if let Some(count) = self.throttle.due("policy_unavailable", Instant::now()) {
                    tracing::error!(event = "auth_failure", rpc = label, %peer,
                        reason = "policy_unavailable", refused = count, "{err}");
                }
                (
                    "policy_unavailable",
                    tonic::Status::unavailable(err.to_string()),
                )
            }
        };
        self.metrics.record_auth_failure(reason);
        status
    }

    /// One line per kind of token failure every [`THROTTLE_INTERVAL`] at most, counting the calls
    /// it stands for: a warning for the caller's problem, an error for the server's.
    fn log_token_failure(&self, err: &AuthError, rpc: &'static str, peer: &str) {
        let reason = err.reason();
        let Some(count) = self.throttle.due(reason, Instant::now()) else {
            return;
        };
        match err {
            AuthError::Missing { .. } | AuthError::Invalid { .. } | AuthError::Busy { .. } => {
                tracing::warn!(event = "auth_failure", rpc, %peer, reason, refused = count,
                    "{err} ({count} calls refused so; the next such line comes at most {} s \
                     later)", THROTTLE_INTERVAL.as_secs());
            }
            _ => tracing::error!(event = "auth_failure", rpc, %peer, reason, refused = count,
                "{err} ({count} calls refused so)"),
        }
    }
}

/// Names the server's scope in `status`: the client's login hint reads it.
fn insert_scope(status: &mut tonic::Status, scope: &ScopeId) {
    // A scope id is a UUID, always valid ASCII metadata.
    if let Ok(scope) = scope.as_str().parse() {
        status.metadata_mut().insert(SCOPE_METADATA_KEY, scope);
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
                insert_scope(&mut status, &scope);
                status
            }
            AuthError::Unavailable { .. } | AuthError::Busy { .. } => Self::unavailable(message),
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
