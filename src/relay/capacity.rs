//! What the data plane of one server may hold at once, shared by all of its sessions: relayed
//! connections (two fds each), the pipes they splice through, and one spare fd that lets it
//! refuse connections when the process runs out of fds.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::copy::BufferBudget;
use super::hop;
#[cfg(target_os = "linux")]
use super::pipe::PipePool;

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
     {CONTROL_PLANE_FDS} for the control plane and {reserved} for the --port-range listeners \
     and --max-control-connections: raise it (ulimit -n, or LimitNOFILE= under systemd), or \
     narrow --port-range or --max-control-connections"
)]
pub(crate) struct NoFdsForRelay {
    fd_limit: usize,
    reserved: usize,
}

impl Limits {
    /// The relay's share of `fd_limit`: what is left after the control plane and `reserved`
    /// fds (one per port of the range, each may become a listener, and one per control
    /// connection the server admits). A relayed connection takes two fds (its two sockets); by
    /// default the connections and their pipes share that budget, and with an explicit
    /// `max_connections` the pipes get what the connections leave.
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

/// Why a connection was reset as soon as it was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// [`Limits::max_connections`] were open.
    ConnectionLimit,
    /// The process had no fd left for it.
    FdLimit,
    /// It came from outside the session's `allow_from` networks.
    Source,
}

impl Rejection {
    pub(crate) const ALL: [Rejection; 3] = [
        Rejection::ConnectionLimit,
        Rejection::FdLimit,
        Rejection::Source,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejection::ConnectionLimit => "connection_limit",
            Rejection::FdLimit => "fd_limit",
            Rejection::Source => "source",
        }
    }
}

/// The shared bounds of one server's relay and what they turned away.
pub struct Capacity {
    limits: Limits,
    active: AtomicUsize,
    rejected: [AtomicU64; Rejection::ALL.len()],
    hop_rejected: AtomicU64,
    #[cfg(target_os = "linux")]
    pub(super) pipes: PipePool,
    /// What the copy buffers of encrypted connections may grow into.
    pub(super) buffers: BufferBudget,
    /// Closed for a moment when accept fails for want of an fd, so that the waiting client
    /// can be accepted and reset instead of hanging in the backlog.
    spare: Mutex<Option<File>>,
}

impl Capacity {
    pub fn new(limits: Limits) -> Arc<Capacity> {
        Arc::new(Capacity {
            limits,
            active: AtomicUsize::new(0),
            rejected: Default::default(),
            hop_rejected: AtomicU64::new(0),
            #[cfg(target_os = "linux")]
            pipes: PipePool::new(limits.max_pipes),
            buffers: BufferBudget::new(hop::BUFFER_BUDGET),
            spare: Mutex::new(open_spare()),
        })
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
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

    /// A place for one more connection, unless the limit is reached.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Slot> {
        self.active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.limits.max_connections).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(self.clone()))
    }

    pub(super) fn count_rejection(&self, reason: Rejection) {
        self.rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `take` with the spare fd closed, then takes the spare again. Fails without running
    /// `take` if there is no spare (the fd table was still full when it was last reopened).
    pub(super) fn with_spare_fd<T>(&self, take: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.is_none() {
            *spare = open_spare();
        }
        if spare.take().is_none() {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        let taken = take();
        *spare = open_spare();
        taken
    }
}

/// EMFILE or ENFILE: the process or the system has no fd to give.
pub(super) fn is_out_of_fds(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

fn open_spare() -> Option<File> {
    File::open("/dev/null").ok()
}

/// One admitted connection's place; freed on drop. When the last one goes, so do the idle
/// pipes: a server without connections holds none.
pub(super) struct Slot(Arc<Capacity>);

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            #[cfg(target_os = "linux")]
            self.0.pipes.close_idle();
        }
    }
}

/// A session's run of rejected connections, so that a burst is logged once, not per client.
#[derive(Default)]
pub(super) struct Shedding {
    rejected: AtomicU64,
}

impl Shedding {
    pub(super) fn rejected(&self, uid: &str, reason: Rejection, capacity: &Capacity) {
        capacity.count_rejection(reason);
        if self.rejected.fetch_add(1, Ordering::Relaxed) > 0 {
            return;
        }
        match reason {
            Rejection::ConnectionLimit => tracing::warn!(
                %uid,
                reason = reason.as_str(),
                limit = capacity.limits.max_connections,
                "the relay holds its --max-connections: new connections are reset until some close"
            ),
            Rejection::FdLimit => tracing::warn!(
                %uid,
                reason = reason.as_str(),
                "out of file descriptors: new connections are reset until some close; \
                 raise the open-file limit (LimitNOFILE=) or lower --max-connections"
            ),
            Rejection::Source => tracing::warn!(
                %uid,
                reason = reason.as_str(),
                "a connection from outside the session's allowed networks (req --allow-from, \
                 server --listener-allow-from) was reset"
            ),
        }
    }

    /// A connection relays again: the burst, if any, is over.
    pub(super) fn relaying(&self, uid: &str) {
        let rejected = self.rejected.swap(0, Ordering::Relaxed);
        if rejected > 0 {
            tracing::info!(%uid, rejected, "accepting connections again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_fd_limit_of_these_machines_relays_over_9000_connections() {
        // The default --port-range (101 ports) and --max-control-connections (512).
        let reserved = 101 + 512;
        let limits = Limits::within_fds(20_000, reserved, None).unwrap();
        assert!(limits.max_connections >= 9_000, "{limits:?}");
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
