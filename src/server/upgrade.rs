//! Live upgrades, the server's side of the protocol in `handover::message`: [`Handovers`]
//! runs it as the running process (on the handover socket in the state directory, and starts
//! the next process itself on SIGHUP), [`take_over`] as the new one.

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Metrics;
use super::sessions::{Adopted, Frozen, Sessions};
use crate::handover::{
    self, Channel, HandedSession, Manifest, Parcel, Received, Successor, ToNew, ToOld,
    MESSAGE_DEADLINE, PROTOCOL,
};
use crate::relay::{ParkedConnection, ParkedRelay};
use crate::store::{SessionRecord, Store};

/// How long the sessions' relays may take to park: a connection still connecting to its
/// target parks once connected (or failed), within the connect timeout.
const PARK_DEADLINE: Duration = Duration::from_secs(15);

/// What a running server needs to hand over.
pub(super) struct Handovers {
    pub(super) state_dir: PathBuf,
    pub(super) sessions: Arc<Sessions>,
    pub(super) store: Store,
    pub(super) metrics: Arc<Metrics>,
    /// Gates the control listener's accept loop.
    pub(super) accepting: watch::Sender<bool>,
    pub(super) control: RawFd,
    pub(super) metrics_listener: Option<RawFd>,
    /// Started on SIGHUP; None: SIGHUP is not handled.
    pub(super) successor: Option<Successor>,
    pub(super) doors: Doors,
}

/// Where a server hears of live upgrades: the handover socket and SIGHUP, opened before it
/// says it started, so that a `--take-over` or a reload right after that finds them (a SIGHUP
/// before its handler is in place would end the process).
pub(super) struct Doors {
    socket: Option<AsyncFd<OwnedFd>>,
    reloads: Option<tokio::signal::unix::Signal>,
}

impl Doors {
    /// Listens on the handover socket in `state_dir`; without it, no live upgrades (logged).
    pub(super) fn open(state_dir: &Path) -> Doors {
        let path = state_dir.join(handover::SOCKET_NAME);
        let socket = handover::listen(&path).and_then(register);
        let socket = socket.inspect_err(|e| tracing::warn!(socket = %path.display(), "no live upgrades: could not listen on the handover socket: {e}"));
        Doors {
            socket: socket.ok(),
            reloads: None,
        }
    }

    /// From now on SIGHUP starts the next process, rather than ending this one.
    pub(super) fn hear_reloads(&mut self) {
        if self.socket.is_some() && self.reloads.is_none() {
            self.reloads = hangups();
        }
    }
}

impl Handovers {
    /// Serves handovers until one completes (the sessions' relays then let go of what they
    /// handed over); a failed one is logged, and everything goes on as before. Never returns
    /// if the handover socket could not be opened.
    pub(super) async fn run(mut self) {
        let path = self.state_dir.join(handover::SOCKET_NAME);
        let Some(socket) = self.doors.socket.take() else {
            return std::future::pending().await;
        };
        let mut reloads = self
            .doors
            .reloads
            .take()
            .filter(|_| self.successor.is_some());
        let mut child: Option<tokio::process::Child> = None;
        loop {
            tokio::select! {
                accepted = accept(&socket) => {
                    let outcome = match accepted {
                        Ok(channel) => self.hand_over(channel).await,
                        Err(e) => Err(format!("could not accept its connection: {e}")),
                    };
                    match outcome {
                        Ok(pid) => return self.handed_over(pid),
                        Err(why) => self.failed(&why),
                    }
                }
                Some(()) = next(&mut reloads) => child = self.start_successor(&path, child),
                status = wait(&mut child) => {
                    child = None;
                    tracing::warn!(event = "handover_failed", "the new process exited ({status}) without taking over: this process goes on serving");
                }
            }
        }
    }

    fn handed_over(&self, pid: u32) {
        self.sessions.hand_over();
        tracing::info!(event = "handed_over", pid, "the sessions are in process {pid} now; this process stops taking calls and lets its encrypted connections drain");
    }

    fn failed(&self, why: &str) {
        self.metrics.record_handover_failed();
        tracing::warn!(
            event = "handover_failed",
            "a live upgrade failed: {why}; this process goes on serving"
        );
    }

    /// SIGHUP: starts the binary now on disk to take over (unless one is starting already).
    fn start_successor(
        &self,
        socket: &Path,
        child: Option<tokio::process::Child>,
    ) -> Option<tokio::process::Child> {
        if child.is_some() {
            tracing::warn!("reload asked again while the new process starts: ignored");
            return child;
        }
        let successor = self.successor.as_ref()?;
        match successor.spawn(socket) {
            Ok(child) => {
                tracing::info!(
                    event = "reload",
                    pid = child.id(),
                    "reload: started the new process to take over"
                );
                Some(child)
            }
            Err(e) => {
                self.failed(&format!(
                    "the new binary did not start ({successor:?}): {e}"
                ));
                None
            }
        }
    }

    /// The protocol's running side; the new process's pid once it has everything.
    async fn hand_over(&self, channel: Channel) -> Result<u32, String> {
        let channel = Arc::new(channel);
        let (hello, _) = receive::<ToOld>(&channel).await?;
        let pid = match self.welcome(hello) {
            Ok(pid) => pid,
            Err(why) => {
                let _ = send(&channel, ToNew::Refused(why.clone()), Parcel::default()).await;
                return Err(why);
            }
        };
        tracing::info!(
            event = "handover",
            pid,
            "a new process takes over: control calls wait, relays park"
        );
        self.accepting.send_replace(false);
        let frozen = tokio::time::timeout(PARK_DEADLINE, self.sessions.freeze());
        let handed = match frozen.await {
            Ok(frozen) => self.hand(&channel, frozen).await,
            Err(_) => Err(format!("the relays did not park within {PARK_DEADLINE:?}")),
        };
        if let Err(why) = handed {
            let _ = send(&channel, ToNew::Refused(why.clone()), Parcel::default()).await;
            self.roll_back();
            return Err(format!("to process {pid}: {why}"));
        }
        Ok(pid)
    }

    /// The new process's pid, if it may take over.
    fn welcome(&self, hello: ToOld) -> Result<u32, String> {
        let ToOld::Hello {
            protocol,
            version,
            pid,
            state_dir,
        } = hello
        else {
            return Err(format!("expected a hello, got {hello:?}"));
        };
        if protocol != PROTOCOL {
            return Err(format!(
                "process {pid} (scistream {version}) speaks handover protocol {protocol}, this one {PROTOCOL}: upgrade through a version that speaks both, or restart"
            ));
        }
        if !same_dir(&state_dir, &self.state_dir) {
            return Err(format!(
                "process {pid} keeps its sessions in {}, this one in {}: give it --state-dir {}",
                state_dir.display(),
                self.state_dir.display(),
                self.state_dir.display()
            ));
        }
        Ok(pid)
    }

    /// Sends the manifest, lets go of the store, and waits for the new process to have it all.
    async fn hand(&self, channel: &Arc<Channel>, frozen: Frozen) -> Result<(), String> {
        let (manifest, parcel) = self.manifest(frozen);
        tracing::info!(
            sessions = manifest.sessions.len(),
            connections = manifest
                .sessions
                .iter()
                .map(|s| s.connections.len())
                .sum::<usize>(),
            "handing over"
        );
        send(channel, ToNew::Manifest(Box::new(manifest)), parcel).await?;
        expect(channel, |m| matches!(m, ToOld::Adopted)).await?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| e.to_string())?;
        send(channel, ToNew::StoreClosed, Parcel::default()).await?;
        expect(channel, |m| matches!(m, ToOld::Done)).await?;
        send(channel, ToNew::Ack, Parcel::default()).await
    }

    /// What the new process gets: every fd added to the parcel, named by its index.
    fn manifest(&self, frozen: Frozen) -> (Manifest, Parcel) {
        let mut parcel = Parcel::default();
        let control = parcel.add(self.control);
        let metrics = self.metrics_listener.map(|fd| parcel.add(fd));
        let sessions = frozen.sessions.into_iter();
        let sessions = sessions.map(|(record, relay)| handed(&mut parcel, record, relay));
        let manifest = Manifest {
            version: env!("CARGO_PKG_VERSION").to_string(),
            handovers: self.metrics.handovers(),
            control,
            metrics,
            sessions: sessions.collect(),
        };
        (manifest, parcel)
    }

    /// Everything goes on as before the freeze.
    fn roll_back(&self) {
        if let Err(e) = self.store.reopen(&self.state_dir) {
            tracing::error!("after a failed handover, the session store could not be opened again: changes to sessions fail until a restart: {e}");
        }
        self.sessions.thaw();
        self.accepting.send_replace(true);
    }
}

fn handed(parcel: &mut Parcel, record: SessionRecord, relay: ParkedRelay) -> HandedSession {
    let listeners = relay.listeners.iter();
    let listeners = listeners.map(|l| l.map(|fd| parcel.add(fd))).collect();
    let connections = relay.connections.into_iter().map(|connection| {
        let mapped = connection.try_map(|fd| Ok::<_, ()>(parcel.add(fd)));
        mapped.unwrap_or_else(|()| unreachable!("adding an fd cannot fail"))
    });
    HandedSession {
        record,
        listeners,
        connections: connections.collect(),
    }
}

/// The handover socket, registered with this runtime.
fn register(socket: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the fd is the OwnedFd moved in, registered once, and deregistered before it is
    // closed (AsyncFd owns it).
    unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)
}

/// Whether two paths name one directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::warn!("reload (SIGHUP) unavailable: {e}"))
        .ok()
}

async fn next(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn wait(child: &mut Option<tokio::process::Child>) -> String {
    match child {
        Some(child) => match child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        },
        None => std::future::pending().await,
    }
}

async fn accept(socket: &AsyncFd<OwnedFd>) -> io::Result<Channel> {
    loop {
        let mut ready = socket.readable().await?;
        match ready.try_io(|socket| Channel::accept(socket.get_ref(), MESSAGE_DEADLINE)) {
            Ok(accepted) => return accepted,
            Err(_would_block) => continue,
        }
    }
}

/// Sends `message` with the parcel's fds, which must stay open meanwhile.
async fn send<T: Serialize + Send + 'static>(
    channel: &Arc<Channel>,
    message: T,
    parcel: Parcel,
) -> Result<(), String> {
    let channel = channel.clone();
    let sent = tokio::task::spawn_blocking(move || {
        // SAFETY: the fds are the listeners and parked connections of a frozen table (and
        // the control and metrics listeners), all open until the verdict, after this send.
        let fds = unsafe { parcel.fds() };
        channel.send(&message, &fds)
    });
    match sent.await {
        Ok(sent) => sent.map_err(|e| format!("could not send to the other process: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn receive<T: DeserializeOwned + Send + 'static>(
    channel: &Arc<Channel>,
) -> Result<(T, Vec<OwnedFd>), String> {
    let channel = channel.clone();
    match tokio::task::spawn_blocking(move || channel.recv::<T>()).await {
        Ok(Ok(received)) => Ok(received),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err("the other process hung up".into())
        }
        Ok(Err(e)) => Err(format!(
            "no answer from the other process within {MESSAGE_DEADLINE:?}, or a broken one: {e}"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Receives the new process's next message, which must be the one `wanted` accepts.
async fn expect(channel: &Arc<Channel>, wanted: fn(&ToOld) -> bool) -> Result<(), String> {
    match receive::<ToOld>(channel).await? {
        (message, _) if wanted(&message) => Ok(()),
        (ToOld::Refused(why), _) => Err(format!("the new process refused: {why}")),
        (other, _) => Err(format!("the new process answered out of turn: {other:?}")),
    }
}

/// What the new process took over, ready to serve from once [`Adoption::sessions`] are
/// entered in its table.
pub(super) struct Adoption {
    pub(super) control: TcpListener,
    pub(super) metrics: Option<TcpListener>,
    pub(super) store: Store,
    pub(super) sessions: Vec<Adopted>,
    /// Handovers before this one.
    pub(super) handovers: u64,
}

/// The parts of a manifest, fds owned, checked before the running process closes its store.
struct Unpacked {
    control: OwnedFd,
    metrics: Option<OwnedFd>,
    sessions: Vec<UnpackedSession>,
    handovers: u64,
}

/// A session's record, its listeners (None: lost) and its plain connections.
type UnpackedSession = (
    SessionRecord,
    Vec<Option<OwnedFd>>,
    Vec<ParkedConnection<OwnedFd>>,
);

/// Takes over from the server listening on `socket`: everything it has, once it has let go of
/// its store. Until the running server acknowledges the end, nothing runs here, so a failure
/// leaves it serving.
pub(super) async fn take_over(socket: &Path, state_dir: &Path) -> anyhow::Result<Adoption> {
    let channel = Channel::connect(socket, MESSAGE_DEADLINE).map_err(|e| {
        anyhow::anyhow!(
            "could not reach the running server's handover socket {}: {e}; is a server running with this --state-dir?",
            socket.display()
        )
    })?;
    let channel = Arc::new(channel);
    let hello = ToOld::Hello {
        protocol: PROTOCOL,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        state_dir: state_dir.to_path_buf(),
    };
    send(&channel, hello, Parcel::default())
        .await
        .map_err(anyhow::Error::msg)?;
    match adopt(&channel, state_dir).await {
        Ok(adoption) => Ok(adoption),
        Err(why) => {
            let _ = send(&channel, ToOld::Refused(why.clone()), Parcel::default()).await;
            anyhow::bail!("could not take over: {why}; the running server goes on serving")
        }
    }
}

async fn adopt(channel: &Arc<Channel>, state_dir: &Path) -> Result<Adoption, String> {
    let (manifest, fds) = match receive::<ToNew>(channel).await? {
        (ToNew::Manifest(manifest), fds) => (manifest, fds),
        (ToNew::Refused(why), _) => return Err(format!("the running server refused: {why}")),
        (other, _) => {
            return Err(format!(
                "the running server answered out of turn: {other:?}"
            ))
        }
    };
    let unpacked = unpack(*manifest, Received::new(fds))?;
    send(channel, ToOld::Adopted, Parcel::default()).await?;
    expect_from_old(channel, |m| matches!(m, ToNew::StoreClosed)).await?;
    let (store, _) = Store::open(state_dir, false).map_err(|e| e.to_string())?;
    let acknowledged = async {
        send(channel, ToOld::Done, Parcel::default()).await?;
        expect_from_old(channel, |m| matches!(m, ToNew::Ack)).await
    };
    if let Err(why) = acknowledged.await {
        // Let go of it at once: the running server opens it again.
        store.close();
        return Err(why);
    }
    adopted(unpacked, store).map_err(|e| format!("after the handover: {e}"))
}

async fn expect_from_old(channel: &Arc<Channel>, wanted: fn(&ToNew) -> bool) -> Result<(), String> {
    match receive::<ToNew>(channel).await? {
        (message, _) if wanted(&message) => Ok(()),
        (ToNew::Refused(why), _) => Err(format!("the running server gave up: {why}")),
        (other, _) => Err(format!(
            "the running server answered out of turn: {other:?}"
        )),
    }
}

/// The manifest with its fds in place of their indexes; every fd named once, none left over.
fn unpack(manifest: Manifest, mut fds: Received) -> Result<Unpacked, String> {
    let control = fds.take(manifest.control)?;
    let metrics = manifest.metrics.map(|i| fds.take(i)).transpose()?;
    let mut sessions = Vec::with_capacity(manifest.sessions.len());
    for session in manifest.sessions {
        if session.listeners.len() != session.record.listeners.len() {
            return Err(format!(
                "session {:?}: its listeners do not match its record",
                session.record.uid
            ));
        }
        let listeners = session.listeners.iter();
        let listeners = listeners.map(|l| l.map(|i| fds.take(i)).transpose());
        let listeners = listeners.collect::<Result<Vec<_>, _>>()?;
        let connections = session.connections.into_iter();
        let connections = connections.map(|c| c.try_map(|i| fds.take(i)));
        let connections = connections.collect::<Result<Vec<_>, _>>()?;
        sessions.push((session.record, listeners, connections));
    }
    match fds.left_over() {
        0 => Ok(Unpacked {
            control,
            metrics,
            sessions,
            handovers: manifest.handovers,
        }),
        n => Err(format!("{n} fds came that the manifest does not name")),
    }
}

/// The unpacked manifest as this runtime's sockets.
fn adopted(unpacked: Unpacked, store: Store) -> io::Result<Adoption> {
    let mut sessions = Vec::with_capacity(unpacked.sessions.len());
    for (record, listeners, connections) in unpacked.sessions {
        let listeners = listeners.into_iter().map(|l| l.map(listener).transpose());
        sessions.push(Adopted {
            record,
            listeners: listeners.collect::<io::Result<_>>()?,
            connections,
        });
    }
    Ok(Adoption {
        control: listener(unpacked.control)?,
        metrics: unpacked.metrics.map(listener).transpose()?,
        store,
        sessions,
        handovers: unpacked.handovers,
    })
}

fn listener(fd: OwnedFd) -> io::Result<TcpListener> {
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}
