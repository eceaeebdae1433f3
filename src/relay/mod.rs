//! S2DS, the data plane: per-session listeners relayed to their targets.
//!
//! Public API used by the control server (keep it stable):
//! [`SessionRelay::new`], [`SessionRelay::set_targets`], [`SessionRelay::stats`],
//! [`SessionRelay::set_hop_mode`], [`SessionRelay::shutdown`], [`RelayStats`], [`TargetPolicy`], and the
//! server-wide [`Capacity`] every session shares, with the [`Shares`] each source and session
//! may take of it. [`SessionRelay::with_terms`] opens a session held to a rate and open to some
//! source networks only ([`Terms`]).
//!
//! Layout: [`listener`] runs one accept loop per listener, [`connection`] relays one accepted
//! connection, with the Linux [`splice`] engine (its pipes lent by a [`pipe`] pool) or the
//! portable [`copy`] engine behind the same contract, and the gateway-to-gateway leg through the
//! TLS of [`hop`]; [`capacity`] bounds connections and pipes over all sessions, and
//! [`admission`] lets each new connection in or turns it away against those bounds and its
//! session's, which [`shedding`] logs; [`idle`] finds connections that moved no data;
//! [`target_policy`] says where a connection may go; [`rate`] holds a limited session to its
//! rate, and [`meter`] measures what it moves.

mod admission;
mod capacity;
mod connection;
mod copy;
mod hop;
mod idle;
mod listener;
#[cfg(test)]
mod loopback;
mod meter;
mod parking;
#[cfg(target_os = "linux")]
mod pipe;
mod rate;
mod shedding;
#[cfg(target_os = "linux")]
mod splice;
mod target_policy;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::address::HostPort;
pub use admission::ConnectionQuota;
use admission::SessionGate;
pub(crate) use capacity::{raise_fd_limit, AUTH_CONNECTION_FDS};
pub use capacity::{Capacity, Limits, Rejection, Shares};
pub(crate) use hop::{HopDialer, HopIdentity, HopMode};
pub(crate) use hop::{
    BUFFER_BUDGET as HOP_BUFFER_BUDGET, CONNECTION_MEMORY as HOP_CONNECTION_MEMORY,
};
use listener::AcceptLoop;
use meter::Meter;
pub use meter::Throughput;
pub(crate) use parking::{ParkedConnection, ParkedRelay};

use parking::{Mode, Parking};
pub use rate::BitRate;
use rate::Buckets;
use shedding::Shedding;
use target_policy::Claim;
pub use target_policy::TargetPolicy;

/// How long a target may take to accept a relayed connection before the client is dropped.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of one session, summed over its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStats {
    pub bytes_to_target: u64,
    pub bytes_from_target: u64,
    pub connections_active: u64,
    pub connections_total: u64,
}

/// Live counters of one session, updated by its connections as bytes move.
#[derive(Default)]
struct Counters {
    to_target: AtomicU64,
    from_target: AtomicU64,
    active: AtomicU64,
    total: AtomicU64,
    /// When its last connection closed, in milliseconds since the Unix epoch (0: none has).
    idle_since_ms: AtomicU64,
}

/// The counters of a session taken back after a restart: its connections ended with the
/// process, so it is idle from now on.
impl From<RelayStats> for Counters {
    fn from(stats: RelayStats) -> Self {
        Counters {
            to_target: AtomicU64::new(stats.bytes_to_target),
            from_target: AtomicU64::new(stats.bytes_from_target),
            active: AtomicU64::new(0),
            total: AtomicU64::new(stats.connections_total),
            idle_since_ms: AtomicU64::new(unix_ms_now()),
        }
    }
}

impl Counters {
    fn snapshot(&self) -> RelayStats {
        RelayStats {
            bytes_to_target: self.to_target.load(Ordering::Relaxed),
            bytes_from_target: self.from_target.load(Ordering::Relaxed),
            connections_active: self.active.load(Ordering::Relaxed),
            connections_total: self.total.load(Ordering::Relaxed),
        }
    }

    /// Counts a connection as active until the returned guard drops, which also covers
    /// connections cancelled by shutdown.
    fn open_connection(&self) -> ActiveConnection<'_> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.resume_connection()
    }

    /// Counts a connection handed over by the previous process, which counted it in the
    /// total already, as active until the guard drops.
    fn resume_connection(&self) -> ActiveConnection<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveConnection(self)
    }

    /// Since when no connection has been open; None while one is.
    fn idle_since(&self) -> Option<SystemTime> {
        // Acquire: seeing the last connection's decrement is seeing its time (stored before).
        let idle = self.active.load(Ordering::Acquire) == 0;
        let ms = self.idle_since_ms.load(Ordering::Relaxed);
        idle.then(|| UNIX_EPOCH + Duration::from_millis(ms))
    }
}

/// Now, in milliseconds since the Unix epoch.
fn unix_ms_now() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    u64::try_from(now.unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
}

struct ActiveConnection<'a>(&'a Counters);

impl Drop for ActiveConnection<'_> {
    fn drop(&mut self) {
        // Before the count drops: whoever sees no connection open sees when the last closed.
        (self.0.idle_since_ms).fetch_max(unix_ms_now(), Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::Release);
    }
}

/// Parks one session's relay for a live upgrade, and tells it the verdict.
pub(crate) struct ParkHandle {
    session: Arc<SessionShared>,
    listeners: Vec<Option<RawFd>>,
}

impl ParkHandle {
    /// Stops accepting (keeping the listeners) and stops every plain connection at a safe
    /// point; returns their fds and states, valid until [`run`](Self::run) or
    /// [`hand_over`](Self::hand_over). Encrypted connections go on.
    pub(crate) async fn park(&self) -> ParkedRelay {
        let loops = self.listeners.iter().flatten().count();
        let connections = self.session.parking.park(loops).await;
        ParkedRelay {
            listeners: self.listeners.clone(),
            connections,
        }
    }

    /// The handover failed: everything parked goes on where it stopped.
    pub(crate) fn run(&self) {
        self.session.parking.decide(Mode::Run);
    }

    /// The next process has the listeners and the parked connections: they are let go of
    /// without touching the sockets.
    pub(crate) fn hand_over(&self) {
        self.session.parking.decide(Mode::HandedOver);
    }
}

/// Bytes one connection moved each way.
struct Traffic {
    to_target: u64,
    from_target: u64,
}

/// What a session's relay is held to, besides the server's [`Capacity`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    /// Each direction's rate, summed over the session's connections; None: unlimited (no
    /// bucket is consulted at all).
    pub rate: Option<BitRate>,
    /// The source networks whose connections the listeners admit; empty: any.
    pub allow_from: Vec<IpNet>,
    /// The relayed connections its owner may hold over all of its sessions; None: no quota.
    pub quota: Option<Arc<ConnectionQuota>>,
}

impl Terms {
    /// Whether a connection from `source` may use the session.
    fn admits(&self, source: IpAddr) -> bool {
        let source = source.to_canonical();
        self.allow_from.is_empty() || self.allow_from.iter().any(|net| net.contains(&source))
    }
}

/// What every task of a session shares.
struct SessionShared {
    uid: String,
    counters: Counters,
    /// Where its connections may go; its listeners count as the server's own meanwhile.
    policy: Claim,
    capacity: Arc<Capacity>,
    /// Its own bounds, within the capacity's.
    gate: SessionGate,
    shedding: Shedding,
    /// Whom the listeners admit.
    terms: Terms,
    /// Present iff the session is held to a rate.
    buckets: Option<Buckets>,
    /// Pauses its tasks for a live upgrade.
    parking: Parking,
}

impl SessionShared {
    /// Counts a connection from `source` that is reset for `reason`, and logs a burst once.
    fn rejected(&self, reason: Rejection, source: IpAddr) {
        let held = shedding::Held {
            capacity: &self.capacity,
            quota: self.terms.quota.as_deref(),
        };
        self.shedding.rejected(&self.uid, reason, source, held);
    }

    /// Counts a connection to an encrypted PROD listener that did not prove the secret, and
    /// logs such refusals in aggregate.
    fn hop_refused(&self, peer: SocketAddr, refusal: &dyn fmt::Display) {
        self.shedding
            .hop_refused(&self.uid, peer, refusal, &self.capacity);
    }
}

/// Where the listeners of a session send their new connections.
#[derive(Clone, Debug)]
struct Routes {
    targets: Vec<HostPort>,
    hop_mode: HopMode,
}

impl Routes {
    fn target_for(&self, listener: usize) -> Option<&HostPort> {
        let n = self.targets.len();
        (n > 0).then(|| &self.targets[listener % n])
    }
}

/// The data plane of one session: its bound listeners, their targets and live connections.
///
/// Dropping it without [`shutdown`](Self::shutdown) aborts every task of the session, which
/// closes its listeners and connections.
pub struct SessionRelay {
    session: Arc<SessionShared>,
    meter: Meter,
    routes: watch::Sender<Routes>,
    stop: watch::Sender<bool>,
    /// The accept loops, and the task of the connections handed over by the previous process.
    accept_loops: JoinSet<()>,
    /// The listeners' fds (None: lost), open as long as their accept loops run.
    listeners: Vec<Option<RawFd>>,
}

impl SessionRelay {
    /// Takes ownership of the session's bound listeners. Nothing is relayed before the first
    /// [`set_targets`](Self::set_targets); every connection is checked against `policy`, and
    /// counts against `capacity`, which the sessions of a server share. Must be called inside a
    /// tokio runtime.
    pub fn new(
        uid: String,
        listeners: Vec<TcpListener>,
        policy: Arc<TargetPolicy>,
        capacity: Arc<Capacity>,
    ) -> Self {
        Self::with_terms(uid, listeners, policy, capacity, Terms::default())
    }

    /// [`new`](Self::new), for a session held to `terms`.
    pub fn with_terms(
        uid: String,
        listeners: Vec<TcpListener>,
        policy: Arc<TargetPolicy>,
        capacity: Arc<Capacity>,
        terms: Terms,
    ) -> Self {
        let listeners = listeners.into_iter().map(Some).collect();
        Self::resume(
            uid,
            listeners,
            policy,
            capacity,
            terms,
            RelayStats::default(),
        )
    }

    /// A session taken back after a restart: listener i is `listeners[i]` (None: lost, its
    /// index kept so that the others keep their targets), and its counters go on from
    /// `counted` (as last stored; `connections_active` is not carried over).
    pub(crate) fn resume(
        uid: String,
        listeners: Vec<Option<TcpListener>>,
        policy: Arc<TargetPolicy>,
        capacity: Arc<Capacity>,
        terms: Terms,
        counted: RelayStats,
    ) -> Self {
        let own = listeners
            .iter()
            .flatten()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let fds = listeners
            .iter()
            .map(|l| l.as_ref().map(AsRawFd::as_raw_fd))
            .collect();
        let session = Arc::new(SessionShared {
            uid,
            counters: Counters::from(counted),
            policy: policy.claim(own),
            gate: SessionGate::new(capacity.shares().session_rate),
            capacity,
            shedding: Shedding::default(),
            buckets: terms.rate.map(Buckets::new),
            terms,
            parking: Parking::default(),
        });
        let (routes, _) = watch::channel(Routes {
            targets: Vec::new(),
            hop_mode: HopMode::Plain,
        });
        let (stop, _) = watch::channel(false);
        let mut accept_loops = JoinSet::new();
        let bound = listeners.into_iter().enumerate();
        for (index, listener) in bound.filter_map(|(i, l)| Some((i, l?))) {
            let accept_loop = AcceptLoop {
                index,
                listener,
                routes: routes.subscribe(),
                session: session.clone(),
            };
            accept_loops.spawn(accept_loop.run(stop.subscribe()));
        }
        SessionRelay {
            session,
            meter: Meter::default(),
            routes,
            stop,
            accept_loops,
            listeners: fds,
        }
    }

    /// Goes on relaying `connections`, handed over by the previous process with this
    /// session's listeners; they are stopped with the session, and park with it.
    pub(crate) fn adopt_connections(&mut self, connections: Vec<ParkedConnection<OwnedFd>>) {
        if connections.is_empty() {
            return;
        }
        let mut running = JoinSet::new();
        for parked in connections {
            let session = self.session.clone();
            let admission = admission::Admission {
                session: &session,
                source: parked.peer.ip().into(),
            };
            let (ticket, enlisted) = (admission.resumed(), session.parking.enlist());
            #[cfg(target_os = "linux")]
            running.spawn(connection::resume(parked, ticket, enlisted, session));
            #[cfg(not(target_os = "linux"))]
            drop((parked, ticket, enlisted));
        }
        let mut stop = self.stop.subscribe();
        self.accept_loops.spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|&stopped| stopped) => {}
                () = async { while running.join_next().await.is_some() {} } => {}
            }
            running.shutdown().await;
        });
    }

    /// A handle that parks the session for a live upgrade, outside any lock on the session.
    pub(crate) fn parking(&self) -> ParkHandle {
        ParkHandle {
            session: self.session.clone(),
            listeners: self.listeners.clone(),
        }
    }

    /// Waits until every task of the session has ended by itself (after a handover: its
    /// encrypted connections), and returns its totals. Dropped before, it stops them all.
    pub(crate) async fn drained(mut self) -> RelayStats {
        while self.accept_loops.join_next().await.is_some() {}
        self.stats()
    }

    /// Listener i relays new connections to `targets[i % targets.len()]`.
    /// The first call starts relaying; later calls retarget new connections only.
    pub fn set_targets(&self, targets: Vec<HostPort>) {
        self.routes.send_modify(|routes| routes.targets = targets);
    }

    /// How connections accepted from now on cross the hop ([`HopMode::Plain`] until then).
    pub(crate) fn set_hop_mode(&self, mode: HopMode) {
        self.routes.send_modify(|routes| routes.hop_mode = mode);
    }

    pub fn stats(&self) -> RelayStats {
        self.session.counters.snapshot()
    }

    /// Since when the session has had no relayed connection open (the Unix epoch if it never
    /// had one); None while it has one. A session's idle timeout counts from here.
    pub fn idle_since(&self) -> Option<SystemTime> {
        self.session.counters.idle_since()
    }

    /// What the session relays per second, measured since the previous call that is at least
    /// a second back (at first: since the session started).
    pub fn throughput(&self) -> Throughput {
        self.meter.read(self.stats())
    }

    /// Closes the listeners and every live connection of the session, waits until all of its
    /// tasks are gone, and returns its totals.
    pub async fn shutdown(mut self) -> RelayStats {
        self.stop.send_replace(true);
        while self.accept_loops.join_next().await.is_some() {}
        let stats = self.stats();
        tracing::debug!(uid = %self.session.uid, ?stats, "relay stopped");
        stats
    }
}
