//! What the data plane of one server may hold at once, shared by all of its sessions: relayed
//! connections (two fds each), the pipes they splice through, the connections still proving
//! the hop secret (one fd each), and one spare fd that lets it refuse connections when the
//! process runs out of fds. [`Shares`] says how much of it one source or one session may take.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpStream;

use super::copy::BufferBudget;
use super::hop;
#[cfg(target_os = "linux")]
use super::pipe::PipePool;
use crate::limits::network_of;

/// The bounds of a [`Capacity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Relayed connections open at once, over all sessions; past it, new ones are reset.
    pub max_connections: usize,
    /// Pipes open at once (two fds each), idle or carrying bytes.
    pub max_pipes: usize,
    /// How long a new connection waits for its target to accept before it is reset.
    pub connect_timeout: Duration,
}

/// Fds kept for the server's connections to the auth server and the Groups API (the access
/// policy's pools, which must fit: `policy::OUTBOUND_CONNECTIONS`).
pub(crate) const AUTH_CONNECTION_FDS: usize = 64;
/// Fds kept out of the relay's budget for the control plane besides its connections: stdio,
/// the runtime, the control and metrics listeners, and the auth connections.
pub(crate) const CONTROL_PLANE_FDS: usize = 64 + AUTH_CONNECTION_FDS;
/// By default one pipe (two fds) is budgeted per this many connections: only directions with
/// bytes in flight hold one, and past the budget a direction copies through user space.
pub(crate) const CONNECTIONS_PER_PIPE: usize = 16;

/// The open-file limit leaves no fd for relayed connections.
#[derive(Debug, thiserror::Error)]
#[error(
    "the open-file limit {fd_limit} leaves no fds for relayed connections after \
     {CONTROL_PLANE_FDS} for the control plane and {reserved} for the --port-range listeners, \
     --max-control-connections and connections proving the hop secret: raise it (ulimit -n, \
     or LimitNOFILE= under systemd), or narrow --port-range or --max-control-connections"
)]
pub(crate) struct NoFdsForRelay {
    fd_limit: usize,
    reserved: usize,
}

impl Limits {
    /// The relay's share of `fd_limit`: what is left after the control plane and `reserved`
    /// fds (one per port of the range, each may become a listener, one per control connection
    /// the server admits, and one per place of [`Shares::proving`]). A relayed connection
    /// takes two fds (its two sockets); by default the connections and their pipes share that
    /// budget, and with an explicit `max_connections` the pipes get what the connections leave.
    pub(crate) fn within_fds(
        fd_limit: u64,
        reserved: usize,
        max_connections: Option<usize>,
    ) -> Result<Limits, NoFdsForRelay> {
        let fd_limit = usize::try_from(fd_limit).unwrap_or(usize::MAX);
        let budget = fd_limit.saturating_sub(CONTROL_PLANE_FDS + reserved);
        // CONNECTIONS_PER_PIPE connections and their one pipe, in fds.
        let share = 2 * CONNECTIONS_PER_PIPE + 2;
        let fitting = budget / share * CONNECTIONS_PER_PIPE;
        if fitting == 0 && max_connections.is_none() {
            return Err(NoFdsForRelay { fd_limit, reserved });
        }
        let max_connections = max_connections.unwrap_or(fitting);
        if 2 * max_connections > budget {
            tracing::warn!(
                "--max-connections {max_connections} needs {} fds but the open-file limit \
                 {fd_limit} leaves {budget} for relayed connections: past about {}, new \
                 connections are reset for want of fds; raise the limit (LimitNOFILE=) to \
                 relay more",
                2 * max_connections,
                budget / 2
            );
        }
        Ok(Limits {
            max_connections,
            max_pipes: budget.saturating_sub(2 * max_connections) / 2,
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
        })
    }
}

/// Takes the hard open-file limit the operator allows (the usual soft limit of 1024 would cap
/// a gateway near 400 connections) and returns the soft limit in effect.
pub(crate) fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|e| {
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
        tracing::warn!("could not raise the open-file limit above {soft}: {e}");
        soft
    })
}

/// How the relay's capacity is shared out, so that no one source or session can take all of
/// it, and how long a connection keeps its place without use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shares {
    /// Relayed connections open at once from one source (an IPv4 address, or the /64 of an
    /// IPv6 one), over all sessions. None: half of [`Limits::max_connections`].
    pub per_source: Option<usize>,
    /// Relayed connections open at once in one session.
    pub per_session: usize,
    /// New relayed connections one session may open per second; as many may come at once
    /// after a quiet second.
    pub session_rate: u32,
    /// Connections to encrypted PROD listeners that have not proven the session's secret
    /// yet, over all sessions. They wait in a pool of their own, so that strangers cannot take
    /// the places of relayed connections.
    pub proving: usize,
    /// The part of [`proving`](Self::proving) one source may take.
    pub proving_per_source: usize,
    /// How long such a connection has to prove the secret before it is reset.
    pub proving_deadline: Duration,
    /// A relayed connection that moved no byte either way for this long is reset; None: never.
    pub idle_timeout: Option<Duration>,
}

impl Default for Shares {
    /// The server's defaults: far above what a real stream takes (a session relays one or a
    /// few connections per listener, opened once), so that only a flood or a loop meets them.
    fn default() -> Self {
        Shares {
            per_source: None,
            per_session: 512,
            session_rate: 256,
            proving: 128,
            proving_per_source: 64,
            proving_deadline: Duration::from_secs(3),
            idle_timeout: None,
        }
    }
}

impl Shares {
    /// Nothing shared out: any source and any session may take the whole capacity. For relays
    /// outside a server, which serve one user.
    pub const WHOLE: Shares = Shares {
        per_source: Some(usize::MAX),
        per_session: usize::MAX,
        session_rate: u32::MAX,
        proving: usize::MAX,
        proving_per_source: usize::MAX,
        proving_deadline: Duration::from_secs(3),
        idle_timeout: None,
    };

    /// The relayed connections one source may hold when `max_connections` is the whole.
    pub fn per_source_of(&self, max_connections: usize) -> usize {
        self.per_source.unwrap_or((max_connections / 2).max(1))
    }
}

/// Why a connection was reset as soon as it was accepted (or, at an encrypted PROD listener,
/// as soon as it proved the secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// [`Limits::max_connections`] were open.
    ConnectionLimit,
    /// The process had no fd left for it.
    FdLimit,
    /// It came from outside the session's `allow_from` networks.
    Source,
    /// Its source held its [`Shares::per_source`].
    SourceLimit,
    /// Its session held its [`Shares::per_session`].
    SessionLimit,
    /// Its session opened connections faster than [`Shares::session_rate`].
    SessionRate,
    /// The pool of connections proving the hop secret was full, or its source's part of it.
    ProvingLimit,
    /// The session's owner held its connection quota over all of its sessions.
    Quota,
}

impl Rejection {
    pub(crate) const ALL: [Rejection; 8] = [
        Rejection::ConnectionLimit,
        Rejection::FdLimit,
        Rejection::Source,
        Rejection::SourceLimit,
        Rejection::SessionLimit,
        Rejection::SessionRate,
        Rejection::ProvingLimit,
        Rejection::Quota,
    ];

    /// The `reason` label of the rejection metric and log lines.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejection::ConnectionLimit => "connection_limit",
            Rejection::FdLimit => "fd_limit",
            Rejection::Source => "source",
            Rejection::SourceLimit => "source_limit",
            Rejection::SessionLimit => "session_limit",
            Rejection::SessionRate => "session_rate",
            Rejection::ProvingLimit => "proving_limit",
            Rejection::Quota => "quota",
        }
    }
}

/// Where a connection comes from, as shares count it: the [`network_of`] its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Source(IpAddr);

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        Source(network_of(ip))
    }
}

/// The shared bounds of one server's relay and what they turned away.
pub struct Capacity {
    limits: Limits,
    shares: Shares,
    /// Connections that relay (or connect to their target).
    relaying: Pool,
    /// Connections to encrypted PROD listeners that have not proven the secret yet.
    proving: Pool,
    rejected: [AtomicU64; Rejection::ALL.len()],
    hop_rejected: AtomicU64,
    idle_closed: AtomicU64,
    #[cfg(target_os = "linux")]
    pub(super) pipes: PipePool,
    /// What the copy buffers of encrypted connections may grow into.
    pub(super) buffers: BufferBudget,
    /// Closed for a moment when accept fails for want of an fd, so that the waiting client
    /// can be accepted and reset instead of hanging in the backlog.
    spare: Mutex<Option<OwnedFd>>,
}

impl Capacity {
    /// A capacity that shares nothing out ([`Shares::WHOLE`]).
    pub fn new(limits: Limits) -> Arc<Capacity> {
        Capacity::shared(limits, Shares::WHOLE)
    }

    /// A capacity of which one source or session may take only its `shares`.
    pub fn shared(limits: Limits, shares: Shares) -> Arc<Capacity> {
        let per_source = shares.per_source_of(limits.max_connections);
        Arc::new(Capacity {
            limits,
            shares,
            relaying: Pool::new(limits.max_connections, per_source),
            proving: Pool::new(shares.proving, shares.proving_per_source),
            rejected: Default::default(),
            hop_rejected: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
            #[cfg(target_os = "linux")]
            pipes: PipePool::new(limits.max_pipes),
            buffers: BufferBudget::new(hop::BUFFER_BUDGET),
            spare: Mutex::new(open_spare()),
        })
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn shares(&self) -> Shares {
        self.shares
    }

    /// Connections reset at once for `reason` since the start.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected[reason as usize].load(Ordering::Relaxed)
    }

    /// Connections to encrypted PROD listeners refused for want of the session's credential.
    pub(crate) fn hop_rejections(&self) -> u64 {
        self.hop_rejected.load(Ordering::Relaxed)
    }

    pub(super) fn hop_rejected(&self) {
        self.hop_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Relayed connections reset for moving no byte for [`Shares::idle_timeout`].
    pub(crate) fn idle_closures(&self) -> u64 {
        self.idle_closed.load(Ordering::Relaxed)
    }

    pub(super) fn idle_closed(&self) {
        self.idle_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// A place for one more relayed connection from `source`, unless the limit or the
    /// source's share is reached.
    pub(super) fn admit(self: &Arc<Self>, source: Source) -> Result<Slot, Rejection> {
        self.relaying.take(source).map_err(|full| match full {
            Full::Pool => Rejection::ConnectionLimit,
            Full::Source => Rejection::SourceLimit,
        })?;
        Ok(Slot {
            capacity: self.clone(),
            source,
            proving: false,
        })
    }

    /// A place for a relayed connection from `source` that is relaying already (handed over
    /// by the previous process): taken even past the limits.
    pub(super) fn admit_anyway(self: &Arc<Self>, source: Source) -> Slot {
        self.relaying.take_anyway(source);
        Slot {
            capacity: self.clone(),
            source,
            proving: false,
        }
    }

    /// A place in the pool of connections still proving the hop secret.
    pub(super) fn admit_proving(self: &Arc<Self>, source: Source) -> Result<Slot, Rejection> {
        self.proving
            .take(source)
            .map_err(|_| Rejection::ProvingLimit)?;
        Ok(Slot {
            capacity: self.clone(),
            source,
            proving: true,
        })
    }

    pub(super) fn count_rejection(&self, reason: Rejection) {
        self.rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Accepts one waiting client with `accept` in the spare fd's place (if one is waiting)
    /// and resets it; the reset client's socket becomes the spare. Fails without accepting if
    /// there is no spare (the fd table was full when it was last reopened).
    pub(super) fn reset_with_spare_fd(
        &self,
        accept: impl FnOnce() -> io::Result<Option<(TcpStream, SocketAddr)>>,
    ) -> io::Result<()> {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.is_none() {
            *spare = open_spare();
        }
        if spare.take().is_none() {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        match accept() {
            Ok(Some((client, _))) => {
                *spare = reset_in_place(client);
                Ok(())
            }
            other => {
                *spare = open_spare();
                other.map(drop)
            }
        }
    }
}

/// Resets `client` without closing its fd, which becomes the spare: closing it and opening
/// the spare again would leave a moment in which another accept (the control port's) could
/// take that fd, and the relay would have none to refuse its next clients with. A TCP socket
/// disconnected with `connect(AF_UNSPEC)` sends the peer a reset and stays open, unconnected.
fn reset_in_place(client: TcpStream) -> Option<OwnedFd> {
    let socket = OwnedFd::from(client.into_std().ok()?);
    rustix::net::connect_unspec(&socket).ok()?;
    Some(socket)
}

/// EMFILE or ENFILE: the process or the system has no fd to give.
pub(super) fn is_out_of_fds(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

fn open_spare() -> Option<OwnedFd> {
    File::open("/dev/null").ok().map(OwnedFd::from)
}

/// Places in one pool of connections, counted in all and per source.
struct Pool {
    max: usize,
    max_per_source: usize,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    open: usize,
    by_source: HashMap<Source, usize>,
}

/// Which bound a full [`Pool`] met.
enum Full {
    Pool,
    Source,
}

impl Pool {
    fn new(max: usize, max_per_source: usize) -> Self {
        Pool {
            max,
            max_per_source,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, source: Source) -> Result<(), Full> {
        let mut state = self.lock();
        let from_source = state.by_source.get(&source).copied().unwrap_or(0);
        if state.open >= self.max {
            return Err(Full::Pool);
        }
        if from_source >= self.max_per_source {
            return Err(Full::Source);
        }
        state.open += 1;
        state.by_source.insert(source, from_source + 1);
        Ok(())
    }

    fn take_anyway(&self, source: Source) {
        let mut state = self.lock();
        state.open += 1;
        *state.by_source.entry(source).or_default() += 1;
    }

    /// Gives one place of `source` back; returns how many stay open.
    fn give_back(&self, source: Source) -> usize {
        let mut state = self.lock();
        state.open -= 1;
        if let Some(n) = state.by_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                state.by_source.remove(&source);
            }
        }
        state.open
    }
}

/// One admitted connection's place; freed on drop. When the last relayed one goes, so do the
/// idle pipes: a server without connections holds none.
pub(super) struct Slot {
    capacity: Arc<Capacity>,
    source: Source,
    proving: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.proving {
            self.capacity.proving.give_back(self.source);
            return;
        }
        if self.capacity.relaying.give_back(self.source) == 0 {
            #[cfg(target_os = "linux")]
            self.capacity.pipes.close_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(ip: &str) -> Source {
        Source::from(ip.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn a_source_takes_its_share_and_the_others_the_rest() {
        let limits = Limits {
            max_connections: 4,
            max_pipes: 0,
            connect_timeout: Duration::from_secs(1),
        };
        let capacity = Capacity::shared(limits, Shares::default());
        let (a, b) = (source("192.0.2.1"), source("192.0.2.2"));
        let held: Vec<Slot> = (0..2).map(|_| capacity.admit(a).unwrap()).collect();
        assert_eq!(capacity.admit(a).err(), Some(Rejection::SourceLimit));
        let others: Vec<Slot> = (0..2).map(|_| capacity.admit(b).unwrap()).collect();
        assert_eq!(
            capacity.admit(source("192.0.2.3")).err(),
            Some(Rejection::ConnectionLimit)
        );
        drop(held);
        capacity.admit(a).unwrap();
        drop(others);
    }

    #[test]
    fn connections_proving_the_hop_take_no_place_of_relayed_ones() {
        let limits = Limits {
            max_connections: 1,
            max_pipes: 0,
            connect_timeout: Duration::from_secs(1),
        };
        let shares = Shares {
            proving: 2,
            proving_per_source: 1,
            ..Shares::default()
        };
        let capacity = Capacity::shared(limits, shares);
        let (a, b) = (source("192.0.2.1"), source("192.0.2.2"));
        let _proving = capacity.admit_proving(a).unwrap();
        let refused = capacity.admit_proving(a).err();
        assert_eq!(refused, Some(Rejection::ProvingLimit));
        let _other = capacity.admit_proving(b).unwrap();
        capacity.admit(a).unwrap();
    }

    #[test]
    fn the_default_fd_limit_of_these_machines_relays_about_9000_connections() {
        // The default --port-range (101 ports), --max-control-connections (512) and the pool
        // of connections proving the hop secret.
        let reserved = 101 + 512 + Shares::default().proving;
        let limits = Limits::within_fds(20_000, reserved, None).unwrap();
        assert!(limits.max_connections >= 8_900, "{limits:?}");
        let fds = 2 * (limits.max_connections + limits.max_pipes) + CONTROL_PLANE_FDS + reserved;
        assert!(fds <= 20_000, "{limits:?} needs {fds} fds");
        assert!(limits.max_pipes >= limits.max_connections / CONNECTIONS_PER_PIPE / 2);
    }

    #[test]
    fn explicit_max_connections_leave_the_rest_to_pipes() {
        let limits = Limits::within_fds(2_048, 101, Some(400)).unwrap();
        assert_eq!(limits.max_connections, 400);
        assert_eq!(limits.max_pipes, (2_048 - 128 - 101 - 800) / 2);
        // Beyond the budget: allowed with a warning, and no fd is left for pipes.
        let over = Limits::within_fds(320, 101, Some(1000)).unwrap();
        assert_eq!(over.max_pipes, 0);
    }

    #[test]
    fn a_limit_that_leaves_nothing_for_connections_is_refused() {
        let error = Limits::within_fds(200, 101, None).unwrap_err().to_string();
        assert!(error.contains("narrow --port-range"), "{error}");
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let raised = raise_fd_limit();
        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(raised, soft);
        // An unlimited hard limit is more than the kernel lets a process have: kept as it was.
        assert!(soft == hard || hard == rlimit::INFINITY, "{soft} of {hard}");
    }
}
