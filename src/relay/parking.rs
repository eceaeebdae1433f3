//! Pausing a session's relay for a live upgrade, and handing what it paused to the next process.
//!
//! [`Parking::park`] asks every accept loop of the session to stop accepting (keeping its
//! listener) and every plain connection to stop at a safe point, between two system calls, and
//! to say where it stands: its two sockets and, per direction, whether its end was passed on and
//! which bytes are in flight (in a pipe, or in a user-space buffer). The connections wait there
//! for the verdict: [`Mode::Run`] again (the handover failed: they go on where they stopped), or
//! [`Mode::HandedOver`] (the next process has them: they let go of their fds without touching
//! the sockets). Connections whose state lives in user space (the encrypted hop's TLS) are not
//! parked; they go on and drain in this process.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What a session's tasks are told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Run,
    /// Stop at a safe point and report, for the park numbered so; each park has its own
    /// number, so a task still waiting from an earlier one reports again.
    Park(u64),
    /// The next process has the listeners and the parked connections.
    HandedOver,
}

/// One parked plain connection, its fds as `F` (raw in this process, indexes in a handover
/// message, owned in the next process).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ParkedConnection<F> {
    pub(crate) peer: SocketAddr,
    pub(crate) target: String,
    pub(crate) client: F,
    pub(crate) server: F,
    pub(crate) to_target: Direction<F>,
    pub(crate) from_target: Direction<F>,
}

/// Where one direction of a parked connection stands.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Direction<F> {
    /// Its source's end was passed on (the destination is shut down for writes).
    pub(crate) finished: bool,
    /// Bytes it delivered so far.
    pub(crate) moved: u64,
    pub(crate) in_flight: InFlight<F>,
}

/// Bytes a direction took from its source and has not delivered yet.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum InFlight<F> {
    Nothing,
    /// In a pipe: its two ends, and how many bytes wait in it.
    Pipe {
        read: F,
        write: F,
        bytes: usize,
    },
    /// In a user-space buffer (the pipe pool had none to spare): the bytes themselves.
    Buffer(Vec<u8>),
}

impl<F> ParkedConnection<F> {
    /// The same connection with each fd mapped by `f`, which may refuse one.
    pub(crate) fn try_map<G, E>(
        self,
        mut f: impl FnMut(F) -> Result<G, E>,
    ) -> Result<ParkedConnection<G>, E> {
        Ok(ParkedConnection {
            peer: self.peer,
            target: self.target,
            client: f(self.client)?,
            server: f(self.server)?,
            to_target: self.to_target.try_map(&mut f)?,
            from_target: self.from_target.try_map(&mut f)?,
        })
    }
}

impl<F> Direction<F> {
    fn try_map<G, E>(self, f: &mut impl FnMut(F) -> Result<G, E>) -> Result<Direction<G>, E> {
        let in_flight = match self.in_flight {
            InFlight::Nothing => InFlight::Nothing,
            InFlight::Pipe { read, write, bytes } => InFlight::Pipe {
                read: f(read)?,
                write: f(write)?,
                bytes,
            },
            InFlight::Buffer(bytes) => InFlight::Buffer(bytes),
        };
        Ok(Direction {
            finished: self.finished,
            moved: self.moved,
            in_flight,
        })
    }
}

/// What a park of one session found: its listeners (None: lost) and its plain connections,
/// whose fds stay open until the verdict.
#[derive(Debug)]
pub(crate) struct ParkedRelay {
    pub(crate) listeners: Vec<Option<RawFd>>,
    pub(crate) connections: Vec<ParkedConnection<RawFd>>,
}

/// Who has answered the current park.
#[derive(Default)]
struct Census {
    park: u64,
    /// Connections that may have to park: plain ones, from their admission until they end
    /// (or turn out not to be parkable).
    enlisted: usize,
    /// Accept loops that stopped accepting for this park.
    loops: usize,
    parked: Vec<ParkedConnection<RawFd>>,
}

/// The parking of one session's tasks.
pub(super) struct Parking {
    mode: watch::Sender<Mode>,
    census: Arc<watch::Sender<Census>>,
}

impl Default for Parking {
    fn default() -> Self {
        Parking {
            mode: watch::Sender::new(Mode::Run),
            census: Arc::new(watch::Sender::new(Census::default())),
        }
    }
}

impl Parking {
    pub(super) fn mode(&self) -> watch::Receiver<Mode> {
        self.mode.subscribe()
    }

    /// Counts a plain connection as one that parks, from its admission (synchronously, so a
    /// park that has seen its accept loop stop has seen it too) until the guard drops.
    pub(super) fn enlist(&self) -> Enlisted {
        self.census.send_modify(|c| c.enlisted += 1);
        Enlisted(self.census.clone())
    }

    /// Told by an accept loop that stopped accepting for park `park`.
    pub(super) fn loop_parked(&self, park: u64) {
        self.census.send_if_modified(|c| {
            let current = c.park == park;
            c.loops += usize::from(current);
            current
        });
    }

    /// Told by a connection that stopped for park `park`: its state, fds open until the
    /// verdict.
    pub(super) fn connection_parked(&self, park: u64, parked: ParkedConnection<RawFd>) {
        self.census.send_if_modified(|c| {
            let current = c.park == park;
            if current {
                c.parked.push(parked);
            }
            current
        });
    }

    /// Stops the session's `loops` accept loops and its plain connections; returns once all
    /// have answered, with the connections' states.
    pub(super) async fn park(&self, loops: usize) -> Vec<ParkedConnection<RawFd>> {
        let mut park = 0;
        self.census.send_modify(|c| {
            c.park += 1;
            c.loops = 0;
            c.parked.clear();
            park = c.park;
        });
        self.mode.send_replace(Mode::Park(park));
        let mut census = self.census.subscribe();
        // The sender lives in self: waiting cannot fail.
        let _ = census
            .wait_for(|c| c.loops == loops && c.parked.len() == c.enlisted)
            .await;
        let mut parked = Vec::new();
        self.census
            .send_modify(|c| parked = std::mem::take(&mut c.parked));
        parked
    }

    /// The verdict on the parked tasks.
    pub(super) fn decide(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// A connection counted by [`Parking::enlist`].
pub(super) struct Enlisted(Arc<watch::Sender<Census>>);

impl Drop for Enlisted {
    fn drop(&mut self) {
        self.0.send_modify(|c| c.enlisted -= 1);
    }
}

/// Waits until `mode` asks for a park; returns its number.
pub(super) async fn park_asked(mode: &mut watch::Receiver<Mode>) -> u64 {
    loop {
        let current = *mode.borrow_and_update();
        if let Mode::Park(park) = current {
            return park;
        }
        if mode.changed().await.is_err() {
            // The session is gone: its tasks are being stopped anyway.
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for the verdict on park `park`: [`Mode::Run`], [`Mode::HandedOver`], or another park
/// (which the caller answers like any park).
pub(super) async fn verdict(mode: &mut watch::Receiver<Mode>, park: u64) -> Mode {
    let decided = mode.wait_for(|m| *m != Mode::Park(park)).await.map(|m| *m);
    match decided {
        Ok(decided) => decided,
        Err(_) => std::future::pending().await,
    }
}
