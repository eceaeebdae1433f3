//! The introspections under way, capped in all and per client address: distinct junk tokens
//! (each a cache miss) cannot turn the gateway into a flood of calls to the auth server, nor
//! hold every connection of its pool, and one address cannot take every slot.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};

/// How many introspections may be under way at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntrospectionLimits {
    /// In all: also the most connections the pool opens to the auth server for them.
    pub max_in_flight: usize,
    /// For tokens sent from one client address (an IPv6 /64 counts as one address).
    pub max_in_flight_per_ip: usize,
}

impl IntrospectionLimits {
    /// The default `max_in_flight`, which the fd budget counts on.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;
}

impl Default for IntrospectionLimits {
    fn default() -> Self {
        IntrospectionLimits {
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            max_in_flight_per_ip: 4,
        }
    }
}

pub(super) struct InFlight {
    limits: IntrospectionLimits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// One introspection's slot, given back on drop.
pub(super) struct Permit<'a> {
    in_flight: &'a InFlight,
    source: Option<IpAddr>,
}

impl InFlight {
    pub(super) fn new(limits: IntrospectionLimits) -> Self {
        Self {
            limits,
            state: Mutex::default(),
        }
    }

    pub(super) fn limits(&self) -> IntrospectionLimits {
        self.limits
    }

    /// A slot for an introspection of a token from `peer` (None: the server's own check), or
    /// None when either cap is reached.
    pub(super) fn acquire(&self, peer: Option<IpAddr>) -> Option<Permit<'_>> {
        let source = peer.map(source_of);
        let mut state = self.lock();
        let from_source = source.map_or(0, |s| state.per_source.get(&s).copied().unwrap_or(0));
        if state.total >= self.limits.max_in_flight
            || from_source >= self.limits.max_in_flight_per_ip
        {
            return None;
        }
        state.total += 1;
        if let Some(source) = source {
            state.per_source.insert(source, from_source + 1);
        }
        Some(Permit {
            in_flight: self,
            source,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The counters stay consistent whatever panicked while the lock was held.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.in_flight.lock();
        state.total -= 1;
        let Some(source) = self.source else { return };
        if let Some(n) = state.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                state.per_source.remove(&source);
            }
        }
    }
}

/// The address that counts for `ip`: itself, or its /64 for IPv6, since one host commonly
/// holds a whole /64.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: IntrospectionLimits = IntrospectionLimits {
        max_in_flight: 3,
        max_in_flight_per_ip: 2,
    };

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn one_address_gets_its_share_and_the_whole_is_capped() {
        let in_flight = InFlight::new(LIMITS);
        let a1 = in_flight.acquire(ip("10.0.0.1")).unwrap();
        let _a2 = in_flight.acquire(ip("10.0.0.1")).unwrap();
        assert!(
            in_flight.acquire(ip("10.0.0.1")).is_none(),
            "past its share"
        );
        let _b = in_flight.acquire(ip("10.0.0.2")).unwrap();
        assert!(
            in_flight.acquire(ip("10.0.0.3")).is_none(),
            "past the whole"
        );
        assert!(in_flight.acquire(None).is_none());
        drop(a1);
        assert!(
            in_flight.acquire(ip("10.0.0.1")).is_some(),
            "a slot came back"
        );
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address() {
        let in_flight = InFlight::new(LIMITS);
        let _a = in_flight.acquire(ip("2001:db8::1")).unwrap();
        let _b = in_flight.acquire(ip("2001:db8::2:3")).unwrap();
        assert!(in_flight.acquire(ip("2001:db8::ffff")).is_none());
        assert!(in_flight.acquire(ip("2001:db8:0:1::1")).is_some());
    }

    #[test]
    fn released_slots_leave_nothing_behind() {
        let in_flight = InFlight::new(LIMITS);
        drop(in_flight.acquire(ip("10.0.0.1")));
        drop(in_flight.acquire(None));
        let state = in_flight.lock();
        assert_eq!(state.total, 0);
        assert!(state.per_source.is_empty());
    }
}
