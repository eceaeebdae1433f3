//! Positive introspection answers, kept briefly so a burst of calls costs one round trip.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Entries beyond this are a sign of many distinct tokens; expired ones are swept first.
const MAX_ENTRIES: usize = 10_000;

/// Keyed by the token's SHA-256, so the cache holds no usable token.
pub(super) struct Cache {
    ttl: Duration,
    entries: HashMap<[u8; 32], Instant>,
}

impl Cache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: HashMap::new(),
        }
    }

    pub(super) fn is_valid(&self, token: &str, now: Instant) -> bool {
        self.entries
            .get(&key(token))
            .is_some_and(|&until| now < until)
    }

    /// Remembers a token the auth server called active, for the cache's ttl but never past
    /// `lifetime` (what is left until the token's `exp`, when the server gave one).
    pub(super) fn remember(&mut self, token: &str, now: Instant, lifetime: Option<Duration>) {
        let keep = lifetime.map_or(self.ttl, |left| left.min(self.ttl));
        if keep.is_zero() {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, until| now < *until);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert(key(token), now + keep);
    }
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn keeps_for_the_ttl_at_most() {
        let now = Instant::now();
        let mut cache = Cache::new(TTL);
        cache.remember("t", now, Some(Duration::from_secs(3600)));
        assert!(cache.is_valid("t", now + TTL - Duration::from_millis(1)));
        assert!(!cache.is_valid("t", now + TTL));
        assert!(!cache.is_valid("other", now));
    }

    #[test]
    fn never_past_the_token_expiry() {
        let now = Instant::now();
        let mut cache = Cache::new(TTL);
        cache.remember("t", now, Some(Duration::from_secs(5)));
        assert!(cache.is_valid("t", now + Duration::from_secs(4)));
        assert!(!cache.is_valid("t", now + Duration::from_secs(5)));
    }

    #[test]
    fn a_zero_ttl_or_an_expired_token_is_not_kept() {
        let now = Instant::now();
        let mut off = Cache::new(Duration::ZERO);
        off.remember("t", now, None);
        assert!(!off.is_valid("t", now));
        let mut cache = Cache::new(TTL);
        cache.remember("t", now, Some(Duration::ZERO));
        assert!(!cache.is_valid("t", now));
    }

    #[test]
    fn stays_bounded() {
        let now = Instant::now();
        let mut cache = Cache::new(TTL);
        for i in 0..MAX_ENTRIES + 5 {
            cache.remember(&i.to_string(), now, None);
        }
        assert!(cache.entries.len() <= MAX_ENTRIES);
        assert!(cache.is_valid(&(MAX_ENTRIES + 4).to_string(), now));
    }
}
