//! The session table in a live upgrade: frozen and parked while a new process takes it,
//! thawed if it does not, handed over and drained if it does; and, in the new process, the
//! sessions adopted with the listeners and connections that came with them.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{Sessions, Table};
use crate::relay::{ParkHandle, ParkedConnection, ParkedRelay, SessionRelay};
use crate::store::SessionRecord;

/// What a frozen table holds: each session as the store keeps it, counters as of the freeze,
/// with its parked relay.
pub(crate) struct Frozen {
    pub(crate) sessions: Vec<(SessionRecord, ParkedRelay)>,
}

/// A session that came from the previous process: its record, its listeners (None: lost
/// there) and its plain connections.
pub(crate) struct Adopted {
    pub(crate) record: SessionRecord,
    pub(crate) listeners: Vec<Option<TcpListener>>,
    pub(crate) connections: Vec<ParkedConnection<OwnedFd>>,
}

impl Sessions {
    /// Refuses every change from now on, drops the sessions still waiting for their hello
    /// (their reqs fail UNAVAILABLE: such sessions are not kept anyway), and parks every
    /// relay; returns the sessions as they are then.
    pub(crate) async fn freeze(&self) -> Frozen {
        let (waiting, relays) = {
            let mut table = self.lock();
            table.frozen = true;
            // Their hellos (and reqs) see the table frozen and fail the same way.
            table.early_hellos.clear();
            let waiting: Vec<String> = (table.sessions.iter())
                .filter(|(_, s)| s.hello.is_some())
                .map(|(uid, _)| uid.clone())
                .collect();
            let waiting: Vec<_> = waiting.iter().filter_map(|uid| table.remove(uid)).collect();
            (waiting, parking_of(&table))
        };
        for removed in waiting {
            self.close(removed).await;
        }
        let mut parking = JoinSet::new();
        for (uid, relay) in relays {
            parking.spawn(async move { (uid, relay.park().await) });
        }
        let mut parked = Vec::new();
        while let Some(Ok(one)) = parking.join_next().await {
            parked.push(one);
        }
        let table = self.lock();
        let sessions = parked.into_iter().filter_map(|(uid, relay)| {
            let record = table.sessions.get(&uid)?.record(&uid);
            Some((record, relay))
        });
        Frozen {
            sessions: sessions.collect(),
        }
    }

    /// The handover failed: changes are allowed again, and every parked relay goes on.
    pub(crate) fn thaw(&self) {
        let mut table = self.lock();
        table.frozen = false;
        for (_, relay) in parking_of(&table) {
            relay.run();
        }
    }

    /// The new process has the sessions: their relays let go of their listeners and plain
    /// connections without touching them. The table stays frozen.
    pub(crate) fn hand_over(&self) {
        for (_, relay) in parking_of(&self.lock()) {
            relay.hand_over();
        }
    }

    /// After [`hand_over`](Self::hand_over): waits up to `timeout` for the connections that
    /// stayed here (the encrypted ones) to end, then cuts the rest. Returns how many sessions
    /// still had some when the wait began.
    pub(crate) async fn drain(&self, timeout: Duration) -> usize {
        let relays: Vec<SessionRelay> = {
            let mut table = self.lock();
            let entries = table.sessions.drain().map(|(_, entry)| entry.relay);
            entries
                .filter(|r| r.stats().connections_active > 0)
                .collect()
        };
        let draining = relays.len();
        let mut drained = JoinSet::new();
        for relay in relays {
            drained.spawn(relay.drained());
        }
        if tokio::time::timeout(timeout, async {
            while drained.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(
                event = "drain_timeout",
                "connections still open after --drain-timeout ({timeout:?}): reset"
            );
        }
        drained.shutdown().await;
        draining
    }

    /// Enters the sessions the previous process handed over, relaying on their listeners and
    /// connections from where they stood.
    pub(crate) fn adopt(&self, sessions: Vec<Adopted>) -> usize {
        let mut connections = 0;
        for adopted in sessions {
            let uid = adopted.record.uid.clone();
            let handed = |table: &mut Table, record: &SessionRecord| {
                handed_listeners(table, record, adopted.listeners)
            };
            if let Err(e) = self.enter(adopted.record, handed) {
                tracing::error!(%uid, "a handed-over session could not be taken up: {e}");
                continue;
            }
            connections += adopted.connections.len();
            if let Some(entry) = self.lock().sessions.get_mut(&uid) {
                entry.relay.adopt_connections(adopted.connections);
            }
        }
        connections
    }
}

fn parking_of(table: &Table) -> Vec<(String, ParkHandle)> {
    let sessions = table.sessions.iter();
    sessions
        .map(|(uid, s)| (uid.clone(), s.relay.parking()))
        .collect()
}

/// The listeners that came with `record`'s session, counted in the port pool; those the
/// previous process had lost stay lost.
fn handed_listeners(
    table: &mut Table,
    record: &SessionRecord,
    listeners: Vec<Option<TcpListener>>,
) -> (Vec<Option<TcpListener>>, Vec<SocketAddr>) {
    let lost = (record.listeners.iter().zip(&listeners))
        .filter(|(_, l)| l.is_none())
        .map(|(addr, _)| *addr)
        .collect();
    for listener in listeners.iter().flatten() {
        if let Ok(addr) = listener.local_addr() {
            table.ports.adopt(addr);
        }
    }
    (listeners, lost)
}
