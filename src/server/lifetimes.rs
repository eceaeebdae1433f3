//! How long a session lives: a lifetime (asked for by its req, capped by the server; the
//! server's default for reqs that ask for none), an idle timeout (no relayed connection open)
//! and an update timeout (a hello but no update). A session past one is released as a release
//! would release it; [`Clocks::expiry`] says when and why, from wall-clock times kept in the
//! session's entry, so that a session restored after a restart keeps what is left of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::session::{Expiry, SessionView};

/// The server's lifetimes and timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// For sessions whose req asks for none (as the Python client's never does).
    pub default: Duration,
    /// The longest lifetime a req may get: longer asks are cut to it.
    pub max: Duration,
    /// A session relaying with no connection open for this long is released.
    pub idle_timeout: Duration,
    /// A session that got its hello but no update for this long is released.
    pub update_timeout: Duration,
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Lifetimes {
    /// Defaults that an experiment running for days, or left waiting overnight and through a
    /// weekend between its runs, never meets; a forgotten session gives its ports back within
    /// days, one that never got its update within an hour (its setup failed).
    pub const DEFAULT: Lifetimes = Lifetimes {
        default: DAY.saturating_mul(7),
        max: DAY.saturating_mul(30),
        idle_timeout: DAY.saturating_mul(3),
        update_timeout: HOUR,
    };

    /// The lifetime a req asking for `asked` (None: nothing) gets.
    pub(crate) fn granted(&self, asked: Option<Duration>) -> Duration {
        asked.unwrap_or(self.default).min(self.max)
    }

    /// When the lifetime of a session opened at `created` and taken back at `now` after a
    /// restart ends: when it ended before the restart (`ends`), cut to this server's `max`
    /// from its opening; one granted before lifetimes were (None) gets the default from `now`.
    pub(crate) fn regranted(
        &self,
        created: SystemTime,
        ends: Option<SystemTime>,
        now: SystemTime,
    ) -> SystemTime {
        match ends {
            Some(ends) => ends.min(later(created, self.max)),
            None => later(now, self.granted(None)),
        }
    }
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes::DEFAULT
    }
}

/// When a session was opened and when its lifetime ends, and when its hello and its latest
/// update came: what its expiry is reckoned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Clocks {
    pub(crate) created_at: SystemTime,
    pub(crate) expires_at: SystemTime,
    pub(crate) hello_at: Option<SystemTime>,
    pub(crate) updated_at: Option<SystemTime>,
}

impl Clocks {
    /// A session opened `now` for `lifetime`.
    pub(crate) fn opened(now: SystemTime, lifetime: Duration) -> Clocks {
        Clocks {
            created_at: now,
            expires_at: later(now, lifetime),
            hello_at: None,
            updated_at: None,
        }
    }

    /// When the session expires if nothing changes, and why, given since when it has had no
    /// relayed connection open (None: one is open). A session still waiting for its hello has
    /// only its lifetime here: its req ends it at the hello timeout.
    pub(crate) fn expiry(
        &self,
        idle_since: Option<SystemTime>,
        timeouts: &Lifetimes,
    ) -> (SystemTime, Expiry) {
        let lifetime = (self.expires_at, Expiry::Lifetime);
        let timeout = match (self.hello_at, self.updated_at) {
            (Some(hello), None) => {
                Some((later(hello, timeouts.update_timeout), Expiry::UpdateTimeout))
            }
            (_, Some(updated)) => idle_since.map(|idle| {
                let idle = idle.max(updated);
                (later(idle, timeouts.idle_timeout), Expiry::IdleTimeout)
            }),
            (None, None) => None,
        };
        match timeout {
            Some(timeout) if timeout.0 < lifetime.0 => timeout,
            _ => lifetime,
        }
    }
}

/// How many sessions expired since the start, by why.
#[derive(Debug, Default)]
pub(crate) struct Expirations([AtomicU64; Expiry::ALL.len()]);

impl Expirations {
    /// Counts the expiry of the session `view` (`by`) and logs it, as it is released.
    pub(crate) fn record(&self, view: &SessionView, by: Expiry, lifetimes: &Lifetimes) {
        self.0[by as usize].fetch_add(1, Ordering::Relaxed);
        let s = &view.stats;
        let why = match by {
            Expiry::Lifetime => "its lifetime ended".to_string(),
            Expiry::IdleTimeout => format!(
                "no relayed connection was open for {} s (--session-idle-timeout)",
                lifetimes.idle_timeout.as_secs()
            ),
            Expiry::UpdateTimeout => format!(
                "it got its hello but no update within {} s (--update-timeout)",
                lifetimes.update_timeout.as_secs()
            ),
        };
        tracing::info!(event = "session_expired", uid = %view.uid, why = by.as_str(),
            role = view.role.as_str(), owner = view.owner.as_deref(), age_secs = view.age_secs,
            bytes_to_target = s.bytes_to_target, bytes_from_target = s.bytes_from_target,
            connections = s.connections_total,
            "session expired: {why}; releasing it (connections reset, ports freed)");
    }

    /// The counts, in the order of [`Expiry::ALL`].
    pub(crate) fn counts(&self) -> [u64; Expiry::ALL.len()] {
        self.0.each_ref().map(|n| n.load(Ordering::Relaxed))
    }
}

/// `time` in milliseconds since the Unix epoch (0 before it), as records keep times.
pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The time a record keeps as milliseconds since the Unix epoch.
pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// `duration` after `time`; a duration past what the clock holds is a century.
pub(crate) fn later(time: SystemTime, duration: Duration) -> SystemTime {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    time.checked_add(duration).unwrap_or(time + CENTURY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    fn timeouts() -> Lifetimes {
        Lifetimes {
            default: Duration::from_secs(1000),
            max: Duration::from_secs(2000),
            idle_timeout: Duration::from_secs(100),
            update_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_lifetime_is_the_default_or_the_asked_for_one_cut_to_the_max() {
        let t = timeouts();
        assert_eq!(t.granted(None), Duration::from_secs(1000));
        assert_eq!(
            t.granted(Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(t.granted(Some(Duration::from_secs(5000))), t.max);
        let short_max = Lifetimes {
            max: Duration::from_secs(50),
            ..t
        };
        assert_eq!(short_max.granted(None), Duration::from_secs(50));
    }

    #[test]
    fn a_restart_keeps_what_is_left_of_a_lifetime_cut_to_the_current_max() {
        let t = timeouts();
        assert_eq!(t.regranted(at(0), Some(at(500)), at(100)), at(500));
        assert_eq!(t.regranted(at(0), Some(at(5000)), at(100)), at(2000));
        // Already past: it expires at once.
        assert_eq!(t.regranted(at(0), Some(at(50)), at(100)), at(50));
        // From before lifetimes: the default, from the restart.
        assert_eq!(t.regranted(at(0), None, at(100)), at(1100));
    }

    #[test]
    fn each_state_expires_by_its_own_clock_or_its_lifetime_whichever_comes_first() {
        let t = timeouts();
        let mut clocks = Clocks::opened(at(0), Duration::from_secs(1000));
        // Waiting for its hello: its lifetime only.
        assert_eq!(clocks.expiry(Some(at(0)), &t), (at(1000), Expiry::Lifetime));
        clocks.hello_at = Some(at(3));
        assert_eq!(
            clocks.expiry(Some(at(0)), &t),
            (at(13), Expiry::UpdateTimeout)
        );
        clocks.updated_at = Some(at(5));
        // Idle since before its update: from the update on.
        assert_eq!(
            clocks.expiry(Some(at(0)), &t),
            (at(105), Expiry::IdleTimeout)
        );
        assert_eq!(
            clocks.expiry(Some(at(400)), &t),
            (at(500), Expiry::IdleTimeout)
        );
        // A connection open: its lifetime, also when the idle timeout would pass it.
        assert_eq!(clocks.expiry(None, &t), (at(1000), Expiry::Lifetime));
        assert_eq!(
            clocks.expiry(Some(at(950)), &t),
            (at(1000), Expiry::Lifetime)
        );
    }
}
