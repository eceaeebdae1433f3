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
