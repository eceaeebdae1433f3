//! What the two processes of a handover tell each other, in order:
//!
//! 1. new -> old [`ToOld::Hello`]: who it is, and where it keeps its sessions.
//! 2. old: stops accepting control connections (keeping the listener), refuses new changes to
//!    its sessions, parks their relays; -> new [`ToNew::Manifest`] with every fd.
//! 3. new -> old [`ToOld::Adopted`]: it can take all of it (nothing runs yet).
//! 4. old: writes out and closes its session store; -> new [`ToNew::StoreClosed`].
//! 5. new: opens the store; -> old [`ToOld::Done`].
//! 6. old -> new [`ToNew::Ack`]: the point of no return. The new process starts serving; the
//!    old one lets go of what it handed over and drains the rest.
//!
//! Either side may answer `Refused` instead, and a hang-up or a silence past
//! [`MESSAGE_DEADLINE`] counts as one: until the old process has sent its ack, it takes
//! everything back and goes on serving, and the new process runs nothing.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::relay::ParkedConnection;
use crate::store::SessionRecord;

/// The version of this protocol; processes that differ refuse each other.
pub(crate) const PROTOCOL: u32 = 1;

/// How long one side waits for the other's next message.
pub(crate) const MESSAGE_DEADLINE: Duration = Duration::from_secs(30);

/// From the new process to the running one.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToOld {
    Hello {
        protocol: u32,
        version: String,
        pid: u32,
        /// Its `--state-dir`: it must be the running server's, whose store it will open.
        state_dir: PathBuf,
    },
    Adopted,
    Done,
    Refused(String),
}

/// From the running process to the new one.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToNew {
    Manifest(Box<Manifest>),
    StoreClosed,
    Ack,
    Refused(String),
}

/// Everything that changes hands; each fd is an index into the message's fds.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) version: String,
    /// Handovers that brought the running process its sessions, counted on.
    pub(crate) handovers: u64,
    pub(crate) control: usize,
    pub(crate) metrics: Option<usize>,
    pub(crate) sessions: Vec<HandedSession>,
}

/// One session: as the store keeps it (counters as of the freeze), its listeners (None: lost)
/// and its parked plain connections.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HandedSession {
    pub(crate) record: SessionRecord,
    pub(crate) listeners: Vec<Option<usize>>,
    pub(crate) connections: Vec<ParkedConnection<usize>>,
}

/// The fds of a message being put together: each added once, named by its index.
#[derive(Default)]
pub(crate) struct Parcel(Vec<RawFd>);

impl Parcel {
    pub(crate) fn add(&mut self, fd: RawFd) -> usize {
        self.0.push(fd);
        self.0.len() - 1
    }

    /// The fds to send.
    ///
    /// # Safety
    /// Every fd added must stay open until the message is sent.
    pub(crate) unsafe fn fds(&self) -> Vec<BorrowedFd<'_>> {
        // SAFETY: the caller keeps them open for as long as the borrow.
        self.0
            .iter()
            .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
            .collect()
    }
}

/// The fds of a received message, each to be taken once by its index.
pub(crate) struct Received(Vec<Option<OwnedFd>>);

impl Received {
    pub(crate) fn new(fds: Vec<OwnedFd>) -> Self {
        Received(fds.into_iter().map(Some).collect())
    }

    pub(crate) fn take(&mut self, index: usize) -> Result<OwnedFd, String> {
        let fd = self.0.get_mut(index).and_then(Option::take);
        fd.ok_or_else(|| format!("the manifest names fd {index}, which it did not send (or twice)"))
    }

    /// Fds that nothing named: a manifest that does not add up.
    pub(crate) fn left_over(&self) -> usize {
        self.0.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fd_is_taken_once() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut received = Received::new(vec![a.into(), b.into()]);
        assert!(received.take(1).is_ok());
        assert!(received.take(1).is_err(), "taken twice");
        assert!(received.take(7).is_err(), "never sent");
        assert_eq!(received.left_over(), 1);
    }
}
