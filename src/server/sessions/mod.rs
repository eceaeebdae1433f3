//! The session table: one entry per uid, the req/hello rendezvous, and port bookkeeping.
//!
//! All state is per uid behind one short-held lock (never held across an await), so concurrent
//! sessions never see each other's replies. A session belongs to the identity that sent its req:
//! only that [`Caller`] steers it; admin identities may also look at and release it. With
//! authentication off, its hop is armed only from the address that sent its req.
//!
//! A req is checked against its caller's quotas ([`super::quotas`]) in the same locked step
//! that reserves its ports. Every session leaves for good (the table, then the store) through
//! [`Sessions::end`]: a release, its expiry ([`Sessions::expire_due`], by
//! [`super::lifetimes`]), and a req whose hello never came. A shutdown only stops the relays
//! ([`Sessions::stop_all`]): the sessions stay stored, and the next start takes them back with
//! their lifetimes and their owners' quota places ([`restore`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use tokio::sync::oneshot;

use super::bandwidth::{RateOptions, RatePolicy, Reservations};
use super::call::{Account, Caller};
use super::error::Error;
use super::lifetimes::{Clocks, Expirations, Lifetimes};
use super::ports::PortPool;
use super::quotas::{Holdings, Quotas};
use crate::address::{self, HostPort};
use crate::relay::{
    Capacity, HopDialer, HopIdentity, HopMode, RelayStats, SessionRelay, TargetPolicy, Terms,
};
use crate::session::{Expires, Expiry, Kbps, Role, SessionView, State};
use crate::store::{Change, Durable, Store, StoreError};
use crate::tls::hop::HopCredential;

mod handover;
mod restore;

pub(crate) use handover::{Adopted, Frozen};
pub(crate) use restore::{dial_record, hop_of, identity_record, Restored};

/// The longest a hello that arrived before its req waits for that req (never past the hello
/// timeout).
const EARLY_HELLO_GRACE: Duration = Duration::from_secs(10);

/// The most hellos that may wait for their req at once: each holds a call and its lists.
pub(crate) const MAX_EARLY_HELLOS: usize = 1024;
/// The most of them one [`Account`] may have waiting, so that one user (or one address with
/// authentication off) cannot keep the table full for everyone else.
pub(crate) const MAX_EARLY_HELLOS_PER_ACCOUNT: usize = MAX_EARLY_HELLOS / 16;

/// How often sessions are checked for expiry: how late past its time one may be released.
const EXPIRY_TICK: Duration = Duration::from_millis(500);

/// A validated `req`.
pub(crate) struct NewSession {
    pub(crate) uid: String,
    pub(crate) role: Role,
    pub(crate) num_conn: usize,
    pub(crate) rate: i32,
    /// The networks its listeners admit; empty: the server's default.
    pub(crate) allow_from: Vec<IpNet>,
    /// The lifetime it asks for; None: the server's default.
    pub(crate) lifetime: Option<Duration>,
}

impl Caller {
    /// May update the session: its owner only.
    fn owns(&self, session: &Entry) -> bool {
        self.is_owner(&session.owner)
    }

    /// May list, query and release the session.
    fn oversees(&self, session: &Entry) -> bool {
        self.admin || self.owns(session)
    }

    /// May arm the session's hop (and so learn its credential): its owner; with
    /// authentication off, where everyone owns every session, only from the address that
    /// opened it.
    fn arms_hop(&self, session: &Entry) -> bool {
        self.owns(session) && (session.owner.is_some() || self.address == session.opened_from)
    }
}

/// One session in the table.
struct Entry {
    /// The `sub` of its req's token: see [`Caller::sub`].
    owner: Option<String>,
    /// How `list` and `status` name the owner: its username, else its `sub`.
    owner_name: Option<String>,
    /// The address its req came from.
    opened_from: Option<IpAddr>,
    /// Whose quotas it counts against.
    account: Account,
    /// When it was opened, got its hello and update, and when its lifetime ends (wall clock:
    /// its age and what is left of its lifetime count across restarts).
    clocks: Clocks,
    role: Role,
    rate: i32,
    /// What the server does with `rate`, and what the session holds of a `reserve` server's
    /// bandwidth.
    rate_policy: RatePolicy,
    reserved: Kbps,
    /// The networks its listeners admit; empty: any.
    allow_from: Vec<IpNet>,
    /// Distinguishes this session from a later one that reuses its uid.
    generation: u64,
    listeners: Vec<SocketAddr>,
    /// Those of its listeners that could not be bound again after a restart.
    lost: Vec<SocketAddr>,
    prod_listeners: Vec<HostPort>,
    targets: Vec<HostPort>,
    /// Present while the session's req waits for its hello; told once the hello is durable.
    hello: Option<oneshot::Sender<Result<Vec<HostPort>, StoreError>>>,
    /// PROD: the hop identity, made on the first ask and kept, so every ask gets the same one.
    hop_identity: Option<Arc<HopIdentity>>,
    /// How the relay crosses the hop now (it holds the same).
    hop_mode: HopMode,
    relay: SessionRelay,
}

impl Entry {
    fn set_hop_mode(&mut self, mode: HopMode) {
        self.relay.set_hop_mode(mode.clone());
        self.hop_mode = mode;
    }

    /// The ports its listeners hold in the pool.
    fn ports(&self) -> Vec<u16> {
        let held = self.listeners.iter().filter(|l| !self.lost.contains(l));
        held.map(SocketAddr::port).collect()
    }

    fn listener_names(&self) -> Vec<String> {
        self.listeners.iter().map(ToString::to_string).collect()
    }

    /// When it expires if nothing changes, and why.
    fn expiry(&self, lifetimes: &Lifetimes) -> (SystemTime, Expiry) {
        self.clocks.expiry(self.relay.idle_since(), lifetimes)
    }

    fn view(&self, uid: &str, lifetimes: &Lifetimes) -> SessionView {
        let (expires_at, expires_by) = self.expiry(lifetimes);
        let state = match (&self.hello, self.targets.is_empty()) {
            (Some(_), _) => State::AwaitingHello,
            (None, true) => State::AwaitingUpdate,
            (None, false) => State::Relaying,
        };
        SessionView {
            uid: uid.to_string(),
            role: self.role,
            owner: self.owner_name.clone(),
            rate: self.rate,
            rate_policy: self.rate_policy.as_str().into(),
            throughput: self.relay.throughput(),
            allow_from: self.allow_from.iter().map(ToString::to_string).collect(),
            state,
            listeners: self.listener_names(),
            prod_listeners: address::to_strings(&self.prod_listeners),
            targets: address::to_strings(&self.targets),
            lost_listeners: self.lost.iter().map(ToString::to_string).collect(),
            listener_nodes: Vec::new(),
            age_secs: (self.clocks.created_at.elapsed()).map_or(0, |age| age.as_secs()),
            expires: Some(Expires::new(expires_at, expires_by)),
            stats: self.relay.stats(),
        }
    }
}

/// A session whose update went through.
pub(crate) struct Relaying {
    pub(crate) listeners: Vec<String>,
    pub(crate) targets: Vec<HostPort>,
    /// Whether its connections cross the hop encrypted (set by its hop or its update_hop).
    pub(crate) encrypted_hop: bool,
}

/// A session just entered in the table, waiting for its hello.
struct Registered {
    listeners: Vec<String>,
    generation: u64,
    hello: oneshot::Receiver<Result<Vec<HostPort>, StoreError>>,
}

/// A hello that arrived before its req, woken when the req is registered.
struct EarlyWaiter {
    account: Account,
    req: oneshot::Sender<()>,
}

struct Table {
    sessions: HashMap<String, Entry>,
    /// Hellos that arrived before their req, by uid.
    early_hellos: HashMap<String, Vec<EarlyWaiter>>,
    ports: PortPool,
    generations: u64,
    /// Counters of the sessions no longer in the table (`connections_active` unused).
    released: RelayStats,
    /// What the sessions hold of a `reserve` server's bandwidth.
    reservations: Reservations,
    /// What each account's sessions hold, against its quotas.
    held: Holdings,
    /// Where every change to a session that answered its hello is kept.
    store: Store,
    /// Set while the sessions are handed to a new process: no change may be made.
    frozen: bool,
}

impl Table {
    /// Whether the sessions may change now.
    fn writable(&self) -> Result<(), Error> {
        match self.frozen {
            true => Err(Error::HandingOver),
            false => Ok(()),
        }
    }

    /// Queues the session `uid` as it is now for the store.
    fn persist(&self, uid: &str) -> Durable {
        let record = self.sessions.get(uid).map(|s| Box::new(s.record(uid)));
        match record {
            Some(record) => self.store.submit(Change::Put(record)),
            None => self.store.submit(Change::Remove(uid.to_string())),
        }
    }

    /// Removes a session for good (released): from the table and from the store.
    fn forget(&mut self, uid: &str) -> Option<(Removed, Durable)> {
        let removed = self.remove(uid)?;
        Some((removed, self.store.submit(Change::Remove(uid.to_string()))))
    }

    fn early_hellos(&self) -> usize {
        self.early_hellos.values().map(Vec::len).sum()
    }

    /// Enters a hello of `account` whose req has not arrived yet; the receiver fires when it
    /// does.
    fn wait_for_req(
        &mut self,
        uid: &str,
        account: Account,
    ) -> Result<oneshot::Receiver<()>, Error> {
        self.writable()?;
        if self.early_hellos() >= MAX_EARLY_HELLOS {
            return Err(Error::EarlyHellosFull(MAX_EARLY_HELLOS));
        }
        let waiters = self.early_hellos.values().flatten();
        if waiters.filter(|w| w.account == account).count() >= MAX_EARLY_HELLOS_PER_ACCOUNT {
            return Err(Error::EarlyHellosShareFull(MAX_EARLY_HELLOS_PER_ACCOUNT));
        }
        let (req, woken) = oneshot::channel();
        let waiter = EarlyWaiter { account, req };
        self.early_hellos
            .entry(uid.to_string())
            .or_default()
            .push(waiter);
        Ok(woken)
    }

    /// Forgets the early hellos of `uid` whose callers are gone.
    fn forget_gone_hellos(&mut self, uid: &str) {
        if let Some(waiters) = self.early_hellos.get_mut(uid) {
            waiters.retain(|w| !w.req.is_closed());
            if waiters.is_empty() {
                self.early_hellos.remove(uid);
            }
        }
    }

    /// The session `uid`, if `caller` owns it and it is past its hello.
    fn updatable(&mut self, uid: &str, caller: &Caller) -> Result<&mut Entry, Error> {
        let session = self.session_for(uid, |s| caller.owns(s))?;
        if session.hello.is_some() {
            return Err(Error::AwaitingHello(uid.to_string()));
        }
        Ok(session)
    }

    /// The session `uid`, if `allowed` lets the caller at it.
    fn session_for(
        &mut self,
        uid: &str,
        allowed: impl Fn(&Entry) -> bool,
    ) -> Result<&mut Entry, Error> {
        let session = self
            .sessions
            .get_mut(uid)
            .ok_or_else(|| Error::NotFound(uid.to_string()))?;
        match allowed(session) {
            true => Ok(session),
            false => Err(Error::NotOwner(uid.to_string())),
        }
    }

    /// Removes a session, moving its counters so far into the released totals.
    fn remove(&mut self, uid: &str) -> Option<Removed> {
        let session = self.sessions.remove(uid)?;
        self.reservations.free(session.reserved);
        self.held
            .give_back(&session.account, session.listeners.len());
        let counted = session.relay.stats();
        add_growth(&mut self.released, RelayStats::default(), counted);
        Some(Removed { session, counted })
    }
}

/// A session out of the table whose relay may still be moving bytes. Its counters as of its
/// removal are already in the released totals; [`Sessions::close`] adds what came after.
struct Removed {
    session: Entry,
    counted: RelayStats,
}

/// The whole table at one moment, for the metrics endpoint.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) prod_sessions: usize,
    pub(crate) cons_sessions: usize,
    pub(crate) listeners: usize,
    /// Hellos waiting for their req.
    pub(crate) early_hellos: usize,
    /// Live sessions' counters plus the released ones': bytes and `connections_total` only grow.
    pub(crate) relay: RelayStats,
    /// Sessions released by expiry since the start, by why (in the order of [`Expiry::ALL`]).
    pub(crate) expired: [u64; Expiry::ALL.len()],
}

/// Adds what counters gained between two readings to `total` (all but the live gauge).
pub(crate) fn add_growth(total: &mut RelayStats, from: RelayStats, to: RelayStats) {
    total.bytes_to_target += to.bytes_to_target.saturating_sub(from.bytes_to_target);
    total.bytes_from_target += to.bytes_from_target.saturating_sub(from.bytes_from_target);
    total.connections_total += to.connections_total.saturating_sub(from.connections_total);
}

pub(crate) struct Sessions {
    table: Mutex<Table>,
    hello_timeout: Duration,
    /// Where the sessions' relays may connect.
    policy: Arc<TargetPolicy>,
    /// What the relays of all sessions may hold together.
    capacity: Arc<Capacity>,
    /// What a session's rate means here.
    rates: RateOptions,
    /// Whom the listeners of a session that names no networks admit; empty: anyone.
    listener_allow_from: Vec<IpNet>,
    /// What one account may hold.
    quotas: Quotas,
    /// How long sessions live and may sit unused.
    lifetimes: Lifetimes,
    expired: Expirations,
}

impl Sessions {
    pub(crate) fn new(
        listener_ip: IpAddr,
        port_range: RangeInclusive<u16>,
        hello_timeout: Duration,
        policy: Arc<TargetPolicy>,
        capacity: Arc<Capacity>,
        store: Store,
    ) -> Self {
        let table = Table {
            sessions: HashMap::new(),
            early_hellos: HashMap::new(),
            ports: PortPool::new(listener_ip, port_range),
            generations: 0,
            released: RelayStats::default(),
            reservations: Reservations::default(),
            held: Holdings::default(),
            store,
            frozen: false,
        };
        Sessions {
            table: Mutex::new(table),
            hello_timeout,
            policy,
            capacity,
            rates: RateOptions::default(),
            listener_allow_from: Vec::new(),
            quotas: Quotas::default(),
            lifetimes: Lifetimes::default(),
            expired: Default::default(),
        }
    }

    /// Holds each account to `quotas`, and each session to `lifetimes`.
    pub(crate) fn with_fair_shares(mut self, quotas: Quotas, lifetimes: Lifetimes) -> Self {
        self.quotas = quotas;
        self.lifetimes = lifetimes;
        self
    }

    /// Applies `rates` to every session, and `listener_allow_from` to those that name no
    /// networks of their own.
    pub(crate) fn with_terms(
        mut self,
        rates: RateOptions,
        listener_allow_from: Vec<IpNet>,
    ) -> Self {
        self.lock().reservations = Reservations::new(&rates);
        self.rates = rates;
        self.listener_allow_from = listener_allow_from;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere must not take the whole control plane down with it.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the session, binds its listeners, then waits up to the hello timeout for its hello.
    /// Returns (listeners, prod_listeners). If the caller goes away first, the session is dropped.
    pub(crate) async fn create(
        &self,
        new: NewSession,
        caller: &Caller,
    ) -> Result<(Vec<String>, Vec<HostPort>), Error> {
        let uid = new.uid.clone();
        let Registered {
            listeners,
            generation,
            hello,
        } = self.register(new, caller)?;
        let mut pending = Pending {
            sessions: self,
            uid: &uid,
            generation: Some(generation),
        };
        match tokio::time::timeout(self.hello_timeout, hello).await {
            Ok(Ok(Ok(prod_listeners))) => {
                pending.generation = None;
                Ok((listeners, prod_listeners))
            }
            Ok(Ok(Err(not_kept))) => {
                pending.generation = None;
                if let Some(removed) = self.take(&uid, generation) {
                    self.close(removed).await;
                }
                Err(not_kept.into())
            }
            // Dropped by a release, or by a handover (such sessions are not kept).
            Ok(Err(_)) if self.lock().frozen => Err(Error::HandingOver),
            Ok(Err(_)) => Err(Error::ReleasedBeforeHello(uid.clone())),
            Err(_) => {
                pending.generation = None;
                let _ = self
                    .end(&uid, |s| same_generation(&uid, s, generation))
                    .await;
                Err(Error::HelloTimeout)
            }
        }
    }

    fn register(&self, new: NewSession, caller: &Caller) -> Result<Registered, Error> {
        let mut table = self.lock();
        table.writable()?;
        if table.sessions.contains_key(&new.uid) {
            return Err(Error::DuplicateUid(new.uid));
        }
        let rate = Kbps(u64::try_from(new.rate).unwrap_or_default());
        let allowance = self.quotas.of(caller);
        let asked = (self.rates.policy != RatePolicy::Ignore).then_some(rate);
        table.held.check(caller, &allowance, new.num_conn, asked)?;
        let grant = self.rates.admit(rate, &mut table.reservations)?;
        let bound = table.ports.reserve(new.num_conn).inspect_err(|_| {
            table.reservations.free(grant.reserved);
        })?;
        let quota = table.held.take(caller, &allowance, new.num_conn);
        let listeners: Vec<SocketAddr> = bound.iter().filter_map(|l| l.local_addr().ok()).collect();
        let allow_from = match new.allow_from.is_empty() {
            true => self.listener_allow_from.clone(),
            false => new.allow_from,
        };
        let terms = Terms {
            rate: grant.limit,
            allow_from: allow_from.clone(),
            quota: Some(quota),
        };
        let lifetime = self.lifetimes.granted(new.lifetime);
        let (tx, rx) = oneshot::channel();
        table.generations += 1;
        let session = Entry {
            owner: caller.sub.clone(),
            owner_name: caller.username.clone().or_else(|| caller.sub.clone()),
            opened_from: caller.address,
            account: caller.account(),
            clocks: Clocks::opened(SystemTime::now(), lifetime),
            role: new.role,
            rate: new.rate,
            rate_policy: self.rates.policy,
            reserved: grant.reserved,
            allow_from,
            generation: table.generations,
            listeners: listeners.clone(),
            lost: Vec::new(),
            prod_listeners: Vec::new(),
            targets: Vec::new(),
            hello: Some(tx),
            hop_identity: None,
            hop_mode: HopMode::Plain,
            relay: SessionRelay::with_terms(
                new.uid.clone(),
                bound,
                self.policy.clone(),
                self.capacity.clone(),
                terms,
            ),
        };
        let generation = session.generation;
        for early in table.early_hellos.remove(&new.uid).unwrap_or_default() {
            let _ = early.req.send(());
        }
        table.sessions.insert(new.uid, session);
        Ok(Registered {
            listeners: listeners.iter().map(ToString::to_string).collect(),
            generation,
            hello: rx,
        })
    }

    /// Delivers a hello to its session, waiting briefly for a req that has not arrived yet
    /// (as one of the `caller`'s share of early hellos). Returns the session's listeners.
    pub(crate) async fn hello(
        &self,
        uid: &str,
        prod_listeners: Vec<HostPort>,
        caller: &Caller,
    ) -> Result<Vec<String>, Error> {
        let waiting = {
            let mut table = self.lock();
            match table.sessions.contains_key(uid) {
                true => Err(deliver_hello(&mut table, uid, prod_listeners.clone())),
                false => Ok(table.wait_for_req(uid, caller.account())?),
            }
        };
        let req = match waiting {
            Ok(req) => req,
            Err(delivered) => return delivered?.kept().await,
        };
        let mut early = EarlyHello {
            sessions: self,
            uid,
            req: Some(req),
        };
        early.wait(EARLY_HELLO_GRACE.min(self.hello_timeout)).await;
        drop(early);
        let delivered = {
            let mut table = self.lock();
            match table.sessions.contains_key(uid) {
                true => deliver_hello(&mut table, uid, prod_listeners),
                false => Err(Error::HelloWithoutReq(uid.to_string())),
            }
        };
        delivered?.kept().await
    }

    /// Whether `uid` may be updated now, checked before its targets are resolved.
    pub(crate) fn check_update(&self, uid: &str, caller: &Caller) -> Result<(), Error> {
        self.lock().updatable(uid, caller).map(drop)
    }

    /// Sets the relay targets (listener i -> targets[i % n]). With a `dialer`, a CONS session
    /// reaches them over the encrypted hop; without, it keeps the hop mode it had.
    pub(crate) async fn update(
        &self,
        uid: &str,
        targets: Vec<HostPort>,
        dialer: Option<Arc<HopDialer>>,
        caller: &Caller,
    ) -> Result<Relaying, Error> {
        let (relaying, durable) = {
            let mut table = self.lock();
            table.writable()?;
            let session = table.updatable(uid, caller)?;
            if let Some(dialer) = dialer {
                require_role(uid, session, Role::Cons)?;
                // Before the targets, so that no connection to them goes out in clear.
                session.set_hop_mode(HopMode::Dial(dialer));
            }
            session.relay.set_targets(targets.clone());
            session.targets = targets;
            session.clocks.updated_at = Some(SystemTime::now());
            let relaying = Relaying {
                listeners: session.listener_names(),
                targets: session.targets.clone(),
                encrypted_hop: !matches!(session.hop_mode, HopMode::Plain),
            };
            (relaying, table.persist(uid))
        };
        durable.await?;
        Ok(relaying)
    }

    /// Arms a PROD session's hop (the `hop` call): makes its listeners admit only the CONS
    /// gateway that proves its credential, and returns that credential; with `plaintext`, makes
    /// them relay in clear and returns None. Applies to connections accepted from now on.
    pub(crate) async fn arm_hop(
        &self,
        uid: &str,
        plaintext: bool,
        caller: &Caller,
    ) -> Result<Option<HopCredential>, Error> {
        let mut fresh = None;
        let (credential, durable) = loop {
            let mut table = self.lock();
            table.writable()?;
            let session = table.session_for(uid, |s| caller.owns(s))?;
            if !caller.arms_hop(session) {
                return Err(Error::HopFromElsewhere(uid.to_string()));
            }
            require_role(uid, session, Role::Prod)?;
            let credential = if plaintext {
                session.set_hop_mode(HopMode::Plain);
                None
            } else if let Some(identity) = session.hop_identity.clone().or(fresh.take()) {
                session.hop_identity = Some(identity.clone());
                session.set_hop_mode(HopMode::Admit(identity.clone()));
                Some(identity.credential().clone())
            } else {
                drop(table);
                // Making a key and certificate takes milliseconds: not under the lock every
                // call takes. The loop then checks the session again, and keeps an identity
                // another call made meanwhile.
                let generated = HopIdentity::generate();
                fresh = Some(generated.map_err(|e| Error::HopSetup(e.to_string()))?);
                continue;
            };
            break (credential, table.persist(uid));
        };
        durable.await?;
        Ok(credential)
    }

    /// Stops the session's listeners and connections and frees its ports.
    pub(crate) async fn release(&self, uid: &str, caller: &Caller) -> Result<SessionView, Error> {
        self.end(uid, |s| match caller.oversees(s) {
            true => Ok(()),
            false => Err(Error::NotOwner(uid.to_string())),
        })
        .await
    }

    /// Stops every session's relay (server shutdown): their connections are reset and their
    /// ports closed, while the store keeps them, with their final counters, for the next start.
    pub(crate) async fn stop_all(&self) -> Result<usize, StoreError> {
        let (removed, store) = {
            let mut table = self.lock();
            let uids: Vec<String> = table.sessions.keys().cloned().collect();
            let removed: Vec<(String, Removed)> = (uids.into_iter())
                .filter_map(|uid| Some((uid.clone(), table.remove(&uid)?)))
                .collect();
            (removed, table.store.clone())
        };
        let count = removed.len();
        let mut kept = Vec::new();
        for (uid, removed) in removed {
            // A session still waiting for its hello was never stored: it stays gone.
            let stored = removed.session.hello.is_none();
            let mut record = removed.session.record(&uid);
            record.stats = self.close(removed).await;
            if stored {
                kept.push(store.submit(Change::Put(Box::new(record))));
            }
        }
        for durable in kept {
            durable.await?;
        }
        Ok(count)
    }

    /// The one way a session leaves for good: if `may_end` lets it, removes it from the table
    /// and gives back what it held (quotas, bandwidth, in one step under the lock) and from the
    /// store, then stops its relay (resetting its connections), returns its ports, and answers
    /// once the removal is durable. A release, an expiry and a req whose hello never came all
    /// end sessions here.
    async fn end(
        &self,
        uid: &str,
        may_end: impl FnOnce(&Entry) -> Result<(), Error>,
    ) -> Result<SessionView, Error> {
        let forgotten = {
            let mut table = self.lock();
            table.writable()?;
            let session = table.sessions.get(uid);
            may_end(session.ok_or_else(|| Error::NotFound(uid.to_string()))?)?;
            table.forget(uid)
        };
        let (removed, durable) = forgotten.ok_or_else(|| Error::NotFound(uid.to_string()))?;
        let mut view = removed.session.view(uid, &self.lifetimes);
        view.stats = self.close(removed).await;
        durable.await?;
        Ok(view)
    }

    /// Releases, until the returned task is dropped, every session whose lifetime or timeout
    /// has run out, checking every [`EXPIRY_TICK`].
    pub(crate) fn expire_in_background(self: &Arc<Self>) -> Expiring {
        let sessions = self.clone();
        Expiring(tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRY_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sessions.expire_due(SystemTime::now()).await;
            }
        }))
    }

    /// Releases the sessions due at `now`, each as a release would (connections reset, ports
    /// returned), logs each and counts it; returns how many.
    pub(crate) async fn expire_due(&self, now: SystemTime) -> usize {
        let due: Vec<(String, u64)> = {
            let table = self.lock();
            (table.sessions.iter())
                .filter(|(_, s)| s.expiry(&self.lifetimes).0 <= now)
                .map(|(uid, s)| (uid.clone(), s.generation))
                .collect()
        };
        let mut expired = 0;
        for (uid, generation) in due {
            // Checked again under the lock (a connection may have opened meanwhile), and
            // counted and logged in the step that removes it: whoever sees it gone sees it
            // counted.
            let still_due = |s: &Entry| {
                let (at, by) = s.expiry(&self.lifetimes);
                if s.generation != generation || at > now {
                    return Err(Error::NotFound(uid.clone()));
                }
                (self.expired).record(&s.view(&uid, &self.lifetimes), by, &self.lifetimes);
                Ok(())
            };
            expired += usize::from(self.end(&uid, still_due).await.is_ok());
        }
        expired
    }

    pub(crate) fn view(&self, uid: &str, caller: &Caller) -> Result<SessionView, Error> {
        let mut table = self.lock();
        table
            .session_for(uid, |s| caller.oversees(s))
            .map(|s| s.view(uid, &self.lifetimes))
    }

    /// The sessions `caller` oversees opened after the one numbered `after` (0: all), oldest
    /// first, each with its number: a cursor that stays right while sessions come and go.
    pub(crate) fn list_after(&self, after: u64, caller: &Caller) -> Vec<(u64, SessionView)> {
        let table = self.lock();
        let mut all: Vec<(u64, SessionView)> = table
            .sessions
            .iter()
            .filter(|(_, s)| s.generation > after && caller.oversees(s))
            .map(|(uid, s)| (s.generation, s.view(uid, &self.lifetimes)))
            .collect();
        all.sort_by_key(|(generation, _)| *generation);
        all
    }

    pub(crate) fn totals(&self) -> Totals {
        let table = self.lock();
        let mut totals = Totals {
            relay: table.released,
            early_hellos: table.early_hellos(),
            expired: self.expired.counts(),
            ..Totals::default()
        };
        for session in table.sessions.values() {
            match session.role {
                Role::Prod => totals.prod_sessions += 1,
                Role::Cons => totals.cons_sessions += 1,
            }
            totals.listeners += session.listeners.len();
            let stats = session.relay.stats();
            add_growth(&mut totals.relay, RelayStats::default(), stats);
            totals.relay.connections_active += stats.connections_active;
        }
        totals
    }

    /// Removes a session from the table, if it is still the given generation.
    fn take(&self, uid: &str, generation: u64) -> Option<Removed> {
        let mut table = self.lock();
        let matches = table
            .sessions
            .get(uid)
            .is_some_and(|s| s.generation == generation);
        matches.then(|| table.remove(uid)).flatten()
    }

    /// Stops the relay, then returns the ports, so a freed port is really closed.
    async fn close(&self, removed: Removed) -> RelayStats {
        let Removed { session, counted } = removed;
        let ports = session.ports();
        let stats = session.relay.shutdown().await;
        let mut table = self.lock();
        add_growth(&mut table.released, counted, stats);
        table.ports.free(ports);
        stats
    }
}

/// A handle on the task of [`Sessions::expire_in_background`]; dropping it stops the task.
pub(crate) struct Expiring(tokio::task::JoinHandle<()>);

impl Drop for Expiring {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `session` is the one numbered `generation` (not a later one with its uid).
fn same_generation(uid: &str, session: &Entry, generation: u64) -> Result<(), Error> {
    match session.generation == generation {
        true => Ok(()),
        false => Err(Error::NotFound(uid.to_string())),
    }
}

fn require_role(uid: &str, session: &Entry, role: Role) -> Result<(), Error> {
    match session.role == role {
        true => Ok(()),
        false => Err(Error::WrongRole {
            uid: uid.to_string(),
            role: session.role.as_str(),
            wanted: role.as_str(),
        }),
    }
}

/// Gives the session `uid` (in the table) its hello and queues it for the store: from now on
/// it comes back after a restart. The req hears of it once that is durable.
fn deliver_hello(
    table: &mut Table,
    uid: &str,
    prod_listeners: Vec<HostPort>,
) -> Result<Delivered, Error> {
    table.writable()?;
    let Some(session) = table.sessions.get_mut(uid) else {
        return Err(Error::NotFound(uid.to_string()));
    };
    let waiter = session
        .hello
        .take()
        .ok_or_else(|| Error::HelloAlreadyReceived(uid.to_string()))?;
    session.prod_listeners = prod_listeners.clone();
    session.clocks.hello_at = Some(SystemTime::now());
    let listeners = session.listener_names();
    Ok(Delivered {
        waiter,
        prod_listeners,
        listeners,
        durable: table.persist(uid),
    })
}

/// A hello given to its session, on its way to the store.
struct Delivered {
    waiter: oneshot::Sender<Result<Vec<HostPort>, StoreError>>,
    prod_listeners: Vec<HostPort>,
    listeners: Vec<String>,
    durable: Durable,
}

impl Delivered {
    /// Waits until the session is durable, then answers its req (which fails with it if the
    /// store could not keep it). Returns the session's listeners.
    async fn kept(self) -> Result<Vec<String>, Error> {
        let kept = self.durable.await;
        // The req may have just timed out; the session is then being removed, which is fine.
        let _ = self.waiter.send(match &kept {
            Ok(()) => Ok(self.prod_listeners),
            Err(e) => Err(e.clone()),
        });
        kept?;
        Ok(self.listeners)
    }
}

/// A hello waiting for its req. However its wait ends (the req came, the grace ran out, the
/// caller went away), dropping it takes it out of the early-hello table.
struct EarlyHello<'a> {
    sessions: &'a Sessions,
    uid: &'a str,
    req: Option<oneshot::Receiver<()>>,
}

impl EarlyHello<'_> {
    async fn wait(&mut self, grace: Duration) {
        if let Some(req) = self.req.as_mut() {
            let _ = tokio::time::timeout(grace, req).await;
        }
    }
}

impl Drop for EarlyHello<'_> {
    fn drop(&mut self) {
        // Closes this waiter's channel first, so that it counts as gone.
        drop(self.req.take());
        self.sessions.lock().forget_gone_hellos(self.uid);
    }
}

/// Drops a session whose req was cancelled (client gone) before its hello arrived.
struct Pending<'a> {
    sessions: &'a Sessions,
    uid: &'a str,
    generation: Option<u64>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let Some(generation) = self.generation else {
            return;
        };
        if let Some(removed) = self.sessions.take(self.uid, generation) {
            let ports = removed.session.ports();
            // Dropping the relay aborts its tasks; the pool skips a port whose listener is
            // still closing, so freeing it now is safe.
            drop(removed);
            self.sessions.lock().ports.free(ports);
            tracing::info!(
                event = "cancelled",
                uid = self.uid,
                "the client went away before the hello: session dropped, ports freed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;

    fn sessions() -> Arc<Sessions> {
        let ip = Ipv4Addr::LOCALHOST.into();
        let hello_timeout = Duration::from_secs(30);
        Arc::new(Sessions::new(
            ip,
            1..=1,
            hello_timeout,
            TargetPolicy::anywhere(),
            Capacity::new(crate::relay::Limits {
                max_connections: 1,
                max_pipes: 2,
                connect_timeout: crate::relay::DEFAULT_CONNECT_TIMEOUT,
            }),
            Store::in_memory(),
        ))
    }

    /// A caller with no token from `address`, as with authentication off.
    fn from(address: &str) -> Caller {
        Caller {
            address: Some(address.parse().unwrap()),
            ..Caller::default()
        }
    }

    /// Sends a hello for each (uid, caller), whose req never comes, and waits until all are
    /// in the table.
    async fn early_hellos(
        sessions: &Arc<Sessions>,
        hellos: impl Iterator<Item = (String, Caller)>,
    ) -> Vec<tokio::task::JoinHandle<Result<Vec<String>, Error>>> {
        let before = sessions.totals().early_hellos;
        let waiting: Vec<_> = hellos
            .map(|(uid, caller)| {
                let sessions = sessions.clone();
                tokio::spawn(async move { sessions.hello(&uid, Vec::new(), &caller).await })
            })
            .collect();
        while sessions.totals().early_hellos < before + waiting.len() {
            tokio::task::yield_now().await;
        }
        waiting
    }

    async fn cancel(waiting: Vec<tokio::task::JoinHandle<Result<Vec<String>, Error>>>) {
        for call in waiting {
            call.abort();
            let _ = call.await;
        }
    }

    #[tokio::test]
    async fn a_cancelled_early_hello_leaves_the_table() {
        let sessions = sessions();
        let uids = ["u", "u", "v"].map(|uid| (uid.to_string(), from("192.0.2.1")));
        let waiting = early_hellos(&sessions, uids.into_iter()).await;
        cancel(waiting).await;
        assert_eq!(sessions.totals().early_hellos, 0);
        assert!(sessions.lock().early_hellos.is_empty());
    }

    #[tokio::test]
    async fn the_early_hello_table_is_bounded() {
        let sessions = sessions();
        let hellos = (0..MAX_EARLY_HELLOS).map(|i| {
            let address = format!("192.0.2.{}", i / MAX_EARLY_HELLOS_PER_ACCOUNT);
            (format!("u{i}"), from(&address))
        });
        let waiting = early_hellos(&sessions, hellos).await;
        let refused = sessions
            .hello("one-more", Vec::new(), &from("198.51.100.1"))
            .await;
        assert!(
            matches!(refused, Err(Error::EarlyHellosFull(_))),
            "{refused:?}"
        );
        cancel(waiting).await;
        assert_eq!(sessions.totals().early_hellos, 0);
    }

    #[tokio::test]
    async fn one_account_fills_only_its_share_of_the_early_hello_table() {
        let sessions = sessions();
        let alice = |address: &str| Caller {
            sub: Some("alice".into()),
            ..from(address)
        };
        let hellos = (0..MAX_EARLY_HELLOS_PER_ACCOUNT).map(|i| {
            // One identity from two addresses is one account.
            let address = ["192.0.2.1", "192.0.2.2"][i % 2];
            (format!("a{i}"), alice(address))
        });
        let mut waiting = early_hellos(&sessions, hellos).await;
        let refused = sessions
            .hello("a-more", Vec::new(), &alice("192.0.2.3"))
            .await;
        assert!(
            matches!(refused, Err(Error::EarlyHellosShareFull(_))),
            "{refused:?}"
        );
        // Others still get in: another identity, and tokenless callers from that address.
        let others = [(
            "b",
            Caller {
                sub: Some("bob".into()),
                ..alice("192.0.2.1")
            },
        )];
        let others = others.into_iter().chain([("c", from("192.0.2.1"))]);
        waiting.extend(early_hellos(&sessions, others.map(|(u, c)| (u.to_string(), c))).await);
        cancel(waiting).await;
        assert_eq!(sessions.totals().early_hellos, 0);
    }
}
