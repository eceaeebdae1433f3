//! A node of a pool (`--cluster`): the session table's calls, answered for the whole pool
//! from the registry in etcd ([`crate::cluster`]).
//!
//! A req places the session's listeners over the live nodes and writes the session, its ports
//! and its account's count in one transaction ([`open`]); every node binds its share of the
//! sessions placed on it and reports it under its lease ([`shares`]); the req answers once all
//! shares are bound and the hello has come, at whichever node. Every other change is a
//! compare-and-swap of the session's record ([`records`]), applied by each node to its share;
//! status and list read etcd ([`view`]), so that any node answers for the whole session.

mod expiry;
mod open;
mod records;
mod shares;
mod view;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use ipnet::IpNet;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bandwidth::RateOptions;
use super::call::{Account, Caller};
use super::error::Error;
use super::lifetimes::{unix_ms, Expirations, Lifetimes};
use super::quotas::Quotas;
use super::sessions::{
    dial_record, hop_of, identity_record, Relaying, Totals, MAX_EARLY_HELLOS,
    MAX_EARLY_HELLOS_PER_ACCOUNT,
};
use crate::address::HostPort;
use crate::cluster::{ClusterOptions, Held, Keys, Membership, NodeInfo, Placement, Registry};
use crate::logging::Throttle;
use crate::relay::{Capacity, TargetPolicy};
use crate::session::{Role, SessionView};
use crate::store::HopRecord;
use crate::tls::hop::{HopCredential, HopDialer, HopIdentity};

/// What to check besides etcd running when it speaks TLS: a TLS failure shows only as a
/// broken connection.
const TLS_HINT: &str = "; over https://, that --cluster-ca is the CA that signed etcd's \
                        certificate, and that --cluster-cert and --cluster-key give a client \
                        certificate that etcd trusts (an etcd started with --client-cert-auth \
                        turns away a node without one)";
/// The longest a hello that arrived before its req waits for the req's session to appear.
const EARLY_HELLO_GRACE: Duration = Duration::from_secs(10);
/// The longest a req, an update or a hop waits for the nodes to apply it.
const APPLY_WAIT: Duration = Duration::from_secs(10);
/// The longest a release waits for the nodes to close their listeners.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What a node of a pool needs to know at start.
pub(crate) struct PoolSetup {
    pub(crate) cluster: ClusterOptions,
    pub(crate) listener_ip: IpAddr,
    pub(crate) port_range: RangeInclusive<u16>,
    /// Where its control service listens, registered for operators.
    pub(crate) control: SocketAddr,
    pub(crate) hello_timeout: Duration,
    pub(crate) rates: RateOptions,
    pub(crate) listener_allow_from: Vec<IpNet>,
    pub(crate) policy: Arc<TargetPolicy>,
    pub(crate) capacity: Arc<Capacity>,
    /// What one identity may hold over the whole pool.
    pub(crate) quotas: Quotas,
    /// How long sessions live and may sit unused.
    pub(crate) lifetimes: Lifetimes,
}

/// This node's view of the pool, and its calls.
pub(crate) struct Pool {
    registry: Arc<Registry>,
    membership: Membership,
    node: String,
    placement: Placement,
    hello_timeout: Duration,
    rates: RateOptions,
    listener_allow_from: Vec<IpNet>,
    shares: shares::Shares,
    placing: Mutex<open::Placing>,
    /// Hellos waiting for their req's session to appear, by account.
    early_hellos: Mutex<HashMap<Account, usize>>,
    quotas: Quotas,
    lifetimes: Lifetimes,
    /// Sessions this node released by expiry since it started.
    expired: Expirations,
    /// Background duties that failed (etcd out of reach), logged at most every few seconds.
    failed_duties: Mutex<Throttle>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    /// Joins the pool: reads the registry, registers this node (waiting for a previous run's
    /// registration to expire), and takes back the listeners the registry places here.
    pub(crate) async fn join(setup: PoolSetup) -> anyhow::Result<Arc<Pool>> {
        let cluster = &setup.cluster;
        let etcd = cluster.etcd()?;
        let registry = Registry::open(etcd, Keys::new(&cluster.pool))
            .await
            .with_context(|| {
                let tls = match cluster.tls {
                    Some(_) => TLS_HINT,
                    None => "",
                };
                format!(
                    "could not read the pool registry (etcd at {}): check --cluster and that \
                     etcd runs{tls}",
                    cluster.urls.join(",")
                )
            })?;
        let info = NodeInfo {
            listener_ip: setup.listener_ip,
            first_port: *setup.port_range.start(),
            last_port: *setup.port_range.end(),
            control: setup.control.to_string(),
            bandwidth_kbps: setup.rates.bandwidth.map(|b| b.bits_per_sec() / 1000),
            lease: 0,
            joined_unix: open::unix_now(),
        };
        let names = (cluster.pool.as_str(), cluster.node.as_str());
        let membership = Membership::new(registry.clone(), names, info, cluster.lease);
        let pool = Arc::new(Pool {
            shares: shares::Shares::new(&setup, &cluster.node),
            registry: registry.clone(),
            membership,
            node: cluster.node.clone(),
            placement: cluster.placement,
            hello_timeout: setup.hello_timeout,
            rates: setup.rates,
            listener_allow_from: setup.listener_allow_from,
            placing: Mutex::new(open::Placing::default()),
            early_hellos: Mutex::new(HashMap::new()),
            quotas: setup.quotas,
            lifetimes: setup.lifetimes,
            expired: Expirations::default(),
            failed_duties: Mutex::default(),
            tasks: Mutex::new(Vec::new()),
        });
        pool.tasks().push(tokio::spawn(registry.follow()));
        // A previous run's registration lasts one lease; a live node of this name, longer.
        let wait = pool.membership.ttl() * 3 + Duration::from_secs(1);
        pool.membership.join(wait).await?;
        pool.shares.apply_changes(&pool).await;
        let keeper = tokio::spawn(shares::keep(Arc::downgrade(&pool)));
        let guard = tokio::spawn(shares::rejoin_when_lost(Arc::downgrade(&pool)));
        pool.tasks().extend([keeper, guard]);
        if let Some(signals) = DrainSignals::hear() {
            let drains = tokio::spawn(signals.drain(Arc::downgrade(&pool)));
            pool.tasks().push(drains);
        }
        tracing::info!(node = %pool.node, pool = %cluster.pool, cluster = %cluster.urls.join(","),
            lease = pool.membership.lease(), "joined the pool");
        Ok(pool)
    }

    /// Logs a background duty that failed, as `what` says, unless such a line went out within
    /// [`crate::logging::THROTTLE_INTERVAL`]: an etcd outage must not become a line per duty
    /// per tick.
    fn duty_failed(&self, what: impl FnOnce() -> String) {
        let due = self
            .failed_duties
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count();
        if let Some(failures) = due {
            tracing::warn!(
                failures,
                "{} ({failures} failed duties since the last such line)",
                what()
            );
        }
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keys(&self) -> &Keys {
        &self.registry.keys
    }

    /// Delivers a hello to its session wherever it was opened, waiting briefly for a session
    /// whose req has not been written yet. Returns the session's listeners.
    pub(crate) async fn hello(
        &self,
        uid: &str,
        prod_listeners: Vec<HostPort>,
        caller: &Caller,
    ) -> Result<Vec<String>, Error> {
        let mut early = None;
        let grace = Instant::now() + EARLY_HELLO_GRACE.min(self.hello_timeout);
        // Once the mirror has the session, it is read there (a swap from a stale copy fails,
        // and etcd is read next).
        let mut from_mirror = false;
        loop {
            let current = self.latest(uid, std::mem::take(&mut from_mirror)).await;
            let Some(current) = current? else {
                if early.is_none() {
                    early = Some(self.early_hello(caller.account())?);
                }
                let seen = (self.registry)
                    .until(grace, |m| m.sessions.get(uid).map(drop))
                    .await;
                seen.ok_or_else(|| Error::HelloWithoutReq(uid.to_string()))?;
                from_mirror = true;
                continue;
            };
            if !current.value.awaiting_hello {
                // Confirmed in etcd: the mirror may hold an earlier session of this uid.
                match self.fetch(uid).await? {
                    Some(now) if now.value.awaiting_hello => continue,
                    _ => return Err(Error::HelloAlreadyReceived(uid.to_string())),
                }
            }
            let mut record = current.value.clone();
            record.awaiting_hello = false;
            record.session.hello_unix_ms = Some(unix_ms(SystemTime::now()));
            record.session.prod_listeners = prod_listeners.clone();
            if self.swap(uid, &current, &record).await?.is_some() {
                return Ok(listeners(&record));
            }
        }
    }

    /// Holds a place among the hellos waiting for their req, as one of `account`'s share.
    fn early_hello(&self, account: Account) -> Result<EarlyHello<'_>, Error> {
        let mut waiting = self.lock_early();
        if waiting.values().sum::<usize>() >= MAX_EARLY_HELLOS {
            return Err(Error::EarlyHellosFull(MAX_EARLY_HELLOS));
        }
        let mine = waiting.entry(account.clone()).or_default();
        if *mine >= MAX_EARLY_HELLOS_PER_ACCOUNT {
            return Err(Error::EarlyHellosShareFull(MAX_EARLY_HELLOS_PER_ACCOUNT));
        }
        *mine += 1;
        Ok(EarlyHello {
            pool: self,
            account,
        })
    }

    fn lock_early(&self) -> MutexGuard<'_, HashMap<Account, usize>> {
        self.early_hellos.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `uid` may be updated now, checked before its targets are resolved.
    pub(crate) async fn check_update(&self, uid: &str, caller: &Caller) -> Result<(), Error> {
        let current = self.fetch(uid).await?;
        let current = current.ok_or_else(|| Error::NotFound(uid.to_string()))?;
        updatable(uid, &current.value, caller)
    }

    /// Sets the relay targets of the session on every node; with a `dialer`, a CONS session
    /// reaches them over the encrypted hop.
    pub(crate) async fn update(
        &self,
        uid: &str,
        targets: Vec<HostPort>,
        dialer: Option<Arc<HopDialer>>,
        caller: &Caller,
    ) -> Result<Relaying, Error> {
        let dial = dialer.as_deref().map(dial_record);
        let changed = self
            .change(uid, |record| {
                updatable(uid, record, caller)?;
                if let Some(dial) = &dial {
                    require_role(uid, record, Role::Cons)?;
                    record.session.hop = dial.clone();
                }
                record.session.targets = targets.clone();
                record.session.updated_unix_ms = Some(unix_ms(SystemTime::now()));
                Ok(())
            })
            .await?;
        self.until_applied(uid, changed.mod_revision).await;
        let record = &changed.value;
        Ok(Relaying {
            listeners: listeners(record),
            targets: record.session.targets.clone(),
            encrypted_hop: record.session.hop != HopRecord::Plain,
        })
    }

    /// Arms the hop of a PROD session on every node (one identity for all of them) and returns
    /// its credential; with `plaintext`, makes its listeners relay in clear.
    pub(crate) async fn arm_hop(
        &self,
        uid: &str,
        plaintext: bool,
        caller: &Caller,
    ) -> Result<Option<HopCredential>, Error> {
        let fresh = match plaintext {
            true => None,
            false => Some(HopIdentity::generate().map_err(|e| Error::HopSetup(e.to_string()))?),
        };
        let changed = self
            .change(uid, |record| {
                let session = &record.session;
                if !caller.is_owner(&session.owner) {
                    return Err(Error::NotOwner(uid.to_string()));
                }
                if session.owner.is_none() && caller.address != session.opened_from {
                    return Err(Error::HopFromElsewhere(uid.to_string()));
                }
                require_role(uid, record, Role::Prod)?;
                let session = &mut record.session;
                match &fresh {
                    None => session.hop = HopRecord::Plain,
                    Some(fresh) => {
                        // The first identity armed is kept: every node and every ask get it.
                        session
                            .identity
                            .get_or_insert_with(|| identity_record(fresh));
                        session.hop = HopRecord::Admit;
                    }
                }
                Ok(())
            })
            .await?;
        self.until_applied(uid, changed.mod_revision).await;
        let (identity, _) = hop_of(&changed.value.session).map_err(Error::HopSetup)?;
        Ok(match plaintext {
            true => None,
            false => identity.map(|i| i.credential().clone()),
        })
    }

    /// Releases the session on every node: its record, its ports and its count go in one
    /// transaction; each node then closes its listeners and connections.
    pub(crate) async fn release(&self, uid: &str, caller: &Caller) -> Result<SessionView, Error> {
        let view = self.view(uid, caller).await?;
        self.remove(uid, |record| match oversees(caller, &record.value) {
            true => Ok(()),
            false => Err(Error::NotOwner(uid.to_string())),
        })
        .await?;
        let deadline = Instant::now() + CLOSE_WAIT;
        let closed = (self.registry)
            .until(deadline, |m| (!m.shares.contains_key(uid)).then_some(()))
            .await;
        if closed.is_none() {
            tracing::warn!(
                uid,
                "released, but not every node has closed its listeners yet"
            );
        }
        Ok(view)
    }

    /// Waits (at most [`APPLY_WAIT`]) until every live node holding a share of `uid` has
    /// applied its record as of `revision`, so that the reply's promise holds on all of them.
    async fn until_applied(&self, uid: &str, revision: i64) {
        let deadline = Instant::now() + APPLY_WAIT;
        let applied = self.registry.until(deadline, |m| {
            let record = m.sessions.get(uid)?;
            let shares = m.shares.get(uid);
            let done = (record.value.node_names().iter())
                .filter(|node| m.nodes.contains_key(*node))
                .all(|node| {
                    shares
                        .and_then(|s| s.get(node))
                        .is_some_and(|s| s.applied >= revision)
                });
            (done || record.mod_revision > revision).then_some(())
        });
        if applied.await.is_none() {
            tracing::warn!(uid, revision, "not every node applied the change in time");
        }
    }

    /// The sessions' totals of this node's shares, for its metrics.
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = self.shares.totals();
        totals.early_hellos = self.lock_early().values().sum();
        totals.expired = self.expired.counts();
        totals
    }

    /// Stops this node's relays and leaves the pool: the sessions stay in the registry, with
    /// this node's listeners shown lost until it joins again.
    pub(crate) async fn stop_all(&self) -> usize {
        for task in self.tasks().drain(..) {
            task.abort();
        }
        let stopped = self.shares.close_all().await;
        self.membership.leave().await;
        stopped
    }
}

/// SIGUSR1 drains this node and SIGUSR2 undoes it, as `scistream server drain [--undo]`
/// would, through the node's own connection to etcd.
struct DrainSignals {
    drain: Signal,
    undo: Signal,
}

impl DrainSignals {
    /// Handles the two signals from now on (before the server says it started: their default
    /// action would end it); None if it cannot.
    fn hear() -> Option<DrainSignals> {
        let hear = |kind| {
            signal(kind).inspect_err(|e| {
                let fallback = "drain this node with scistream server drain";
                tracing::warn!("could not handle SIGUSR1 and SIGUSR2 ({e}): {fallback}");
            })
        };
        let drain = hear(SignalKind::user_defined1()).ok()?;
        let undo = hear(SignalKind::user_defined2()).ok()?;
        Some(DrainSignals { drain, undo })
    }

    async fn drain(mut self, pool: Weak<Pool>) {
        loop {
            let undo = tokio::select! {
                Some(()) = self.drain.recv() => false,
                Some(()) = self.undo.recv() => true,
                else => return,
            };
            let Some(pool) = pool.upgrade() else { return };
            let (etcd, node) = (&pool.registry.etcd, &pool.node);
            let what = match undo {
                false => {
                    "this node drains (SIGUSR1): no new session is placed on it; its \
                          sessions run on. SIGUSR2 undoes it"
                }
                true => "this node takes new sessions again (SIGUSR2)",
            };
            match crate::cluster::drain(etcd, pool.keys(), node, undo).await {
                Ok(drained) => tracing::info!(event = "drain", %node, undo,
                    sessions = drained.sessions, "{what}"),
                Err(e) => tracing::warn!(%node, undo, "could not mark this node in etcd: {e}; \
                    send the signal again, or use scistream server drain"),
            }
        }
    }
}

/// A hello counted among those waiting for their req until dropped.
struct EarlyHello<'a> {
    pool: &'a Pool,
    account: Account,
}

impl Drop for EarlyHello<'_> {
    fn drop(&mut self) {
        let mut waiting = self.pool.lock_early();
        if let Some(count) = waiting.get_mut(&self.account) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                waiting.remove(&self.account);
            }
        }
    }
}

/// The listeners of a session, as replies give them.
fn listeners(record: &crate::cluster::PoolRecord) -> Vec<String> {
    record
        .session
        .listeners
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// May list, query and release the session.
fn oversees(caller: &Caller, record: &crate::cluster::PoolRecord) -> bool {
    caller.admin || caller.is_owner(&record.session.owner)
}

/// The session may be updated by `caller` now: its owner, past its hello.
fn updatable(uid: &str, record: &crate::cluster::PoolRecord, caller: &Caller) -> Result<(), Error> {
    if !caller.is_owner(&record.session.owner) {
        return Err(Error::NotOwner(uid.to_string()));
    }
    if record.awaiting_hello {
        return Err(Error::AwaitingHello(uid.to_string()));
    }
    Ok(())
}

fn require_role(uid: &str, record: &crate::cluster::PoolRecord, role: Role) -> Result<(), Error> {
    match record.session.role == role {
        true => Ok(()),
        false => Err(Error::WrongRole {
            uid: uid.to_string(),
            role: record.session.role.as_str(),
            wanted: role.as_str(),
        }),
    }
}

/// What a pool's held counter is kept under for `caller`.
fn account_key(caller: &Caller) -> String {
    match caller.account() {
        Account::Identity(sub) => format!("id:{sub}"),
        Account::Network(ip) => format!("net:{ip}"),
        Account::Unknown => "unknown".into(),
    }
}

/// What an account holds after a session of `listeners` opens (`sign` 1) or goes (-1).
fn counted(held: Held, listeners: usize, opening: bool) -> Held {
    match opening {
        true => Held {
            sessions: held.sessions + 1,
            listeners: held.listeners + listeners,
        },
        false => Held {
            sessions: held.sessions.saturating_sub(1),
            listeners: held.listeners.saturating_sub(listeners),
        },
    }
}
