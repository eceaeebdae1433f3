//! This node's shares: the listeners of every session the registry places here, bound and
//! relaying as its record says, and reported under the node's lease (bound, the record's
//! revision applied, counters); and the node's background duties: applying each change,
//! reporting counters, removing sessions whose req went away, joining again after losing its
//! lease.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;

use super::expiry::sweeps;
use super::open::{remove_waiting, unix_now};
use super::records::json;
use super::{Pool, PoolSetup};
use crate::address::HostPort;
use crate::cluster::{PoolRecord, ShareRecord, Versioned};
use crate::etcd::Txn;
use crate::relay::{
    BitRate, Capacity, ConnectionQuota, HopMode, RelayStats, SessionRelay, TargetPolicy, Terms,
};
use crate::server::bandwidth::{RateOptions, RatePolicy};
use crate::server::lifetimes::unix_ms;
use crate::server::ports::PortPool;
use crate::server::sessions::{add_growth, hop_of, Totals};
use crate::session::{Role, BITS_PER_KB};
use crate::store::HopRecord;

/// How often a node reports its shares' counters (when they changed).
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// How long past its hello deadline a session left waiting is removed by the nodes.
const ABANDONED_AFTER: u64 = 5;
/// The most share reports in one transaction.
const REPORTS_PER_TXN: usize = 100;

/// One session's listeners on this node.
struct Share {
    /// Which session of its uid (the record's creation revision).
    created: i64,
    /// The record's revision applied.
    applied: i64,
    role: Role,
    /// How many of its listeners are bound here, and those that could not be.
    bound: usize,
    lost: Vec<SocketAddr>,
    ports: Vec<u16>,
    targets: Vec<HostPort>,
    hop: HopRecord,
    relay: SessionRelay,
    /// The counters last reported.
    reported: Option<RelayStats>,
}

struct Local {
    shares: HashMap<String, Share>,
    ports: PortPool,
    /// The connection quota of each account with a share here, by its key: held on each node.
    quotas: HashMap<String, Arc<ConnectionQuota>>,
    /// Counters of the shares closed, for the metrics.
    released: RelayStats,
}

impl Local {
    /// The connection quota the relay of a share of `record` counts in: its account's on this
    /// node, shared with the account's other shares here, at the max its latest req looked up.
    fn quota_of(&mut self, record: &PoolRecord) -> Option<Arc<ConnectionQuota>> {
        let max = record.connection_quota?;
        let owner = (record.session.owner_name.clone()).unwrap_or_else(|| record.account.clone());
        let quota = (self.quotas.entry(record.account.clone()))
            .or_insert_with(|| ConnectionQuota::new(owner, max));
        quota.set_max(max);
        Some(quota.clone())
    }
}

pub(super) struct Shares {
    local: Mutex<Local>,
    node: String,
    policy: Arc<TargetPolicy>,
    capacity: Arc<Capacity>,
    rates: RateOptions,
}

impl Shares {
    pub(super) fn new(setup: &PoolSetup, node: &str) -> Shares {
        Shares {
            local: Mutex::new(Local {
                shares: HashMap::new(),
                ports: PortPool::new(setup.listener_ip, setup.port_range.clone()),
                quotas: HashMap::new(),
                released: RelayStats::default(),
            }),
            node: node.to_string(),
            policy: setup.policy.clone(),
            capacity: setup.capacity.clone(),
            rates: setup.rates,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the shares in line with the records that changed: closes those no longer placed
    /// here first (so that their ports are free for new ones), then opens and updates, then
    /// reports what it did.
    pub(super) async fn apply_changes(&self, pool: &Pool) {
        let (mut closing, mut current) = (Vec::new(), Vec::new());
        {
            let mut mirror = pool.registry.mirror();
            for uid in mirror.take_dirty() {
                let record = mirror.sessions.get(&uid);
                match record.filter(|r| r.value.placed_on(&self.node).next().is_some()) {
                    Some(record) => current.push((uid, record.clone())),
                    None => closing.push(uid),
                }
            }
        }
        for uid in closing {
            let share = self.lock().shares.remove(&uid);
            if let Some(share) = share {
                self.close(pool, &uid, share).await;
            }
        }
        let mut changed = Vec::new();
        for (uid, record) in current {
            if let Some(old) = self.take_replaced(&uid, record.create_revision) {
                self.close(pool, &uid, old).await;
            }
            if self.apply(&uid, &record) {
                changed.push(uid);
            }
        }
        self.report(pool, changed).await;
    }

    /// Takes out the share of `uid` if it belongs to an earlier session of that uid.
    fn take_replaced(&self, uid: &str, created: i64) -> Option<Share> {
        let mut local = self.lock();
        match local.shares.get(uid)?.created == created {
            true => None,
            false => local.shares.remove(uid),
        }
    }

    /// Makes the share of `uid` what `record` says; whether it changed.
    fn apply(&self, uid: &str, record: &Versioned<PoolRecord>) -> bool {
        let mut local = self.lock();
        let Some(share) = local.shares.get_mut(uid) else {
            let quota = local.quota_of(&record.value);
            let share = self.open(&mut local.ports, uid, record, quota);
            local.shares.insert(uid.to_string(), share);
            return true;
        };
        if share.applied == record.mod_revision {
            return false;
        }
        let session = &record.value.session;
        if share.hop != session.hop {
            match hop_of(session) {
                // Before the targets, so that no connection to them goes out in clear.
                Ok((_, hop)) => share.relay.set_hop_mode(hop),
                Err(why) => tracing::error!(uid, "cannot apply the session's hop: {why}"),
            }
            share.hop = session.hop.clone();
        }
        if share.targets != session.targets {
            share.relay.set_targets(session.targets.clone());
            share.targets = session.targets.clone();
        }
        share.applied = record.mod_revision;
        true
    }

    /// Binds this node's listeners of `record` and starts relaying as it says.
    fn open(
        &self,
        ports: &mut PortPool,
        uid: &str,
        record: &Versioned<PoolRecord>,
        quota: Option<Arc<ConnectionQuota>>,
    ) -> Share {
        let session = &record.value.session;
        let mine: Vec<(usize, SocketAddr)> = record.value.placed_on(&self.node).collect();
        let (hop, mut lost) = match hop_of(session) {
            Ok((_, hop)) => (Some(hop), Vec::new()),
            Err(why) => {
                tracing::error!(uid, "cannot take the session's share: its hop: {why}");
                (None, mine.iter().map(|(_, a)| *a).collect())
            }
        };
        let mut listeners: Vec<Option<TcpListener>> = Vec::new();
        listeners.resize_with(session.listeners.len(), || None);
        let mut bound = Vec::new();
        for &(index, addr) in mine.iter().filter(|_| hop.is_some()) {
            match ports.take_back(addr) {
                Ok(listener) => {
                    listeners[index] = Some(listener);
                    bound.push(addr.port());
                }
                Err(why) => {
                    tracing::warn!(event = "listener_lost", uid, listener = %addr,
                        "a listener placed on this node could not be bound: {why}");
                    lost.push(addr);
                }
            }
        }
        let terms = Terms {
            rate: self.share_rate(&record.value),
            allow_from: session.allow_from.clone(),
            quota,
        };
        let relay = SessionRelay::resume(
            uid.to_string(),
            listeners,
            self.policy.clone(),
            self.capacity.clone(),
            terms,
            RelayStats::default(),
        );
        relay.set_hop_mode(hop.unwrap_or(HopMode::Plain));
        if !session.targets.is_empty() {
            relay.set_targets(session.targets.clone());
        }
        Share {
            created: record.create_revision,
            applied: record.mod_revision,
            role: session.role,
            bound: bound.len(),
            lost,
            ports: bound,
            targets: session.targets.clone(),
            hop: session.hop.clone(),
            relay,
            reported: None,
        }
    }

    /// The rate this node holds its share of `record` to: its part of the session's rate.
    fn share_rate(&self, record: &PoolRecord) -> Option<BitRate> {
        if self.rates.policy == RatePolicy::Ignore {
            return None;
        }
        BitRate::new(record.share_kbps(&self.node) * BITS_PER_KB)
    }

    /// Stops a share's relay, frees its ports and withdraws its report.
    async fn close(&self, pool: &Pool, uid: &str, share: Share) {
        let stats = share.relay.shutdown().await;
        {
            let mut local = self.lock();
            add_growth(&mut local.released, RelayStats::default(), stats);
            local.ports.free(share.ports);
            // Held by no relay any more.
            local.quotas.retain(|_, quota| Arc::strong_count(quota) > 1);
        }
        let key = pool.keys().share(uid, &self.node);
        if let Err(e) = pool.registry.etcd.txn(Txn::default().delete(&key)).await {
            tracing::warn!(
                uid,
                "could not withdraw this node's share: {e}; it goes with the lease"
            );
        }
    }

    /// Reports the shares of `uids` under the node's lease.
    async fn report(&self, pool: &Pool, uids: Vec<String>) {
        let lease = pool.membership.lease();
        if uids.is_empty() || lease == 0 {
            return;
        }
        let reports: Vec<(String, Vec<u8>)> = {
            let mut local = self.lock();
            (uids.iter())
                .filter_map(|uid| {
                    let share = local.shares.get_mut(uid)?;
                    let stats = share.relay.stats();
                    share.reported = Some(stats);
                    let report = ShareRecord {
                        applied: share.applied,
                        lost: share.lost.clone(),
                        stats,
                        throughput: share.relay.throughput(),
                        idle_since_unix_ms: share.relay.idle_since().map(unix_ms),
                    };
                    Some((pool.keys().share(uid, &self.node), json(&report)))
                })
                .collect()
        };
        for chunk in reports.chunks(REPORTS_PER_TXN) {
            let txn = (chunk.iter()).fold(Txn::default(), |txn, (key, report)| {
                txn.put(key, report.clone(), lease)
            });
            if let Err(e) = pool.registry.etcd.txn(txn).await {
                pool.duty_failed(|| format!("could not report this node's shares: {e}"));
                return;
            }
        }
    }

    /// Reports the shares whose counters moved since their last report (all, with `all`).
    async fn report_changed(&self, pool: &Pool, all: bool) {
        let moved = {
            let local = self.lock();
            let shares = local.shares.iter();
            let moved = shares.filter(|(_, s)| all || s.reported != Some(s.relay.stats()));
            moved.map(|(uid, _)| uid.clone()).collect()
        };
        self.report(pool, moved).await;
    }

    pub(super) fn totals(&self) -> Totals {
        let local = self.lock();
        let mut totals = Totals {
            relay: local.released,
            ..Totals::default()
        };
        for share in local.shares.values() {
            match share.role {
                Role::Prod => totals.prod_sessions += 1,
                Role::Cons => totals.cons_sessions += 1,
            }
            totals.listeners += share.bound;
            let stats = share.relay.stats();
            add_growth(&mut totals.relay, RelayStats::default(), stats);
            totals.relay.connections_active += stats.connections_active;
        }
        totals
    }

    /// Stops every share's relay (the node stops); how many there were.
    pub(super) async fn close_all(&self) -> usize {
        let shares: Vec<Share> = self.lock().shares.drain().map(|(_, s)| s).collect();
        let count = shares.len();
        for share in shares {
            share.relay.shutdown().await;
        }
        count
    }
}

/// Applies each change of the registry to this node's shares as it comes; every
/// [`REPORT_EVERY`], reports the shares' counters, removes sessions left waiting for a hello
/// past their deadline (by a req whose node went away) and releases expired ones.
pub(super) async fn keep(pool: Weak<Pool>) {
    let Some(mut changes) = pool.upgrade().map(|p| p.registry.subscribe()) else {
        return;
    };
    let mut ticks = tokio::time::interval(REPORT_EVERY);
    loop {
        tokio::select! {
            changed = changes.changed() => {
                let (Ok(()), Some(pool)) = (changed, pool.upgrade()) else { return };
                pool.shares.apply_changes(&pool).await;
            }
            _ = ticks.tick() => {
                let Some(pool) = pool.upgrade() else { return };
                pool.shares.report_changed(&pool, false).await;
                sweep(&pool).await;
                pool.expire_due(SystemTime::now()).await;
            }
        }
    }
}

/// Removes the sessions this node sweeps still waiting for their hello well past its
/// deadline.
async fn sweep(pool: &Pool) {
    let now = unix_now();
    let stale: Vec<(String, i64)> = {
        let mirror = pool.registry.mirror();
        let sessions = mirror.sessions.iter();
        let stale = sessions.filter(|(_, r)| {
            let waiting =
                r.value.awaiting_hello && r.value.hello_deadline_unix + ABANDONED_AFTER < now;
            waiting && sweeps(&pool.node, &r.value, &mirror)
        });
        stale
            .map(|(uid, r)| (uid.clone(), r.create_revision))
            .collect()
    };
    for (uid, created) in stale {
        remove_waiting(&pool.registry, &uid, created).await;
    }
}

/// Joins the pool again whenever the node's lease is lost (etcd out of reach for longer than
/// the lease): the relays run on meanwhile, and once back, the node reports every share again.
pub(super) async fn rejoin_when_lost(pool: Weak<Pool>) {
    loop {
        let alive = pool.upgrade().and_then(|p| p.membership.alive());
        let Some(mut alive) = alive else { return };
        let lost = loop {
            if !*alive.borrow_and_update() {
                break true;
            }
            if alive.changed().await.is_err() {
                // The lease was replaced: watch the new one.
                break false;
            }
        };
        let Some(pool) = pool.upgrade().filter(|_| lost) else {
            continue;
        };
        tracing::warn!(node = %pool.node, "this node lost its lease in the pool: its listeners \
            show as lost until it joins again; relays go on");
        let wait = pool.membership.ttl() * 3;
        while let Err(e) = pool.membership.join(wait).await {
            tracing::warn!("could not join the pool again: {e}; trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        pool.shares.report_changed(&pool, true).await;
        tracing::info!(node = %pool.node, lease = pool.membership.lease(), "joined the pool again");
    }
}
