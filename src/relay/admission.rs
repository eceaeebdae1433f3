//! The one place where a new connection is let in or turned away: [`Admission::enter`] runs
//! every check at accept and says which [`Way`] the connection goes on with the places it took,
//! which it holds for as long as it lives.
//!
//! The checks run in this order, and a new one belongs in it: first those that hold nothing
//! (where a session's allow-list of sources goes, at the top of `enter`), then the counted
//! places (the session's cap, where a per-identity quota goes beside it; the source's share and
//! the server's limit), and the session's rate last, so that only a connection that gets in
//! spends from it. Whatever a check took is given back by its guard when a later check fails.
//! A connection to an encrypted PROD listener takes only a place in the pool of those proving
//! the secret; once it has proven it, [`Admission::relay`] runs the counted checks for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::capacity::{Rejection, Slot, Source};
use super::hop::{HopDialer, HopIdentity, HopMode};
use super::parking::Enlisted;
use super::SessionShared;

/// One connection at the door of one session.
pub(super) struct Admission<'a> {
    pub(super) session: &'a Arc<SessionShared>,
    pub(super) source: Source,
}

/// How an admitted connection goes on, and the place it holds meanwhile.
pub(super) enum Way {
    /// Plain TCP both ways; such a connection parks when its session is handed over.
    Plain(Ticket, Enlisted),
    /// CONS: the target is a PROD listener reached over TLS with this dialer.
    Dial(Ticket, Arc<HopDialer>),
    /// PROD: the client is a CONS gateway that must prove this session's credential first;
    /// until then it waits in the pool of its own for such connections.
    Admit(Probation, Arc<HopIdentity>),
}

impl Admission<'_> {
    /// Lets a just-accepted connection to a listener whose hop mode is `mode` in, or says why
    /// not.
    pub(super) fn enter(&self, mode: &HopMode) -> Result<Way, Rejection> {
        match mode {
            HopMode::Plain => self
                .relay()
                .map(|t| Way::Plain(t, self.session.parking.enlist())),
            HopMode::Dial(dialer) => self.relay().map(|t| Way::Dial(t, dialer.clone())),
            HopMode::Admit(identity) => self.prove().map(|p| Way::Admit(p, identity.clone())),
        }
    }

    /// For a connection that relays as soon as its target answers (at an encrypted PROD
    /// listener: once it has proven the secret).
    pub(super) fn relay(&self) -> Result<Ticket, Rejection> {
        let session = SessionPlace::take(self.session)?;
        let slot = self.session.capacity.admit(self.source)?;
        self.session.gate.pace()?;
        Ok(Ticket {
            _slot: slot,
            _session: session,
        })
    }

    /// For a connection the previous process handed over: it is relaying already, so it takes
    /// its places even past a bound, and does not count against the session's pace.
    pub(super) fn resumed(&self) -> Ticket {
        Ticket {
            _slot: self.session.capacity.admit_anyway(self.source),
            _session: SessionPlace::take_anyway(self.session),
        }
    }

    /// For a connection to an encrypted PROD listener while it proves the secret: a place in
    /// the pool of its own that such connections wait in, and nothing of the session's.
    fn prove(&self) -> Result<Probation, Rejection> {
        let capacity = &self.session.capacity;
        let slot = capacity.admit_proving(self.source)?;
        Ok(Probation { _slot: slot })
    }
}

/// What a relayed connection holds: its place in the server's relay and in its session.
pub(super) struct Ticket {
    _slot: Slot,
    _session: SessionPlace,
}

/// What a connection proving the hop secret holds meanwhile.
pub(super) struct Probation {
    _slot: Slot,
}

/// A session's own bounds: how many connections it holds and how fast it opens new ones, so
/// that two gateways made to relay into each other burn the loop out at once.
pub(super) struct SessionGate {
    open: AtomicUsize,
    bucket: Mutex<Bucket>,
}

impl SessionGate {
    pub(super) fn new(rate: u32) -> Self {
        SessionGate {
            open: AtomicUsize::new(0),
            bucket: Mutex::new(Bucket::full(rate, Instant::now())),
        }
    }

    fn pace(&self) -> Result<(), Rejection> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        match bucket.take(Instant::now()) {
            true => Ok(()),
            false => Err(Rejection::SessionRate),
        }
    }
}

/// One connection's place among its session's; given back on drop.
struct SessionPlace(Arc<SessionShared>);

impl SessionPlace {
    fn take(session: &Arc<SessionShared>) -> Result<Self, Rejection> {
        let max = session.capacity.shares().per_session;
        let open = &session.gate.open;
        open.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < max).then_some(n + 1)
        })
        .map_err(|_| Rejection::SessionLimit)?;
        Ok(SessionPlace(session.clone()))
    }
}

impl SessionPlace {
    fn take_anyway(session: &Arc<SessionShared>) -> Self {
        session.gate.open.fetch_add(1, Ordering::Relaxed);
        SessionPlace(session.clone())
    }
}

impl Drop for SessionPlace {
    fn drop(&mut self) {
        self.0.gate.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A token bucket of `rate` tokens that refills at `rate` per second.
struct Bucket {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate);
        Bucket {
            rate,
            tokens: rate,
            refilled: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let gained = now.saturating_duration_since(self.refilled).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + gained).min(self.rate);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_gives_its_rate_at_once_then_refills_at_that_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(4, start);
        assert!((0..4).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(250)));
        assert!(!bucket.take(start + Duration::from_millis(250)));
        // A long quiet spell refills it to its size, no more.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.take(later)).count(), 4);
    }
}
