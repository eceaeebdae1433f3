//! The open control connections, counted in all and per source, and the choice of whom to evict
//! when a cap is reached.
//!
//! A source is a client's IPv4 address, or the /64 network of its IPv6 address (one host
//! usually holds a whole /64, so counting its addresses one by one would cap nothing).
//! When a cap is reached, the newcomer takes the place of the oldest connection that has proven
//! nothing and is doing nothing (no call in progress, no call that passed the token check), from
//! its own source when that source is at its cap, otherwise from the source holding the most
//! connections: a flood from a few sources evicts its own connections, not the lone real client's.
//! Only when every connection is busy or authenticated is the newcomer refused.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::ConnectionLimits;
use crate::limits::network_of;
use crate::logging::Throttle;

/// The source a connection counts against: an IPv4 address, or an IPv6 /64.
fn source_of(ip: IpAddr) -> IpNet {
    IpNet::from(network_of(ip))
}

pub(super) struct Census {
    limits: ConnectionLimits,
    state: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    /// By accept order: the first evictable one is the oldest.
    by_age: BTreeMap<u64, Arc<Conn>>,
    per_source: HashMap<IpNet, usize>,
    next_id: u64,
    refused: Throttle,
    evicted: Throttle,
}

impl Open {
    fn count(&self, source: &IpNet) -> usize {
        self.per_source.get(source).copied().unwrap_or(0)
    }

    fn insert(&mut self, conn: Arc<Conn>) {
        *self.per_source.entry(conn.source).or_default() += 1;
        self.by_age.insert(conn.id, conn);
    }

    /// Takes the connection out of the counts; false if it was already out (evicted).
    fn remove(&mut self, id: u64) -> bool {
        let Some(conn) = self.by_age.remove(&id) else {
            return false;
        };
        if let Some(n) = self.per_source.get_mut(&conn.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&conn.source);
            }
        }
        true
    }

    /// The oldest evictable connection from `source`.
    fn oldest_from(&self, source: &IpNet) -> Option<u64> {
        let mut candidates = self.by_age.values().filter(|c| &c.source == source);
        candidates.find(|c| c.evictable()).map(|c| c.id)
    }

    /// The oldest evictable connection of the source that holds the most.
    fn oldest_from_heaviest(&self) -> Option<u64> {
        let mut best: Option<(usize, u64)> = None;
        for conn in self.by_age.values().filter(|c| c.evictable()) {
            let held = self.count(&conn.source);
            if best.is_none_or(|(most, _)| held > most) {
                best = Some((held, conn.id));
            }
        }
        best.map(|(_, id)| id)
    }
}

impl Census {
    pub(super) fn new(limits: ConnectionLimits) -> Arc<Census> {
        Arc::new(Census {
            limits,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a connection from `peer`, evicting another if a cap is reached; None when
    /// every connection that would have to make room is busy or authenticated.
    pub(super) fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Slot> {
        let source = source_of(peer.ip());
        let mut open = self.lock();
        let source_full = open.count(&source) >= self.limits.max_per_ip;
        if source_full || open.by_age.len() >= self.limits.max_total {
            let victim = match source_full {
                true => open.oldest_from(&source),
                false => open.oldest_from_heaviest(),
            };
            let Some(victim) = victim else {
                self.log_refusal(&mut open, peer, &source);
                return None;
            };
            self.evict(&mut open, victim, peer);
        }
        open.next_id += 1;
        let conn = Arc::new(Conn::new(open.next_id, peer, source, self.limits));
        open.insert(conn.clone());
        Some(Slot {
            census: self.clone(),
            conn,
        })
    }

    /// Closes connection `id` and gives its place away now: the newcomer need not wait for the
    /// old one's task to notice.
    fn evict(&self, open: &mut Open, id: u64, newcomer: SocketAddr) {
        let Some(conn) = open.by_age.get(&id).cloned() else {
            return;
        };
        open.remove(id);
        conn.evict();
        if let Some(evicted) = open.evicted.count() {
            tracing::info!(
                event = "connection_evicted",
                peer = %conn.peer,
                newcomer = %newcomer,
                evicted,
                "control connections full: closed the oldest connection that had no call in \
                 progress and no authenticated call, to admit a new one"
            );
        }
    }

    fn log_refusal(&self, open: &mut Open, peer: SocketAddr, source: &IpNet) {
        let open_from_peer = open.count(source);
        let Some(refused) = open.refused.count() else {
            return;
        };
        tracing::warn!(
            event = "connection_refused",
            peer = %peer.ip(),
            open = open.by_age.len(),
            open_from_peer,
            refused,
            "control connections refused: at most {} open ({} per client address or IPv6 /64), \
             and each has a call in progress or an authenticated one; raise \
             --max-control-connections or --max-control-connections-per-ip if these are real \
             clients",
            self.limits.max_total,
            self.limits.max_per_ip,
        );
    }
}

/// One admitted connection's place in the census, given back on drop.
pub(super) struct Slot {
    census: Arc<Census>,
    pub(super) conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.census.lock().remove(self.conn.id);
    }
}

/// Why a connection is closed, or when to look again.
pub(super) enum Expiry {
    Now(&'static str),
    At(Instant),
}

/// What the census and the connection's own task know about one connection.
pub(super) struct Conn {
    id: u64,
    pub(super) peer: SocketAddr,
    source: IpNet,
    accepted: Instant,
    limits: ConnectionLimits,
    state: Mutex<ConnState>,
}

struct ConnState {
    /// Calls whose request has arrived and whose response is not ready yet.
    calls: usize,
    idle_since: Instant,
    /// A call's headers came: TLS and the HTTP/2 preface are done.
    established: bool,
    /// A call on it passed the token check.
    authenticated: bool,
    evicted: bool,
    /// The connection's task, woken to close it when it is evicted.
    waker: Option<Waker>,
}

impl Conn {
    fn new(id: u64, peer: SocketAddr, source: IpNet, limits: ConnectionLimits) -> Conn {
        let now = Instant::now();
        Conn {
            id,
            peer,
            source,
            accepted: now,
            limits,
            state: Mutex::new(ConnState {
                calls: 0,
                idle_since: now,
                established: false,
                authenticated: false,
                evicted: false,
                waker: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn body_timeout(&self) -> Duration {
        self.limits.body_timeout
    }

    /// Neither busy nor authenticated: a newcomer may take its place.
    fn evictable(&self) -> bool {
        let state = self.lock();
        state.calls == 0 && !state.authenticated && !state.evicted
    }

    fn evict(&self) {
        let mut state = self.lock();
        state.evicted = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// The task to wake when the connection is evicted.
    pub(super) fn wake_on_eviction(&self, waker: &Waker) {
        let mut state = self.lock();
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
    }

    /// A call's headers arrived: the connection is set up, and its idle time starts again (a
    /// call whose token is being checked must not find its connection closed under it).
    pub(super) fn headers_arrived(&self) {
        let mut state = self.lock();
        state.established = true;
        state.idle_since = Instant::now();
    }

    pub(super) fn call_started(&self) {
        self.lock().calls += 1;
    }

    pub(super) fn call_ended(&self) {
        let mut state = self.lock();
        state.calls -= 1;
        if state.calls == 0 {
            state.idle_since = Instant::now();
        }
    }

    /// A call on this connection passed the token check: it keeps its place when the caps are
    /// reached (it still closes when idle).
    pub(super) fn authenticated(&self) {
        self.lock().authenticated = true;
    }

    /// Whether the connection is to be closed now, and otherwise when to check again.
    pub(super) fn expiry(&self, now: Instant) -> Expiry {
        let state = self.lock();
        if state.evicted {
            return Expiry::Now("evicted to admit a newer connection");
        }
        let mut next = now + self.limits.idle_timeout;
        if !state.established {
            let deadline = self.accepted + self.limits.handshake_timeout;
            if now >= deadline {
                return Expiry::Now("no call within the handshake timeout");
            }
            next = next.min(deadline);
        }
        if state.calls == 0 {
            let deadline = state.idle_since + self.limits.idle_timeout;
            if now >= deadline {
                return Expiry::Now("idle");
            }
            next = next.min(deadline);
        }
        Expiry::At(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_total: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_total,
            max_per_ip,
            ..ConnectionLimits::default()
        }
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    fn evicted(slot: &Slot) -> bool {
        matches!(slot.conn.expiry(Instant::now()), Expiry::Now(_))
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let source = |ip: &str| source_of(ip.parse().unwrap());
        assert_eq!(source("2001:db8::1"), source("2001:db8::ffff:2"));
        assert_ne!(source("2001:db8::1"), source("2001:db8:0:1::1"));
        assert_eq!(source("::ffff:10.0.0.1"), source("10.0.0.1"));
        assert_ne!(source("10.0.0.1"), source("10.0.0.2"));
    }

    #[test]
    fn a_source_at_its_cap_evicts_its_own_oldest_idle_connection() {
        let census = Census::new(limits(10, 2));
        let first = census.admit(peer("2001:db8::1")).unwrap();
        let second = census.admit(peer("2001:db8::2")).unwrap();
        let other = census.admit(peer("10.0.0.9")).unwrap();
        let third = census.admit(peer("2001:db8::3")).unwrap();
        assert!(evicted(&first));
        assert!(!evicted(&second) && !evicted(&third) && !evicted(&other));
    }

    #[test]
    fn a_full_server_evicts_from_the_source_holding_the_most_not_the_lone_client() {
        let census = Census::new(limits(5, 5));
        let lone = census.admit(peer("10.0.0.1")).unwrap();
        let flood: Vec<Slot> = (0..4)
            .map(|_| census.admit(peer("10.0.0.2")).unwrap())
            .collect();
        let newcomer = census.admit(peer("10.0.0.3")).unwrap();
        assert!(!evicted(&lone) && !evicted(&newcomer));
        assert_eq!(flood.iter().filter(|s| evicted(s)).count(), 1);
        assert!(evicted(&flood[0]), "the flood's oldest goes first");
    }

    #[test]
    fn busy_and_authenticated_connections_keep_their_place() {
        let census = Census::new(limits(2, 2));
        let busy = census.admit(peer("10.0.0.1")).unwrap();
        busy.conn.call_started();
        let authenticated = census.admit(peer("10.0.0.1")).unwrap();
        authenticated.conn.authenticated();
        assert!(census.admit(peer("10.0.0.1")).is_none());
        assert!(census.admit(peer("10.0.0.2")).is_none());
        // The call ends: its connection may now make room.
        busy.conn.call_ended();
        assert!(census.admit(peer("10.0.0.2")).is_some());
        assert!(evicted(&busy) && !evicted(&authenticated));
    }

    #[test]
    fn an_evicted_slot_dropped_late_frees_nothing_twice() {
        let census = Census::new(limits(1, 1));
        let old = census.admit(peer("10.0.0.1")).unwrap();
        let new = census.admit(peer("10.0.0.1")).unwrap();
        drop(old);
        assert_eq!(census.lock().by_age.len(), 1);
        drop(new);
        assert!(census.lock().by_age.is_empty() && census.lock().per_source.is_empty());
    }

    #[test]
    fn a_connection_expires_without_a_call_within_the_handshake_timeout() {
        let limits = ConnectionLimits {
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        };
        let conn = Conn::new(
            1,
            peer("10.0.0.1"),
            source_of("10.0.0.1".parse().unwrap()),
            limits,
        );
        let start = conn.accepted;
        assert!(matches!(conn.expiry(start), Expiry::At(t) if t == start + Duration::from_secs(5)));
        assert!(matches!(
            conn.expiry(start + Duration::from_secs(5)),
            Expiry::Now(_)
        ));
        conn.headers_arrived();
        let now = Instant::now();
        assert!(matches!(
            conn.expiry(now + Duration::from_secs(30)),
            Expiry::At(_)
        ));
        // A call in progress is never idle; once it ends, the idle timeout counts again.
        conn.call_started();
        assert!(matches!(
            conn.expiry(now + Duration::from_secs(120)),
            Expiry::At(_)
        ));
        conn.call_ended();
        assert!(matches!(
            conn.expiry(Instant::now() + Duration::from_secs(60)),
            Expiry::Now(_)
        ));
    }
}
