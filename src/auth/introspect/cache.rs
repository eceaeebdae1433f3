//! Introspection answers, kept briefly so a burst of calls costs one round trip: accepted
//! tokens with the identity they belong to, and rejected ones, so that junk tokens cannot turn
//! the gateway into a traffic source against the auth server.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;
use sha2::{Digest, Sha256};

use super::Authenticated;

/// How long a rejected token is remembered. A rejected token never turns good (a user who logs
/// in again gets a new one), so this only bounds how long the entry takes up room.
pub(super) const REJECTED_TTL: Duration = Duration::from_secs(10);

/// Entries of each kind; past it, the least recently used one goes.
const MAX_ENTRIES: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// A token's SHA-256, so the cache holds no usable token.
pub(super) type Key = [u8; 32];

pub(super) fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

/// What the cache still knows of a token.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    Accepted(Authenticated),
    Rejected,
}

pub(super) struct Cache {
    ttl: Duration,
    accepted: LruCache<Key, (Instant, Authenticated)>,
    rejected: LruCache<Key, (Instant, ())>,
}

impl Cache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            accepted: LruCache::new(MAX_ENTRIES),
            rejected: LruCache::new(MAX_ENTRIES),
        }
    }

    pub(super) fn verdict(&mut self, key: &Key, now: Instant) -> Option<Verdict> {
        if let Some(identity) = live(&mut self.accepted, key, now) {
            return Some(Verdict::Accepted(identity));
        }
        live(&mut self.rejected, key, now).map(|()| Verdict::Rejected)
    }

    /// Remembers a token the auth server called active, for the cache's ttl but never past
    /// `lifetime` (what is left until the token's `exp`, when the server gave one).
    pub(super) fn accept(
        &mut self,
        key: Key,
        now: Instant,
        lifetime: Option<Duration>,
        identity: Authenticated,
    ) {
        let keep = lifetime.map_or(self.ttl, |left| left.min(self.ttl));
        if !keep.is_zero() {
            self.accepted.put(key, (now + keep, identity));
        }
    }

    pub(super) fn reject(&mut self, key: Key, now: Instant) {
        self.rejected.put(key, (now + REJECTED_TTL, ()));
    }
}

/// The value kept for `key` if it has not expired; an expired entry is dropped.
fn live<V: Clone>(map: &mut LruCache<Key, (Instant, V)>, key: &Key, now: Instant) -> Option<V> {
    match map.get(key) {
        Some((until, value)) if now < *until => Some(value.clone()),
        Some(_) => {
            map.pop(key);
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Identity;
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    fn alice() -> Authenticated {
        Authenticated::from(Identity {
            sub: "alice-sub".into(),
            username: Some("alice@example.org".into()),
        })
    }

    fn accepted(cache: &mut Cache, token: &str, at: Instant) -> bool {
        cache.verdict(&key(token), at) == Some(Verdict::Accepted(alice()))
    }

    #[test]
    fn keeps_for_the_ttl_at_most_with_its_identity() {
        let now = Instant::now();
        let mut cache = Cache::new(TTL);
        cache.accept(key("t"), now, Some(Duration::from_secs(3600)), alice());
        assert!(accepted(
            &mut cache,
            "t",
            now + TTL - Duration::from_millis(1)
        ));
        assert!(!accepted(&mut cache, "t", now + TTL));
        assert_eq!(cache.verdict(&key("other"), now), None);
    }

    #[test]
    fn never_past_the_token_expiry() {
        let now = Instant::now();
        let mut cache = Cache::new(TTL);
        cache.accept(key("t"), now, Some(Duration::from_secs(5)), alice());
        assert!(accepted(&mut cache, "t", now + Duration::from_secs(4)));
        assert!(!accepted(&mut cache, "t", now + Duration::from_secs(5)));
    }

    #[test]
    fn a_zero_ttl_or_an_expired_token_is_not_kept() {
        let now = Instant::now();
        let mut off = Cache::new(Duration::ZERO);
        off.accept(key("t"), now, None, alice());
        assert_eq!(off.verdict(&key("t"), now), None);
        let mut cache = Cache::new(TTL);
        cache.accept(key("t"), now, Some(Duration::ZERO), alice());
        assert_eq!(cache.verdict(&key("t"), now), None);
    }

    #[test]
    fn a_rejected_token_is_remembered_briefly_even_with_caching_off() {
        let now = Instant::now();
        let mut cache = Cache::new(Duration::ZERO);
        cache.reject(key("junk"), now);
        let later = now + REJECTED_TTL - Duration::from_millis(1);
        assert_eq!(cache.verdict(&key("junk"), later), Some(Verdict::Rejected));
        assert_eq!(cache.verdict(&key("junk"), now + REJECTED_TTL), None);
        assert!(cache.rejected.is_empty(), "the expired entry was dropped");
    }

    #[test]
    fn stays_bounded_and_keeps_the_recently_used() {
        let now = Instant::now();
        let mut cache = Cache::new(TTL);
        cache.accept(key("kept"), now, None, alice());
        for i in 0..MAX_ENTRIES.get() + 5 {
            cache.reject(key(&i.to_string()), now);
            cache.accept(key(&i.to_string()), now, None, alice());
            if i % 1000 == 0 {
                assert!(accepted(&mut cache, "kept", now));
            }
        }
        assert_eq!(cache.accepted.len(), MAX_ENTRIES.get());
        assert_eq!(cache.rejected.len(), MAX_ENTRIES.get());
        assert!(accepted(&mut cache, "kept", now));
        assert_eq!(cache.verdict(&key("0"), now), None);
    }
}
