//! Warnings a stranger can cause at will (a call with a junk token, say) are logged at most once
//! per interval for each kind, with how many there were: a flood of calls must not become a
//! flood of log lines. The metrics still count every one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::logging::Throttle;

/// A [`Throttle`] for each kind of warning, shared by every call that can cause one.
#[derive(Default)]
pub(crate) struct LogThrottle {
    kinds: Mutex<HashMap<&'static str, Throttle>>,
}

impl LogThrottle {
    /// Counts one event of `kind` at `now`. When a line is due, how many events it stands for
    /// (this one and those not logged since the last line); otherwise None.
    pub(crate) fn due(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.entry(kind).or_default().count_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::THROTTLE_INTERVAL;
    use std::time::Duration;

    #[test]
    fn one_line_per_interval_and_kind_counting_the_rest() {
        let throttle = LogThrottle::default();
        let start = Instant::now();
        assert_eq!(throttle.due("invalid_token", start), Some(1));
        for i in 1..100 {
            let at = start + Duration::from_millis(i);
            assert_eq!(throttle.due("invalid_token", at), None);
        }
        assert_eq!(throttle.due("missing_token", start), Some(1), "kinds apart");
        assert_eq!(
            throttle.due("invalid_token", start + THROTTLE_INTERVAL),
            Some(100)
        );
        assert_eq!(
            throttle.due("invalid_token", start + THROTTLE_INTERVAL),
            None
        );
    }
}
