//! Opening a session in the pool: placement over the live nodes, the one transaction that
//! writes the session with its ports and its account's count (so that two nodes never give
//! away the same port or the last slot of a quota), then the wait for every node to bind its
//! share and for the hello.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::records::{json, remove, unreachable};
use super::{account_key, counted, listeners, Pool, APPLY_WAIT};
use crate::address::HostPort;
use crate::cluster::{
    rate_share, spread, Candidate, Held, Mirror, Placed, Placement, PoolRecord, Registry,
    Shortfall, Versioned,
};
use crate::etcd::Txn;
use crate::server::bandwidth::{unreservable, RatePolicy};
use crate::server::call::Caller;
use crate::server::error::Error;
use crate::server::lifetimes::{later, unix_ms};
use crate::server::quotas::check_pooled;
use crate::server::sessions::NewSession;
use crate::session::Kbps;
use crate::store::{HopRecord, SessionRecord};

/// The most listeners one session of a pool may have: its transaction holds a compare and a
/// write per listener, and etcd takes at most 128 of each in one.
pub(crate) const MAX_POOL_LISTENERS: usize = 120;
/// How often a req places its session again after a node could not bind a port.
const PLACEMENTS: usize = 3;
/// How long a port that a node could not bind is passed over.
const BUSY_FOR: Duration = Duration::from_secs(60);
/// How long a req keeps trying while other reqs take the ports it picked.
const CONTENTION_WAIT: Duration = Duration::from_secs(10);

/// Where the next placement starts on each node, and ports found busy.
#[derive(Default)]
pub(super) struct Placing {
    /// The last port given out on each node: the next starts after it.
    cursor: HashMap<String, u16>,
    /// Ports a node could not bind (another program holds them), passed over for a while.
    busy: HashMap<(String, u16), Instant>,
}

/// What a placement relies on, read from the mirror.
struct Plan {
    placed: Placed,
    /// The lease of each node placed on.
    leases: Vec<(String, i64)>,
    held: (Held, i64),
    /// Under `reserve`: what the session takes of each node's bandwidth (kb/s), and what the
    /// node's sessions hold with it, with the revision that count had.
    reserved: Vec<Reserved>,
}

struct Reserved {
    node: String,
    kbps: u64,
    total: u64,
    revision: i64,
}

/// Why a written session's shares are not all bound.
enum Unbound {
    /// Released (or replaced) before they were.
    Released,
    /// These nodes could not bind these ports.
    Busy(Vec<(String, u16)>),
    /// These nodes did not report in time.
    Silent(Vec<String>),
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Pool {
    /// Opens the session: places and writes it, waits for every node to bind its share, then
    /// for its hello (at any node). Returns (listeners, prod_listeners).
    pub(crate) async fn create(
        &self,
        asked: NewSession,
        caller: &Caller,
    ) -> Result<(Vec<String>, Vec<HostPort>), Error> {
        if asked.num_conn > MAX_POOL_LISTENERS {
            return Err(Error::InvalidArgument(format!(
                "num_conn {} is more than a session of a pool may have: at most \
                 {MAX_POOL_LISTENERS}",
                asked.num_conn
            )));
        }
        if self.rates.policy == RatePolicy::Reserve && asked.rate <= 0 {
            return Err(unreservable());
        }
        let deadline = Instant::now() + self.hello_timeout;
        let uid = &asked.uid;
        let mut placements = 0;
        let (written, mut abandon) = loop {
            let written = self.write_session(&asked, caller).await?;
            let mut abandon = Abandon {
                registry: self.registry.clone(),
                uid: uid.clone(),
                created: Some(written.create_revision),
            };
            let unbound = match self.until_bound(uid, &written).await {
                Ok(()) => break (written, abandon),
                Err(unbound) => unbound,
            };
            // Gone before the next placement, or before the reply.
            abandon.remove().await;
            match unbound {
                Unbound::Busy(ports) if placements + 1 < PLACEMENTS => {
                    self.pass_over(ports);
                    placements += 1;
                }
                unbound => return Err(self.unbound(uid, unbound)),
            }
        };
        let created = written.create_revision;
        let hello = self
            .registry
            .until(deadline, |m| match m.sessions.get(uid) {
                _ if m.revision < created => None,
                Some(now) if now.create_revision == created => (!now.value.awaiting_hello)
                    .then(|| Ok(now.value.session.prod_listeners.clone())),
                _ => Some(Err(Error::ReleasedBeforeHello(uid.clone()))),
            });
        let outcome = hello.await;
        match outcome {
            Some(Ok(prod_listeners)) => {
                abandon.created = None;
                Ok((listeners(&written.value), prod_listeners))
            }
            Some(Err(released)) => {
                abandon.created = None;
                Err(released)
            }
            None => {
                abandon.remove().await;
                Err(Error::HelloTimeout)
            }
        }
    }

    fn unbound(&self, uid: &str, unbound: Unbound) -> Error {
        match unbound {
            Unbound::Released => Error::ReleasedBeforeHello(uid.to_string()),
            Unbound::Busy(ports) => Error::PoolFull(format!(
                "other programs hold ports the pool gave this session ({}): free them, or \
                 narrow those nodes' --port-range",
                shown(&ports)
            )),
            Unbound::Silent(nodes) => Error::Cluster(format!(
                "node {} did not open its listeners within {APPLY_WAIT:?}: is it cut off from \
                 etcd? Retry: a node that stops renewing its lease leaves the pool",
                nodes.join(", node ")
            )),
        }
    }

    fn pass_over(&self, ports: Vec<(String, u16)>) {
        let mut placing = self.lock_placing();
        let until = Instant::now() + BUSY_FOR;
        placing.busy.retain(|_, until| *until > Instant::now());
        placing.busy.extend(ports.into_iter().map(|p| (p, until)));
    }

    fn lock_placing(&self) -> std::sync::MutexGuard<'_, Placing> {
        self.placing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Places the session and writes it with its ports and its account's count, trying again
    /// while other reqs take what the placement picked.
    async fn write_session(
        &self,
        asked: &NewSession,
        caller: &Caller,
    ) -> Result<Versioned<PoolRecord>, Error> {
        let account = account_key(caller);
        let keys = self.keys();
        let key = keys.session(&asked.uid);
        let deadline = Instant::now() + CONTENTION_WAIT;
        self.registry.see_members().await.map_err(unreachable)?;
        loop {
            let plan = self.plan(asked, &account)?;
            // Checked against the count this transaction compares: two nodes can never both
            // give away an account's last slot.
            let held = (plan.held.0.sessions, plan.held.0.listeners);
            let rate = Kbps(kbps_of(asked.rate));
            let rate = (self.rates.policy != RatePolicy::Ignore).then_some(rate);
            check_pooled(&self.quotas, caller, held, asked.num_conn, rate)?;
            let record = self.record_for(asked, caller, &plan, account.clone());
            let committed = (self.registry.etcd)
                .txn(self.opening(&record, &plan))
                .await
                .map_err(unreachable)?;
            if committed.succeeded {
                self.moved_cursors(&plan.placed);
                return Ok(Versioned {
                    value: record,
                    mod_revision: committed.revision,
                    create_revision: committed.revision,
                });
            }
            let revision = committed.revision;
            if committed.ranges().iter().any(|kvs| !kvs.is_empty()) {
                return Err(Error::DuplicateUid(asked.uid.clone()));
            }
            if Instant::now() > deadline {
                return Err(Error::Cluster(format!(
                    "other reqs kept taking the ports picked for {key}; retry"
                )));
            }
            // What the plan relied on changed: plan again once the mirror has seen it.
            let seen = Instant::now() + Duration::from_secs(1);
            (self.registry)
                .until(seen, |m| (m.revision >= revision).then_some(()))
                .await;
        }
    }

    /// Where the session's listeners go now, from what this node knows of the pool.
    fn plan(&self, asked: &NewSession, account: &str) -> Result<Plan, Error> {
        let placing = self.lock_placing();
        let mirror = self.registry.mirror();
        if mirror.sessions.contains_key(&asked.uid) {
            return Err(Error::DuplicateUid(asked.uid.clone()));
        }
        let busy = |node: &str, port: u16| placing.busy.contains_key(&(node.to_string(), port));
        let mut candidates = mirror.candidates(&busy, &placing.cursor);
        if self.placement == Placement::Local {
            candidates.retain(|c| c.name == self.node);
            if mirror.drains.contains(&self.node) {
                return Err(Error::PoolFull(format!(
                    "this node ({}) is draining and places sessions only on itself \
                     (--placement local): use another node of the pool",
                    self.node
                )));
            }
        }
        let placed = self.place(asked, candidates, &mirror)?;
        let leases = (placed.nodes.iter())
            .filter_map(|n| Some((n.clone(), mirror.nodes.get(n)?.lease)))
            .collect::<HashMap<_, _>>()
            .into_iter()
            .collect();
        let held = Mirror::count(&mirror.accounts, account);
        let reserved = match self.rates.policy {
            RatePolicy::Reserve => (placed.nodes.iter().collect::<BTreeSet<_>>().into_iter())
                .map(|node| {
                    let (total, revision) = Mirror::count(&mirror.bandwidth, node);
                    let kbps = rate_share(kbps_of(asked.rate), &placed.nodes, node);
                    let node = node.clone();
                    Reserved {
                        node,
                        kbps,
                        total: total + kbps,
                        revision,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Plan {
            placed,
            leases,
            held,
            reserved,
        })
    }

    /// Spreads the session over `candidates`; under `reserve`, over those whose bandwidth has
    /// room for their part of its rate (a node without room is left out and the rest spread
    /// again, so that its part goes to the others).
    fn place(
        &self,
        asked: &NewSession,
        mut candidates: Vec<Candidate>,
        mirror: &Mirror,
    ) -> Result<Placed, Error> {
        let rate = kbps_of(asked.rate);
        let free = |node: &str| {
            let bandwidth = mirror.nodes.get(node).and_then(|n| n.bandwidth_kbps);
            let held = Mirror::count(&mirror.bandwidth, node).0;
            bandwidth.unwrap_or_default().saturating_sub(held)
        };
        let most_free = (candidates.iter())
            .map(|c| free(&c.name))
            .max()
            .unwrap_or(0);
        let mut left_out = false;
        loop {
            let placed = match spread(candidates.clone(), asked.num_conn) {
                Ok(placed) => placed,
                Err(_) if left_out => return Err(no_bandwidth(rate, most_free)),
                Err(short) => return Err(pool_full(short)),
            };
            if self.rates.policy != RatePolicy::Reserve {
                return Ok(placed);
            }
            let full: Vec<&String> = (placed.nodes.iter())
                .filter(|node| rate_share(rate, &placed.nodes, node) > free(node))
                .collect();
            if full.is_empty() {
                return Ok(placed);
            }
            candidates.retain(|c| !full.contains(&&c.name));
            left_out = true;
        }
    }

    fn record_for(
        &self,
        asked: &NewSession,
        caller: &Caller,
        plan: &Plan,
        account: String,
    ) -> PoolRecord {
        let placed = &plan.placed;
        let allow_from = match asked.allow_from.is_empty() {
            true => self.listener_allow_from.clone(),
            false => asked.allow_from.clone(),
        };
        let now = SystemTime::now();
        let session = SessionRecord {
            uid: asked.uid.clone(),
            role: asked.role,
            owner: caller.sub.clone(),
            owner_name: caller.username.clone().or_else(|| caller.sub.clone()),
            opened_from: caller.address,
            rate: asked.rate,
            allow_from,
            listeners: placed.listeners.clone(),
            prod_listeners: Vec::new(),
            targets: Vec::new(),
            hop: HopRecord::Plain,
            identity: None,
            created_unix: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            expires_unix_ms: Some(unix_ms(later(now, self.lifetimes.granted(asked.lifetime)))),
            hello_unix_ms: None,
            updated_unix_ms: None,
            stats: Default::default(),
            generation: 0,
        };
        PoolRecord {
            session,
            nodes: placed.nodes.clone(),
            awaiting_hello: true,
            hello_deadline_unix: unix_now() + self.hello_timeout.as_secs(),
            account,
            connection_quota: Some(self.quotas.of(caller).quota.connections),
            reserved: (plan.reserved.iter())
                .map(|r| (r.node.clone(), r.kbps))
                .collect(),
        }
    }

    /// The transaction that opens `record`: it holds only if the uid is new, every port is
    /// free, every node is still registered under the lease the plan saw, and the account
    /// holds what the quota check saw.
    fn opening(&self, record: &PoolRecord, plan: &Plan) -> Txn {
        let keys = self.keys();
        let uid = &record.session.uid;
        let key = keys.session(uid);
        let account = keys.account(&record.account);
        let mut txn = Txn::default().absent(&key);
        let ports: Vec<(String, i64)> = (record.nodes.iter().zip(&record.session.listeners))
            .map(|(node, addr)| (keys.port(node, addr.port()), lease_of(plan, node)))
            .collect();
        for (port, _) in &ports {
            txn = txn.absent(port);
        }
        for (node, lease) in &plan.leases {
            txn = txn.leased(&keys.node(node), *lease);
        }
        txn = (txn.unchanged_since(&account, plan.held.1))
            .put(&key, json(record), 0)
            .put(&account, json(&counted(plan.held.0, ports.len(), true)), 0);
        for (port, lease) in ports {
            txn = txn.put(&port, uid.as_bytes().to_vec(), lease);
        }
        for reserved in &plan.reserved {
            let key = keys.bandwidth(&reserved.node);
            txn =
                (txn.unchanged_since(&key, reserved.revision)).put(&key, json(&reserved.total), 0);
        }
        txn.or_get(&key)
    }

    fn moved_cursors(&self, placed: &Placed) {
        let mut placing = self.lock_placing();
        for (node, addr) in placed.nodes.iter().zip(&placed.listeners) {
            placing.cursor.insert(node.clone(), addr.port());
        }
    }

    /// Waits until every node the session is placed on has bound its share.
    async fn until_bound(&self, uid: &str, written: &Versioned<PoolRecord>) -> Result<(), Unbound> {
        let deadline = Instant::now() + APPLY_WAIT;
        let nodes = written.value.node_names();
        let created = written.create_revision;
        let bound = self.registry.until(deadline, |m| {
            // The write returns before the watch brings it here.
            if m.revision < created {
                return None;
            }
            match m.sessions.get(uid) {
                Some(now) if now.create_revision == created => {}
                _ => return Some(Err(Unbound::Released)),
            }
            let shares = m.shares.get(uid)?;
            let mut busy = Vec::new();
            for node in &nodes {
                let share = shares.get(node).filter(|s| s.applied >= created)?;
                busy.extend(share.lost.iter().map(|a| (node.clone(), a.port())));
            }
            Some(match busy.is_empty() {
                true => Ok(()),
                false => Err(Unbound::Busy(busy)),
            })
        });
        match bound.await {
            Some(outcome) => outcome,
            None => {
                let mirror = self.registry.mirror();
                let shares = mirror.shares.get(uid);
                let silent = nodes
                    .into_iter()
                    .filter(|n| !shares.is_some_and(|s| s.contains_key(n)))
                    .collect();
                Err(Unbound::Silent(silent))
            }
        }
    }
}

fn lease_of(plan: &Plan, node: &str) -> i64 {
    let lease = plan.leases.iter().find(|(n, _)| n == node);
    lease.map_or(0, |(_, lease)| *lease)
}

/// The rate a req asks for, in kb/s (0: none).
fn kbps_of(rate: i32) -> u64 {
    u64::try_from(rate).unwrap_or_default()
}

/// Why no placement of a session of `rate` kb/s fits the nodes' bandwidth (`reserve`).
fn no_bandwidth(rate: u64, most_free: u64) -> Error {
    Error::PoolFull(format!(
        "the rate asked for, {}, does not fit what the pool's nodes have free of their \
         --bandwidth (--rate-policy reserve; the most one node has free is {}): ask for less \
         (--rate), spread it over more connections (--num-conn) so that more nodes share it, \
         or retry once sessions are released",
        Kbps(rate),
        Kbps(most_free)
    ))
}

fn pool_full(short: Shortfall) -> Error {
    Error::PoolFull(match short.nodes {
        0 => "no node of the pool takes sessions now (each is draining or down): start or \
              undrain a node"
            .to_string(),
        nodes => format!(
            "the pool has {} free ports on its {nodes} live nodes, {} wanted: release \
             sessions, add nodes, or widen their --port-range",
            short.free, short.wanted
        ),
    })
}

fn shown(ports: &[(String, u16)]) -> String {
    let shown: Vec<String> = ports
        .iter()
        .map(|(n, p)| format!("port {p} on node {n}"))
        .collect();
    shown.join(", ")
}

/// A written session whose req has not answered: removed, unless it got its hello or was
/// released, when the req goes (the client went away, or it failed).
struct Abandon {
    registry: Arc<Registry>,
    uid: String,
    /// The session's creation revision while it is still to be removed.
    created: Option<i64>,
}

impl Abandon {
    /// Removes it now.
    async fn remove(&mut self) {
        if let Some(created) = self.created.take() {
            remove_waiting(&self.registry, &self.uid, created).await;
        }
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some(created) = self.created.take() else {
            return;
        };
        let (registry, uid) = (self.registry.clone(), std::mem::take(&mut self.uid));
        tokio::spawn(async move { remove_waiting(&registry, &uid, created).await });
    }
}

/// Removes session `uid` if it is still the one created at `created` and still waits for its
/// hello; says so in the log.
pub(super) async fn remove_waiting(registry: &Registry, uid: &str, created: i64) {
    let waiting =
        |r: &Versioned<PoolRecord>| match r.create_revision == created && r.value.awaiting_hello {
            true => Ok(()),
            false => Err(Error::NotFound(uid.to_string())),
        };
    match remove(registry, uid, waiting).await {
        Ok(_) => tracing::info!(
            event = "abandoned",
            uid,
            "the session's req ended before its hello: session removed, ports freed"
        ),
        Err(Error::NotFound(_)) => {}
        Err(e) => tracing::warn!(
            uid,
            "could not remove a session its req left: {e}; \
            a node removes it once its hello deadline is past"
        ),
    }
}
