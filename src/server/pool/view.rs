//! `status` and `list` in a pool: read from etcd at one revision (the sessions, their shares
//! and the live nodes), so that any node answers for the whole session as it is now.

use super::records::unreachable;
use super::{oversees, Error, Pool};
use crate::address;
use crate::cluster::{Mirror, PoolRecord, Versioned};
use crate::etcd::{KeyChange, Range};
use crate::relay::{RelayStats, Throughput};
use crate::server::call::Caller;
use crate::server::sessions::add_growth;
use crate::session::{Expires, SessionView, State};

impl Pool {
    pub(crate) async fn view(&self, uid: &str, caller: &Caller) -> Result<SessionView, Error> {
        let keys = self.keys();
        let (key, shares, nodes) = (keys.session(uid), keys.shares_of(uid), keys.nodes());
        let read = [
            Range::Key(&key),
            Range::Prefix(&shares),
            Range::Prefix(&nodes),
        ];
        let snapshot = self.snapshot(&read).await?;
        let record = snapshot.sessions.get(uid);
        let record = record.ok_or_else(|| Error::NotFound(uid.to_string()))?;
        if !oversees(caller, &record.value) {
            return Err(Error::NotOwner(uid.to_string()));
        }
        Ok(self.view_of(uid, record, &snapshot))
    }

    /// The sessions `caller` oversees opened after the one numbered `after` (0: all), oldest
    /// first, each with its number (its record's creation revision).
    pub(crate) async fn list_after(
        &self,
        after: u64,
        caller: &Caller,
    ) -> Result<Vec<(u64, SessionView)>, Error> {
        let keys = self.keys();
        let (sessions, shares, nodes) = (keys.sessions(), keys.shares(), keys.nodes());
        let read = [
            Range::Prefix(&sessions),
            Range::Prefix(&shares),
            Range::Prefix(&nodes),
        ];
        let snapshot = self.snapshot(&read).await?;
        let mut all: Vec<(u64, SessionView)> = (snapshot.sessions.iter())
            .map(|(uid, r)| (u64::try_from(r.create_revision).unwrap_or_default(), uid, r))
            .filter(|(number, _, r)| *number > after && oversees(caller, &r.value))
            .map(|(number, uid, r)| (number, self.view_of(uid, r, &snapshot)))
            .collect();
        all.sort_by_key(|(number, _)| *number);
        Ok(all)
    }

    /// The keys of `read`, as a mirror of their own.
    async fn snapshot(&self, read: &[Range<'_>]) -> Result<Mirror, Error> {
        let read = self.registry.etcd.read(read).await.map_err(unreachable)?;
        let mut snapshot = Mirror::default();
        for kv in read.into_iter().flatten().filter_map(KeyChange::read) {
            snapshot.apply(self.keys(), kv);
        }
        Ok(snapshot)
    }

    /// The session `uid` as its record, its nodes' shares and the live nodes show it: a
    /// listener whose node is gone, or could not bind it, is lost.
    pub(super) fn view_of(
        &self,
        uid: &str,
        record: &Versioned<PoolRecord>,
        pool: &Mirror,
    ) -> SessionView {
        let PoolRecord { session, nodes, .. } = &record.value;
        let shares = pool.shares.get(uid);
        let lost = (nodes.iter().zip(&session.listeners))
            .filter(|(node, addr)| {
                let share = shares.and_then(|s| s.get(*node));
                !pool.nodes.contains_key(*node) || share.is_some_and(|s| s.lost.contains(addr))
            })
            .map(|(_, addr)| addr.to_string())
            .collect();
        let (mut stats, mut throughput) = (RelayStats::default(), Throughput::default());
        for share in shares.into_iter().flat_map(|s| s.values()) {
            add_growth(&mut stats, RelayStats::default(), share.stats);
            stats.connections_active += share.stats.connections_active;
            throughput.to_target_bps += share.throughput.to_target_bps;
            throughput.from_target_bps += share.throughput.from_target_bps;
            throughput.over_ms = throughput.over_ms.max(share.throughput.over_ms);
        }
        let state = match (record.value.awaiting_hello, session.targets.is_empty()) {
            (true, _) => State::AwaitingHello,
            (false, true) => State::AwaitingUpdate,
            (false, false) => State::Relaying,
        };
        let (expires_at, expires_by) = self.expiry(uid, &record.value, pool);
        let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(session.created_unix);
        SessionView {
            uid: uid.to_string(),
            role: session.role,
            owner: session.owner_name.clone(),
            rate: session.rate,
            rate_policy: self.rates.policy.as_str().into(),
            throughput,
            allow_from: session.allow_from.iter().map(ToString::to_string).collect(),
            state,
            listeners: session.listeners.iter().map(ToString::to_string).collect(),
            prod_listeners: address::to_strings(&session.prod_listeners),
            targets: address::to_strings(&session.targets),
            lost_listeners: lost,
            listener_nodes: nodes.clone(),
            age_secs: created.elapsed().map_or(0, |age| age.as_secs()),
            expires: Some(Expires::new(expires_at, expires_by)),
            stats,
        }
    }
}
