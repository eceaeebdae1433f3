//! A session's rate limit: one token bucket per direction, shared by all of the session's
//! connections, so the session as a whole is held to its rate.
//!
//! The bucket is kept as a single timestamp (the generic cell rate algorithm): `paid_until` is
//! the moment at which every byte granted so far is paid for at the rate. A direction may take
//! bytes while that moment is less than one burst ahead of now, and otherwise sleeps on a timer
//! until it is; there is no polling. Taking bytes never waits on a lock: one atomic update.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The burst a bucket allows, in time at its rate: long enough to absorb the timer's
/// millisecond granularity and a scheduler's hiccup, short enough not to show in any measure
/// of the rate over a second.
const BURST: Duration = Duration::from_millis(10);
/// The smallest burst in bytes, so that a slow session still moves its bytes in chunks a
/// system call is worth.
const SMALLEST_BURST: u64 = 16 << 10;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A rate in bits per second (not zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BitRate(u64);

impl BitRate {
    /// None for zero: no rate to hold anything to.
    pub fn new(bits_per_sec: u64) -> Option<BitRate> {
        (bits_per_sec > 0).then_some(BitRate(bits_per_sec))
    }

    pub fn bits_per_sec(self) -> u64 {
        self.0
    }

    fn bytes_per_sec(self) -> u64 {
        (self.0 / 8).max(1)
    }
}

impl fmt::Display for BitRate {
    /// In the largest decimal unit it reaches, to at most two decimals: `1.5 Gbit/s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1_000_000_000_000, "Tbit/s"),
            (1_000_000_000, "Gbit/s"),
            (1_000_000, "Mbit/s"),
            (1_000, "kbit/s"),
        ];
        let Some((scale, unit)) = UNITS.into_iter().find(|(scale, _)| self.0 >= *scale) else {
            return write!(f, "{} bit/s", self.0);
        };
        let shown = format!("{:.2}", self.0 as f64 / scale as f64);
        let shown = shown.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{shown} {unit}")
    }
}

/// The limit of one direction of a session, over all of its connections.
pub(super) struct Bucket {
    epoch: Instant,
    bytes_per_sec: u64,
    /// The most bytes taken at once, and how far ahead of now (in ns) the debt may run.
    burst: u64,
    burst_ns: u64,
    /// Nanoseconds since `epoch` at which every byte granted so far is paid for.
    paid_until: AtomicU64,
}

impl Bucket {
    pub(super) fn new(rate: BitRate) -> Bucket {
        let bytes_per_sec = rate.bytes_per_sec();
        let in_burst = u128::from(bytes_per_sec) * BURST.as_nanos() / NANOS_PER_SEC;
        let burst = u64::try_from(in_burst)
            .unwrap_or(u64::MAX)
            .max(SMALLEST_BURST);
        let mut bucket = Bucket {
            epoch: Instant::now(),
            bytes_per_sec,
            burst,
            burst_ns: 0,
            paid_until: AtomicU64::new(0),
        };
        bucket.burst_ns = bucket.cost_ns(burst);
        bucket
    }

    /// How many bytes one read may take once [`delay`](Self::delay) is over: a burst. The
    /// debt this may leave is paid by the next wait, so over time the rate holds.
    pub(super) fn grant(&self) -> usize {
        usize::try_from(self.burst).unwrap_or(usize::MAX)
    }

    /// How long the direction must wait before it may take bytes; None: not at all.
    pub(super) fn delay(&self) -> Option<Duration> {
        let ahead = self.paid_until.load(Ordering::Relaxed);
        let allowed = self.now_ns().saturating_add(self.burst_ns);
        (ahead > allowed).then(|| Duration::from_nanos(ahead - allowed))
    }

    /// Charges `bytes` just taken to the bucket.
    pub(super) fn spend(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let cost = self.cost_ns(bytes as u64);
        let now = self.now_ns();
        let _ = self
            .paid_until
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |paid| {
                Some(paid.max(now).saturating_add(cost))
            });
    }

    /// Waits until the direction may take bytes again.
    pub(super) async fn ready(&self) {
        while let Some(delay) = self.delay() {
            tokio::time::sleep(delay).await;
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The time `bytes` take at the rate, rounded up so that rounding never adds to the rate.
    fn cost_ns(&self, bytes: u64) -> u64 {
        let rate = u128::from(self.bytes_per_sec);
        let ns = (u128::from(bytes) * NANOS_PER_SEC).div_ceil(rate);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// Both directions of a limited session: each is held to the whole rate.
pub(super) struct Buckets {
    pub(super) to_target: Bucket,
    pub(super) from_target: Bucket,
}

impl Buckets {
    pub(super) fn new(rate: BitRate) -> Buckets {
        Buckets {
            to_target: Bucket::new(rate),
            from_target: Bucket::new(rate),
        }
    }
}

/// A [`Bucket`] as a poll-based reader sees it: waits on a timer of its own.
pub(super) struct Pacer<'a> {
    bucket: &'a Bucket,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<'a> Pacer<'a> {
    pub(super) fn new(bucket: &'a Bucket) -> Self {
        Pacer {
            bucket,
            sleep: None,
        }
    }

    /// Ready once the bucket lets the direction take bytes; until then, its timer wakes `cx`.
    pub(super) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
            }
            match self.bucket.delay() {
                None => return Poll::Ready(()),
                Some(delay) => {
                    self.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                }
            }
        }
    }

    pub(super) fn grant(&self) -> usize {
        self.bucket.grant()
    }

    pub(super) fn spend(&self, bytes: usize) {
        self.bucket.spend(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(bits_per_sec: u64) -> BitRate {
        BitRate::new(bits_per_sec).unwrap()
    }

    #[test]
    fn rates_show_in_their_largest_unit() {
        let shown = |bits| rate(bits).to_string();
        assert_eq!(shown(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(shown(10_000_000), "10 Mbit/s");
        assert_eq!(shown(40_000_000_000_000), "40 Tbit/s");
        assert_eq!(shown(999), "999 bit/s");
        assert_eq!(shown(1_234_567), "1.23 Mbit/s");
    }

    #[test]
    fn no_rate_is_zero() {
        assert!(BitRate::new(0).is_none());
        assert_eq!(rate(8_000).bytes_per_sec(), 1_000);
    }

    #[test]
    fn the_burst_is_short_in_time_but_never_tiny() {
        // 8 Gbit/s: 1 GB/s, 10 ms of it.
        assert_eq!(Bucket::new(rate(8_000_000_000)).grant(), 10_000_000);
        assert_eq!(Bucket::new(rate(8_000)).grant(), 16 << 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_lets_a_burst_through_then_makes_the_debt_wait() {
        // 8 Mbit/s = 1,000,000 bytes/s, so a burst is 16 KiB (the smallest) = 16.384 ms.
        let bucket = Bucket::new(rate(8_000_000));
        assert_eq!(bucket.delay(), None);
        bucket.spend(bucket.grant());
        assert_eq!(bucket.delay(), None, "one burst is allowed at once");
        bucket.spend(bucket.grant());
        assert_eq!(bucket.delay(), Some(Duration::from_nanos(16_384_000)));
        tokio::time::advance(Duration::from_millis(10)).await;
        assert_eq!(bucket.delay(), Some(Duration::from_nanos(6_384_000)));
        bucket.ready().await;
        assert_eq!(bucket.delay(), None);
    }

    /// Over a long run, bytes taken as fast as the bucket allows stay within the rate plus
    /// two bursts.
    #[tokio::test(start_paused = true)]
    async fn taking_as_fast_as_allowed_holds_the_rate() {
        let bucket = Bucket::new(rate(80_000_000)); // 10 MB/s
        let start = Instant::now();
        let mut taken = 0u64;
        while start.elapsed() < Duration::from_secs(3) {
            bucket.ready().await;
            bucket.spend(bucket.grant());
            taken += bucket.grant() as u64;
        }
        let allowed = 10_000_000 * 3 + 2 * bucket.grant() as u64;
        assert!(taken <= allowed, "{taken} > {allowed}");
        assert!(taken >= 10_000_000 * 3, "{taken}: the rate was not reached");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pacer_sleeps_until_the_debt_is_paid() {
        let bucket = Bucket::new(rate(8_000_000));
        bucket.spend(3 * bucket.grant());
        let mut pacer = Pacer::new(&bucket);
        let start = Instant::now();
        std::future::poll_fn(|cx| pacer.poll_ready(cx)).await;
        // Two bursts of debt beyond the one allowed: 2 x 16.384 ms.
        assert!(start.elapsed() >= Duration::from_nanos(32_768_000));
        assert_eq!(bucket.delay(), None);
    }
}
