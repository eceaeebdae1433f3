//! S2DS, the data plane: per-session listeners relayed to their targets.
//!
//! Public API used by the control server (keep it stable):
//! [`SessionRelay::new`], [`SessionRelay::set_targets`], [`SessionRelay::stats`],
//! [`SessionRelay::set_hop`], [`SessionRelay::shutdown`], [`RelayStats`], [`TargetPolicy`], and the
//! server-wide
//! [`Capacity`] every session shares.
//!
//! Layout: [`listener`] runs one accept loop per listener, [`connection`] relays one accepted
//! connection, with the Linux [`splice`] engine (its pipes lent by a [`pipe`] pool) or the
//! portable [`copy`] engine behind the same contract, and the gateway-to-gateway leg through the
//! TLS of [`hop`]; [`capacity`] bounds connections and pipes over all sessions; [`target_policy`]
//! says where a connection may go.

mod capacity;
mod connection;
mod copy;
mod hop;
mod listener;
#[cfg(test)]
mod loopback;
#[cfg(target_os = "linux")]
mod pipe;
#[cfg(target_os = "linux")]
mod splice;
mod target_policy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use capacity::Shedding;
pub use capacity::{Capacity, Limits, Rejection};
pub(crate) use hop::{Hop, HopCredential, HopIdentity, HopPin, CREDENTIAL_LEN};
use listener::AcceptLoop;
use target_policy::Claim;
pub use target_policy::TargetPolicy;

/// How long a target may take to accept a relayed connection before the client is dropped.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of one session, summed over its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveConnection(&self.active)
    }
}

struct ActiveConnection<'a>(&'a AtomicU64);

impl Drop for ActiveConnection<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bytes one connection moved each way.
struct Traffic {
    to_target: u64,
    from_target: u64,
}

/// What every task of a session shares.
struct SessionShared {
    uid: String,
    counters: Counters,
    /// Where its connections may go; its listeners count as the server's own meanwhile.
    policy: Claim,
    capacity: Arc<Capacity>,
    shedding: Shedding,
}

/// Where the listeners of a session send their new connections.
#[derive(Clone, Debug)]
struct Routes {
    targets: Vec<String>,
    hop: Hop,
}

impl Routes {
    fn target_for(&self, listener: usize) -> Option<&str> {
        let n = self.targets.len();
        (n > 0).then(|| self.targets[listener % n].as_str())
    }
}

/// The data plane of one session: its bound listeners, their targets and live connections.
///
/// Dropping it without [`shutdown`](Self::shutdown) aborts every task of the session, which
/// closes its listeners and connections.
pub struct SessionRelay {
    session: Arc<SessionShared>,
    routes: watch::Sender<Routes>,
    stop: watch::Sender<bool>,
    accept_loops: JoinSet<()>,
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
        let own = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let session = Arc::new(SessionShared {
            uid,
            counters: Counters::default(),
            policy: policy.claim(own),
            capacity,
            shedding: Shedding::default(),
        });
        let (routes, _) = watch::channel(Routes {
            targets: Vec::new(),
            hop: Hop::Plain,
        });
        let (stop, _) = watch::channel(false);
        let mut accept_loops = JoinSet::new();
        for (index, listener) in listeners.into_iter().enumerate() {
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
            routes,
            stop,
            accept_loops,
        }
    }

    /// Listener i relays new connections to `targets[i % targets.len()]` ("host:port").
    /// The first call starts relaying; later calls retarget new connections only.
    pub fn set_targets(&self, targets: Vec<String>) {
        self.routes.send_modify(|routes| routes.targets = targets);
    }

    /// How connections accepted from now on cross the hop ([`Hop::Plain`] until then).
    pub(crate) fn set_hop(&self, hop: Hop) {
        self.routes.send_modify(|routes| routes.hop = hop);
    }

    pub fn stats(&self) -> RelayStats {
        self.session.counters.snapshot()
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
