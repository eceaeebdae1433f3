//! What `Request.rate` means on this server (`--rate-policy`), and the bandwidth a `reserve`
//! server has promised to its sessions.
//!
//! [`RateOptions::admit`] is the one place a session's rate is granted: a per-identity cap on
//! the rate (a quota's `max_rate`) goes right before it, under the same table lock, so that no
//! two requests race past the last of the bandwidth.

use super::error::Error;
use crate::relay::BitRate;
use crate::session::Kbps;

/// What the server does with the rate a session asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RatePolicy {
    /// Record and show it, enforce nothing (as SciStream 1.2 servers do).
    #[default]
    Ignore,
    /// Hold each session to its rate, in each direction, over all of its connections.
    Limit,
    /// Limit, and admit a session only while the admitted rates fit --bandwidth.
    Reserve,
}

impl RatePolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RatePolicy::Ignore => "ignore",
            RatePolicy::Limit => "limit",
            RatePolicy::Reserve => "reserve",
        }
    }
}

/// The server's `--rate-policy` and, for `reserve`, its `--bandwidth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateOptions {
    pub policy: RatePolicy,
    /// What the admitted sessions' rates may add up to (`reserve` only).
    pub bandwidth: Option<BitRate>,
}

/// What a session was granted: the rate its relay is held to, and what it holds of the
/// bandwidth (to give back at its release).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) limit: Option<BitRate>,
    pub(crate) reserved: Kbps,
}

impl RateOptions {
    /// The grant of a session admitted before a restart: as [`admit`](Self::admit), but its
    /// reservation is counted again even past `--bandwidth` (it was promised), so that a
    /// restart never takes a stream's rate away.
    pub(crate) fn regrant(&self, rate: Kbps, reservations: &mut Reservations) -> Grant {
        let limit = rate.bit_rate();
        match self.policy {
            RatePolicy::Ignore => Grant::default(),
            RatePolicy::Limit => Grant {
                limit,
                reserved: Kbps(0),
            },
            RatePolicy::Reserve => {
                reservations.reserved.0 += rate.0;
                Grant {
                    limit,
                    reserved: rate,
                }
            }
        }
    }

    /// Grants a session its `rate` as the policy says, reserving it in `reservations` under
    /// `reserve`. A rate of 0 asks for no limit, which `reserve` cannot promise.
    pub(crate) fn admit(
        &self,
        rate: Kbps,
        reservations: &mut Reservations,
    ) -> Result<Grant, Error> {
        let limit = rate.bit_rate();
        match self.policy {
            RatePolicy::Ignore => Ok(Grant::default()),
            RatePolicy::Limit => Ok(Grant {
                limit,
                reserved: Kbps(0),
            }),
            RatePolicy::Reserve if limit.is_none() => Err(unreservable()),
            RatePolicy::Reserve => {
                reservations.reserve(rate)?;
                Ok(Grant {
                    limit,
                    reserved: rate,
                })
            }
        }
    }
}

/// Why a req for rate 0 (no limit) is refused under `reserve`.
pub(crate) fn unreservable() -> Error {
    Error::InvalidArgument(
        "rate 0 asks for no limit, which this gateway cannot reserve (--rate-policy reserve): \
         ask for the rate the stream needs, e.g. --rate 1G"
            .into(),
    )
}

/// The bandwidth of a `reserve` server and what its sessions hold of it.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    bandwidth: Kbps,
    reserved: Kbps,
}

impl Reservations {
    pub(crate) fn new(options: &RateOptions) -> Self {
        Reservations {
            bandwidth: options.bandwidth.map(Kbps::of).unwrap_or_default(),
            reserved: Kbps(0),
        }
    }

    /// Takes `rate` out of what is free, or says how much is.
    pub(crate) fn reserve(&mut self, rate: Kbps) -> Result<(), Error> {
        let free = Kbps(self.bandwidth.0.saturating_sub(self.reserved.0));
        if rate > free {
            return Err(Error::BandwidthExhausted {
                wanted: rate,
                free,
                bandwidth: self.bandwidth,
            });
        }
        self.reserved.0 += rate.0;
        Ok(())
    }

    /// Gives back what a released session held.
    pub(crate) fn free(&mut self, rate: Kbps) {
        self.reserved.0 = self.reserved.0.saturating_sub(rate.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve(bandwidth_bits: u64) -> (RateOptions, Reservations) {
        let options = RateOptions {
            policy: RatePolicy::Reserve,
            bandwidth: BitRate::new(bandwidth_bits),
        };
        let reservations = Reservations::new(&options);
        (options, reservations)
    }

    #[test]
    fn ignore_grants_nothing_and_limit_grants_the_rate() {
        let mut none = Reservations::default();
        let ignore = RateOptions::default();
        assert_eq!(
            ignore.admit(Kbps(10_000), &mut none).unwrap(),
            Grant::default()
        );
        let limit = RateOptions {
            policy: RatePolicy::Limit,
            bandwidth: None,
        };
        let granted = limit.admit(Kbps(10_000), &mut none).unwrap();
        assert_eq!(granted.limit, BitRate::new(10_000_000));
        assert_eq!(limit.admit(Kbps(0), &mut none).unwrap().limit, None);
    }

    #[test]
    fn reserve_refuses_past_the_bandwidth_and_says_what_is_free() {
        let (options, mut reservations) = reserve(4_000_000_000);
        options.admit(Kbps(3_000_000), &mut reservations).unwrap();
        let refused = options
            .admit(Kbps(2_000_000), &mut reservations)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("1000000 kb/s (1 Gbit/s) free"),
            "{refused}"
        );
        options.admit(Kbps(1_000_000), &mut reservations).unwrap();
        reservations.free(Kbps(3_000_000));
        options.admit(Kbps(2_000_000), &mut reservations).unwrap();
    }

    #[test]
    fn reserve_cannot_promise_an_unlimited_rate() {
        let (options, mut reservations) = reserve(4_000_000_000);
        let refused = options.admit(Kbps(0), &mut reservations).unwrap_err();
        assert!(refused.to_string().contains("--rate"), "{refused}");
    }
}
