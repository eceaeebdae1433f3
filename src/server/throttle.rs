//! Warnings a stranger can cause at will (a call with a junk token, say) are logged at most once
//! per interval for each kind, with how many there were: a flood of calls must not become a
//! flood of log lines. The metrics still count every one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of such warning is logged at most.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) struct LogThrottle {
    interval: Duration,
    kinds: Mutex<HashMap<&'static str, Kind>>,
}

#[derive(Default)]
struct Kind {
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl LogThrottle {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            kinds: Mutex::default(),
        }
    }

    /// Counts one event of `kind` at `now`. When a line is due, how many events it stands for
    /// (this one and those not logged since the last line); otherwise None.
    pub(crate) fn due(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let state = kinds.entry(kind).or_default();
        state.unlogged += 1;
        let quiet = state
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= self.interval);
        if !quiet {
            return None;
        }
        state.logged_at = Some(now);
        Some(std::mem::take(&mut state.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_kind_counting_the_rest() {
        let throttle = LogThrottle::new(LOG_INTERVAL);
        let start = Instant::now();
        assert_eq!(throttle.due("invalid_token", start), Some(1));
        for i in 1..100 {
            let at = start + Duration::from_millis(i);
            assert_eq!(throttle.due("invalid_token", at), None);
        }
        assert_eq!(throttle.due("missing_token", start), Some(1), "kinds apart");
        assert_eq!(
            throttle.due("invalid_token", start + LOG_INTERVAL),
            Some(100)
        );
        assert_eq!(throttle.due("invalid_token", start + LOG_INTERVAL), None);
    }
}
