//! The server side: is this bearer token good for this server? RFC 7662 introspection at the
//! auth server, with the server's own client id and secret.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::histogram::Histogram;
use serde::Deserialize;

use super::AuthSettings;
use crate::scope::ScopeId;
use crate::secret::Secret;
use cache::Verdict;
use single_flight::SingleFlight;

mod cache;
mod single_flight;

/// How long a positive answer is trusted; a revoked token is refused at most this late.
pub(crate) const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// Why a call was not let in, or why tokens cannot be checked at all.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Authentication token is missing for scope {scope}")]
    Missing { scope: ScopeId },
    #[error("Authentication token is invalid for scope {scope}")]
    Invalid { scope: ScopeId },
    #[error(
        "the auth server at {url} rejected client id {client_id} and its secret; check \
         --client-id and the client secret (--client-secret-file or SCISTREAM_CLIENT_SECRET)"
    )]
    CredentialsRejected { client_id: ScopeId, url: String },
    #[error("could not check the token: the auth server at {url} is unavailable: {detail}")]
    Unavailable { url: String, detail: String },
}

impl AuthError {
    /// A short name for metrics labels.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing { .. } => "missing_token",
            AuthError::Invalid { .. } => "invalid_token",
            AuthError::CredentialsRejected { .. } => "credentials_rejected",
            AuthError::Unavailable { .. } => "auth_server_unavailable",
        }
    }
}

/// Whose token a call carries, as the auth server's introspection names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The identity's stable id (a UUID at Globus): what owns sessions.
    pub sub: String,
    /// Its readable name (`user@example.org` at Globus), for logs.
    pub username: Option<String>,
}

/// Checks bearer tokens for one resource server (`client_id`).
pub struct Introspector {
    http: reqwest::Client,
    url: String,
    client_id: ScopeId,
    secret: Secret,
    cache: Mutex<cache::Cache>,
    /// Concurrent calls with one token wait for one introspection.
    in_flight: SingleFlight<cache::Key, Result<Identity, AuthError>>,
    /// Where to record how long each introspection call took, answered or not.
    latency: Option<Histogram>,
}

/// The fields of an RFC 7662 answer that decide; Globus sends more.
#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    scope: String,
    exp: Option<u64>,
    sub: Option<String>,
    username: Option<String>,
}

/// A token no auth server issued: introspecting it tests the client credentials alone.
const PROBE_TOKEN: &str = "scistream-credentials-check";

impl Introspector {
    pub fn new(auth: &AuthSettings, client_id: ScopeId, secret: Secret) -> anyhow::Result<Self> {
        Ok(Self {
            http: super::http_client()?,
            url: auth.introspect_url(),
            client_id,
            secret,
            cache: Mutex::new(cache::Cache::new(DEFAULT_CACHE_TTL)),
            in_flight: SingleFlight::new(),
            latency: None,
        })
    }

    /// Replaces the 30 s window of positive answers (zero: never reuse one). A rejected token is
    /// remembered for 10 s regardless.
    pub fn with_cache_ttl(self, ttl: Duration) -> Self {
        Self {
            cache: Mutex::new(cache::Cache::new(ttl)),
            ..self
        }
    }

    /// Checks the client id and secret once, at server start, so a typo fails there and not at
    /// the first user's request.
    pub async fn verify_credentials(&self) -> Result<(), AuthError> {
        self.introspect(PROBE_TOKEN).await.map(drop)
    }

    /// Whose `token` it is, iff it is active and carries this server's SciStream scope.
    pub async fn check(&self, token: Option<&str>) -> Result<Identity, AuthError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(AuthError::Missing {
                scope: self.client_id.clone(),
            });
        };
        let key = cache::key(token);
        self.in_flight.run(key, || self.decide(token, key)).await
    }

    /// The cached verdict on a token, else the auth server's, which is then cached; an auth
    /// server that could not answer is not a verdict, so the next call asks again.
    async fn decide(&self, token: &str, key: cache::Key) -> Result<Identity, AuthError> {
        match self.cache().verdict(&key, Instant::now()) {
            Some(Verdict::Accepted(identity)) => return Ok(identity),
            Some(Verdict::Rejected) => return Err(self.invalid()),
            None => {}
        }
        let answer = self.introspect(token).await?;
        let required = self.client_id.scistream_scope();
        if !(answer.active && answer.scope.split_whitespace().any(|s| s == required)) {
            self.cache().reject(key, Instant::now());
            return Err(self.invalid());
        }
        let Some(sub) = answer.sub.filter(|sub| !sub.is_empty()) else {
            return Err(AuthError::Unavailable {
                url: self.url.clone(),
                detail: "the answer for an active token names no identity (sub)".into(),
            });
        };
        let identity = Identity {
            sub,
            username: answer.username,
        };
        let lifetime = answer.exp.map(seconds_until);
        self.cache()
            .accept(key, Instant::now(), lifetime, identity.clone());
        Ok(identity)
    }

    fn invalid(&self) -> AuthError {
        AuthError::Invalid {
            scope: self.client_id.clone(),
        }
    }

    /// Times each call to the auth server in `histogram` (shared: a clone is the same one).
    pub(crate) fn with_latency(self, histogram: Histogram) -> Self {
        Self {
            latency: Some(histogram),
            ..self
        }
    }

    pub(crate) fn latency(&self) -> Option<&Histogram> {
        self.latency.as_ref()
    }

    async fn introspect(&self, token: &str) -> Result<Introspection, AuthError> {
        let started = Instant::now();
        let answer = self.call_introspect(token).await;
        if let Some(latency) = &self.latency {
            latency.observe(started.elapsed().as_secs_f64());
        }
        answer
    }

    async fn call_introspect(&self, token: &str) -> Result<Introspection, AuthError> {
        let unavailable = |detail: String| AuthError::Unavailable {
            url: self.url.clone(),
            detail,
        };
        let response = self
            .http
            .post(&self.url)
            .basic_auth(self.client_id.as_str(), Some(self.secret.expose()))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|err| unavailable(format!("{:#}", anyhow::Error::from(err))))?;
        match response.status() {
            status if status.is_success() => response
                .json()
                .await
                .map_err(|err| unavailable(format!("unreadable introspection answer: {err}"))),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                Err(AuthError::CredentialsRejected {
                    client_id: self.client_id.clone(),
                    url: self.url.clone(),
                })
            }
            status => Err(unavailable(format!("HTTP {status}"))),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, cache::Cache> {
        // A panic while holding this lock cannot leave the map half-updated in a harmful way.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn seconds_until(exp: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(exp.saturating_sub(now))
}
