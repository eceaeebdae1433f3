//! Globus Group memberships, for `allow_groups` and `admin_groups`: a Groups API token from the
//! dependent token grant (the server's own credentials, the user's token), then the Groups
//! API's `my_groups`. Memberships are kept for a few minutes per identity (a bounded cache), so
//! a change is seen within that time; a lookup that fails is never kept.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::auth::{Introspector, SingleFlight};
use crate::config::{pick_base_url, Config};
use crate::secret::Secret;

/// The Groups API as the dependent token grant names it.
const GROUPS_RESOURCE_SERVER: &str = "groups.api.globus.org";
const DEFAULT_GROUPS_URL: &str = "https://groups.api.globus.org";
/// Overrides `groups_url` from the file, as `SCISTREAM_AUTH_URL` does `auth_url`.
const GROUPS_URL_ENV: &str = "SCISTREAM_GROUPS_URL";
/// How long memberships are reused by default.
pub const DEFAULT_MEMBERSHIP_CACHE: Duration = Duration::from_secs(300);
/// Identities whose memberships are kept; past it, the least recently used go.
const MAX_CACHED: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();
/// Lookups under way at once; each holds one connection (to the auth server, then to the
/// Groups API) at a time. More wait for a turn.
pub(crate) const MAX_LOOKUPS: usize = 16;

/// The group ids one identity is an active member of.
pub(crate) type Memberships = Arc<HashSet<String>>;

/// Looks up and caches users' group memberships.
pub struct Groups {
    introspector: Arc<Introspector>,
    http: reqwest::Client,
    my_groups_url: String,
    ttl: Duration,
    cache: Mutex<LruCache<String, (Instant, Memberships)>>,
    lookups: Semaphore,
    /// Concurrent calls of one identity wait for one lookup.
    shared: SingleFlight<String, Result<Memberships, String>>,
}

/// One group of a `my_groups` answer (Globus sends more).
#[derive(Deserialize)]
struct Group {
    id: String,
    #[serde(default)]
    my_memberships: Option<Vec<Membership>>,
}

#[derive(Deserialize)]
struct Membership {
    #[serde(default)]
    status: String,
}

impl Group {
    /// Whether the caller is a member now; an invitation or a pending request is not.
    fn is_member(&self) -> bool {
        self.my_memberships
            .as_ref()
            .is_none_or(|all| all.iter().any(|m| m.status == "active"))
    }
}

/// The Groups API base URL: `SCISTREAM_GROUPS_URL`, else the file's `groups_url`, else Globus's.
pub fn groups_url(config: &Config, env: Option<String>) -> anyhow::Result<String> {
    pick_base_url(
        (env, GROUPS_URL_ENV),
        (config.groups_url.as_ref(), "groups_url"),
        DEFAULT_GROUPS_URL,
    )
}

/// [`groups_url`] with the environment's override.
pub(crate) fn load_groups_url(config: &Config) -> anyhow::Result<String> {
    groups_url(config, std::env::var(GROUPS_URL_ENV).ok())
}

impl Groups {
    /// Looks memberships up at the Groups API at `base_url`, with Groups API tokens from
    /// `introspector`'s dependent token grant, keeping them for `ttl` (zero: never).
    pub fn new(
        introspector: Arc<Introspector>,
        base_url: &str,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Groups {
            introspector,
            http: crate::auth::http_client()?,
            my_groups_url: format!("{base_url}/v2/groups/my_groups"),
            ttl,
            cache: Mutex::new(LruCache::new(MAX_CACHED)),
            lookups: Semaphore::new(MAX_LOOKUPS),
            shared: SingleFlight::new(),
        })
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The groups identity `sub` (whose access token is `token`) is a member of. An error
    /// says why they could not be looked up: never "not a member".
    pub(crate) async fn of(&self, sub: &str, token: &str) -> Result<Memberships, String> {
        if let Some(known) = self.cached(sub) {
            return Ok(known);
        }
        let key = sub.to_owned();
        self.shared.run(key, || self.lookup(sub, token)).await
    }

    async fn lookup(&self, sub: &str, token: &str) -> Result<Memberships, String> {
        if let Some(known) = self.cached(sub) {
            return Ok(known);
        }
        // Never closed, so acquiring only waits.
        let _turn = self.lookups.acquire().await.map_err(|e| e.to_string())?;
        let groups_token = self
            .introspector
            .dependent_token(token, GROUPS_RESOURCE_SERVER)
            .await
            .map_err(|err| err.to_string())?;
        let memberships = self.my_groups(&groups_token).await?;
        if !self.ttl.is_zero() {
            let until = Instant::now() + self.ttl;
            self.lock()
                .put(sub.to_owned(), (until, memberships.clone()));
        }
        Ok(memberships)
    }

    async fn my_groups(&self, token: &Secret) -> Result<Memberships, String> {
        let url = &self.my_groups_url;
        let failed = |what: String| format!("the Groups API at {url} {what}");
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|err| failed(format!("is unreachable: {:#}", anyhow::Error::from(err))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!("answered HTTP {status}")));
        }
        let groups: Vec<Group> = response
            .json()
            .await
            .map_err(|err| failed(format!("sent an unreadable answer: {err}")))?;
        let ids = groups.iter().filter(|g| g.is_member());
        Ok(Arc::new(ids.map(|g| g.id.to_ascii_lowercase()).collect()))
    }

    fn cached(&self, sub: &str) -> Option<Memberships> {
        let mut cache = self.lock();
        match cache.get(sub) {
            Some((until, known)) if Instant::now() < *until => Some(known.clone()),
            Some(_) => {
                cache.pop(sub);
                None
            }
            None => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<String, (Instant, Memberships)>> {
        // The cache stays consistent whatever panicked while it was held.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_memberships_count() {
        let answer = r#"[
            {"id": "A", "name": "x"},
            {"id": "b", "my_memberships": [{"status": "invited"}, {"status": "active"}]},
            {"id": "c", "my_memberships": [{"status": "pending"}]}
        ]"#;
        let groups: Vec<Group> = serde_json::from_str(answer).unwrap();
        let member: Vec<&str> = groups
            .iter()
            .filter(|g| g.is_member())
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(member, ["A", "b"]);
    }

    #[test]
    fn the_environment_wins_and_plain_http_is_only_for_loopback() {
        let mut config = Config::default();
        assert_eq!(groups_url(&config, None).unwrap(), DEFAULT_GROUPS_URL);
        config.groups_url = Some("https://groups.example/".into());
        assert_eq!(groups_url(&config, None).unwrap(), "https://groups.example");
        let local = Some("http://127.0.0.1:9".to_owned());
        assert_eq!(groups_url(&config, local).unwrap(), "http://127.0.0.1:9");
        let remote = Some("http://groups.example".to_owned());
        assert!(groups_url(&config, remote).is_err());
    }
}
