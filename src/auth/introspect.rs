//! The server side: is this bearer token good for this server? RFC 7662 introspection at the
//! auth server, with the server's own client id and secret; and, for the access policy, the
//! token's identity set, its authentication policy evaluations and dependent tokens.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::histogram::Histogram;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::AuthSettings;
use crate::scope::ScopeId;
use crate::secret::Secret;
use cache::Verdict;
use in_flight::InFlight;
pub use in_flight::IntrospectionLimits;
pub(crate) use single_flight::SingleFlight;

mod cache;
mod in_flight;
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
    #[error(
        "the gateway is checking too many new tokens at once (at most {} at a time, {} per \
         client address); try again in a moment",
        .limits.max_in_flight, .limits.max_in_flight_per_ip
    )]
    Busy { limits: IntrospectionLimits },
}

impl AuthError {
    /// A short name for metrics labels.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing { .. } => "missing_token",
            AuthError::Invalid { .. } => "invalid_token",
            AuthError::CredentialsRejected { .. } => "credentials_rejected",
            AuthError::Unavailable { .. } => "auth_server_unavailable",
            AuthError::Busy { .. } => "introspections_saturated",
        }
    }
}

/// Whose token a call carries, as the auth server's introspection names them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Identity {
    /// The identity's stable id (a UUID at Globus): what owns sessions.
    #[serde(alias = "id")]
    pub sub: String,
    /// Its readable name (`user@example.org` at Globus), for logs.
    #[serde(default)]
    pub username: Option<String>,
}

impl Identity {
    /// How logs and messages name it: the username, else the id.
    pub fn name(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.sub)
    }
}

/// What the auth server said about an active token with this server's scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub identity: Identity,
    /// The identities linked to it (asked for with [`IntrospectionDetails::identity_set`]).
    pub identity_set: Vec<Identity>,
    /// Per authentication policy asked about: whether the token's login meets it.
    pub policy_evaluations: BTreeMap<String, bool>,
}

impl From<Identity> for Authenticated {
    fn from(identity: Identity) -> Self {
        Authenticated {
            identity,
            identity_set: Vec::new(),
            policy_evaluations: BTreeMap::new(),
        }
    }
}

impl Authenticated {
    /// The policies of `asked` the login does not meet (one the answer left out among them).
    pub fn failed_policies<'a>(&self, asked: &'a [String]) -> Vec<&'a String> {
        let passed = |id: &String| self.policy_evaluations.get(id) == Some(&true);
        asked.iter().filter(|id| !passed(id)).collect()
    }
}

/// What introspection asks the auth server for beyond whether a token is active.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntrospectionDetails {
    /// Every identity linked to the token's (`include=identity_set_detail`).
    pub identity_set: bool,
    /// Globus authentication policy ids to evaluate the token's login against.
    pub authentication_policies: Vec<String>,
}

/// Checks bearer tokens for one resource server (`client_id`).
pub struct Introspector {
    http: reqwest::Client,
    url: String,
    token_url: String,
    client_id: ScopeId,
    secret: Secret,
    details: IntrospectionDetails,
    cache: Mutex<cache::Cache>,
    /// Concurrent calls with one token wait for one introspection.
    shared: SingleFlight<cache::Key, Result<Authenticated, AuthError>>,
    /// Introspections of distinct tokens under way, capped.
    in_flight: InFlight,
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
    #[serde(default)]
    identity_set_detail: Vec<Identity>,
    #[serde(default)]
    policy_evaluations: HashMap<String, Evaluation>,
}

#[derive(Deserialize)]
struct Evaluation {
    evaluation: bool,
}

/// One token of a dependent token grant's answer.
#[derive(Deserialize)]
struct DependentToken {
    resource_server: String,
    access_token: String,
}

/// A token no auth server issued: introspecting it tests the client credentials alone.
const PROBE_TOKEN: &str = "scistream-credentials-check";

impl Introspector {
    pub fn new(auth: &AuthSettings, client_id: ScopeId, secret: Secret) -> anyhow::Result<Self> {
        Ok(Self {
            http: super::http_client()?,
            url: auth.introspect_url(),
            token_url: auth.token_url(),
            client_id,
            secret,
            details: IntrospectionDetails::default(),
            cache: Mutex::new(cache::Cache::new(DEFAULT_CACHE_TTL)),
            shared: SingleFlight::new(),
            in_flight: InFlight::new(IntrospectionLimits::default()),
            latency: None,
        })
    }

    /// Also asks the auth server for `details` about every token.
    pub fn with_details(self, details: IntrospectionDetails) -> Self {
        Self { details, ..self }
    }

    /// Replaces the default caps on introspections under way.
    pub fn with_limits(self, limits: IntrospectionLimits) -> Self {
        Self {
            in_flight: InFlight::new(limits),
            ..self
        }
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
        self.authenticate(token, None).await.map(|a| a.identity)
    }

    /// [`Introspector::check`] with the details asked for, for a call from `peer`: a token
    /// that is not cached needs a slot among the introspections under way (in all, and from
    /// `peer`'s address), or the call is refused as [`AuthError::Busy`].
    pub async fn authenticate(
        &self,
        token: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(AuthError::Missing {
                scope: self.client_id.clone(),
            });
        };
        let key = cache::key(token);
        self.shared.run(key, || self.decide(token, key, peer)).await
    }

    /// The cached verdict on a token, else the auth server's, which is then cached; an auth
    /// server that could not answer is not a verdict, so the next call asks again. A login
    /// that fails an authentication policy is not cached either: the next call evaluates anew.
    async fn decide(
        &self,
        token: &str,
        key: cache::Key,
        peer: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        match self.cache().verdict(&key, Instant::now()) {
            Some(Verdict::Accepted(identity)) => return Ok(identity),
            Some(Verdict::Rejected) => return Err(self.invalid()),
            None => {}
        }
        let permit = self.in_flight.acquire(peer);
        let Some(_permit) = permit else {
            let limits = self.in_flight.limits();
            return Err(AuthError::Busy { limits });
        };
        let answer = self.introspect(token).await?;
        let required = self.client_id.scistream_scope();
        if !(answer.active && answer.scope.split_whitespace().any(|s| s == required)) {
            self.cache().reject(key, Instant::now());
            return Err(self.invalid());
        }
        let lifetime = answer.exp.map(seconds_until);
        let authenticated = self.authenticated(answer)?;
        let policies = &self.details.authentication_policies;
        if authenticated.failed_policies(policies).is_empty() {
            let now = Instant::now();
            self.cache()
                .accept(key, now, lifetime, authenticated.clone());
        }
        Ok(authenticated)
    }

    fn authenticated(&self, answer: Introspection) -> Result<Authenticated, AuthError> {
        let Some(sub) = answer.sub.filter(|sub| !sub.is_empty()) else {
            return Err(self.unavailable("the answer for an active token names no identity (sub)"));
        };
        let policy_evaluations = answer.policy_evaluations.into_iter();
        Ok(Authenticated {
            identity: Identity {
                sub,
                username: answer.username,
            },
            identity_set: answer.identity_set_detail,
            policy_evaluations: policy_evaluations
                .map(|(id, e)| (id, e.evaluation))
                .collect(),
        })
    }

    /// A token for `resource_server` (e.g. the Groups API) acting for the user whose `token`
    /// this is: Globus's dependent token grant, with this server's own credentials. The
    /// server's scope must have the resource server's scope as a dependent scope.
    pub async fn dependent_token(
        &self,
        token: &str,
        resource_server: &str,
    ) -> Result<Secret, AuthError> {
        let form = [
            ("grant_type", "urn:globus:auth:grant_type:dependent_token"),
            ("token", token),
        ];
        let tokens: Vec<DependentToken> = self.post(&self.token_url, &form).await?;
        let found = tokens
            .into_iter()
            .find(|t| t.resource_server == resource_server);
        found.map(|t| Secret::new(t.access_token)).ok_or_else(|| {
            self.unavailable(&format!(
                "the dependent token grant gave no token for {resource_server}: this server's \
                 scope needs it as a dependent scope, and the user's consent to it (a new login)"
            ))
        })
    }

    fn unavailable(&self, detail: &str) -> AuthError {
        AuthError::Unavailable {
            url: self.url.clone(),
            detail: detail.to_owned(),
        }
    }

    /// The scope (this server's client id) tokens must carry.
    pub fn scope(&self) -> &ScopeId {
        &self.client_id
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
        let policies = self.details.authentication_policies.join(",");
        let mut form = vec![("token", token)];
        if self.details.identity_set {
            form.push(("include", "identity_set_detail"));
        }
        if !policies.is_empty() {
            form.push(("authentication_policies", &policies));
        }
        self.post(&self.url, &form).await
    }

    /// POSTs `form` to the auth server's `url` with this server's credentials (HTTP Basic)
    /// and reads the JSON answer.
    async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<T, AuthError> {
        let unavailable = |detail: String| AuthError::Unavailable {
            url: url.to_owned(),
            detail,
        };
        let response = self
            .http
            .post(url)
            .basic_auth(self.client_id.as_str(), Some(self.secret.expose()))
            .form(form)
            .send()
            .await
            .map_err(|err| unavailable(format!("{:#}", anyhow::Error::from(err))))?;
        match response.status() {
            status if status.is_success() => response
                .json()
                .await
                .map_err(|err| unavailable(format!("unreadable answer: {err}"))),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                Err(AuthError::CredentialsRejected {
                    client_id: self.client_id.clone(),
                    url: url.to_owned(),
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
