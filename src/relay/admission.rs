//! The one place where a new connection is let in or turned away: [`Admission::enter`] runs
//! every check at accept and says which [`Way`] the connection goes on with the places it took,
//! which it holds for as long as it lives.
//!
//! The checks run in this order, and a new one belongs in it: first those that hold nothing
//! (where a session's allow-list of sources goes, at the top of `enter`), then the counted
//! places (the session's cap, its owner's [`ConnectionQuota`] beside it; the source's share and
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
        let quota = self.session.terms.quota.as_ref();
        let quota = quota.map(QuotaPlace::take).transpose()?;
        let slot = self.session.capacity.admit(self.source)?;
        self.session.gate.pace()?;
        Ok(Ticket {
            _slot: slot,
            _session: session,
            _quota: quota,
        })
    }

    /// For a connection the previous process handed over: it is relaying already, so it takes
    /// its places even past a bound, and does not count against the session's pace.
    pub(super) fn resumed(&self) -> Ticket {
        let quota = self.session.terms.quota.as_ref();
        Ticket {
            _slot: self.session.capacity.admit_anyway(self.source),
            _session: SessionPlace::take_anyway(self.session),
            _quota: quota.map(QuotaPlace::take_anyway),
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
    _quota: Option<QuotaPlace>,
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
        match take_one(&session.gate.open, max) {
            true => Ok(SessionPlace(session.clone())),
            false => Err(Rejection::SessionLimit),
        }
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

/// Counts one more in `open` unless it holds `max` already; in one atomic step, so that two
/// connections cannot both take the last place.
fn take_one(open: &AtomicUsize, max: usize) -> bool {
    open.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        (n < max).then_some(n + 1)
    })
    .is_ok()
}

/// The relayed connections all the sessions of one owner (an identity, or a client network
/// with authentication off) may hold at once: its connection quota. The server makes one per
/// owner and gives it to each of the owner's sessions in their [`Terms`](super::Terms).
#[derive(Debug)]
pub struct ConnectionQuota {
    /// How logs name the owner.
    owner: String,
    open: AtomicUsize,
    max: AtomicUsize,
}

impl ConnectionQuota {
    pub fn new(owner: String, max: usize) -> Arc<Self> {
        Arc::new(ConnectionQuota {
            owner,
            open: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        })
    }

    /// Applies to connections accepted from now on (the owner's quota was looked up again).
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// The relayed connections the owner's sessions hold now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub(super) fn owner(&self) -> &str {
        &self.owner
    }
}

/// One quota is one owner's: equal only to itself.
impl PartialEq for ConnectionQuota {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for ConnectionQuota {}

/// One connection's place in its owner's quota; given back on drop.
struct QuotaPlace(Arc<ConnectionQuota>);

impl QuotaPlace {
    fn take(quota: &Arc<ConnectionQuota>) -> Result<Self, Rejection> {
        match take_one(&quota.open, quota.max()) {
            true => Ok(QuotaPlace(quota.clone())),
            false => Err(Rejection::Quota),
        }
    }

    fn take_anyway(quota: &Arc<ConnectionQuota>) -> Self {
        quota.open.fetch_add(1, Ordering::Relaxed);
        QuotaPlace(quota.clone())
    }
}

impl Drop for QuotaPlace {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
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
    fn a_quota_admits_up_to_its_max_and_again_once_a_place_is_given_back() {
        let quota = ConnectionQuota::new("alice".into(), 2);
        let held: Vec<QuotaPlace> = (0..2).map(|_| QuotaPlace::take(&quota).unwrap()).collect();
        assert_eq!(QuotaPlace::take(&quota).err(), Some(Rejection::Quota));
        assert_eq!(quota.open(), 2);
        drop(held);
        let _again = QuotaPlace::take(&quota).unwrap();
        quota.set_max(0);
        assert_eq!(QuotaPlace::take(&quota).err(), Some(Rejection::Quota));
        assert_eq!(*quota, *quota.clone());
        assert_ne!(*quota, *ConnectionQuota::new("alice".into(), 2));
    }

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
