//! A session's measured throughput, from its byte counters: no work in the byte-moving loops,
//! only a sample taken when someone asks.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::RelayStats;

/// The shortest time a measure spans, unless the session is younger: shorter ones say more
/// about the moment than about the stream.
const SHORTEST: Duration = Duration::from_secs(1);

/// Bits per second each way, over the last `over_ms` milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throughput {
    pub to_target_bps: u64,
    pub from_target_bps: u64,
    pub over_ms: u64,
}

/// The counters as of the last measure that spanned at least [`SHORTEST`], and that measure.
pub(super) struct Meter {
    sample: Mutex<Sample>,
}

struct Sample {
    at: Instant,
    to_target: u64,
    from_target: u64,
    last: Option<Throughput>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            sample: Mutex::new(Sample {
                at: Instant::now(),
                to_target: 0,
                from_target: 0,
                last: None,
            }),
        }
    }
}

impl Meter {
    /// The throughput since the sample when that is at least [`SHORTEST`] back (which then
    /// becomes the sample), else the last such measure (at first: since the start).
    pub(super) fn read(&self, now: RelayStats) -> Throughput {
        let mut sample = self.sample.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = sample.at.elapsed();
        if let (Some(last), true) = (sample.last, elapsed < SHORTEST) {
            return last;
        }
        let per_sec = |bytes: u64| {
            let bits = u128::from(bytes) * 8 * 1_000_000;
            let micros = elapsed.as_micros().max(1);
            u64::try_from(bits / micros).unwrap_or(u64::MAX)
        };
        let measured = Throughput {
            to_target_bps: per_sec(now.bytes_to_target.saturating_sub(sample.to_target)),
            from_target_bps: per_sec(now.bytes_from_target.saturating_sub(sample.from_target)),
            over_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        if elapsed >= SHORTEST {
            *sample = Sample {
                at: Instant::now(),
                to_target: now.bytes_to_target,
                from_target: now.bytes_from_target,
                last: Some(measured),
            };
        }
        measured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(to_target: u64, from_target: u64) -> RelayStats {
        RelayStats {
            bytes_to_target: to_target,
            bytes_from_target: from_target,
            ..RelayStats::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn measures_over_at_least_a_second_since_the_previous_measure() {
        let meter = Meter::default();
        tokio::time::advance(Duration::from_secs(2)).await;
        let first = meter.read(moved(250_000_000, 0));
        assert_eq!(first.to_target_bps, 1_000_000_000);
        assert_eq!((first.from_target_bps, first.over_ms), (0, 2_000));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            meter.read(moved(999_999_999, 5)),
            first,
            "too soon: the last measure"
        );
        tokio::time::advance(Duration::from_millis(500)).await;
        let second = meter.read(moved(375_000_000, 125_000));
        assert_eq!(second.to_target_bps, 1_000_000_000);
        assert_eq!((second.from_target_bps, second.over_ms), (1_000_000, 1_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_young_session_is_measured_since_its_start() {
        let meter = Meter::default();
        tokio::time::advance(Duration::from_millis(100)).await;
        let young = meter.read(moved(1_250_000, 0));
        assert_eq!((young.to_target_bps, young.over_ms), (100_000_000, 100));
    }
}
