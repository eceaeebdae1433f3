//! One relayed connection: connect to the target, move bytes both ways, close both sockets.
//!
//! Only a transfer that ended by itself closes with a FIN. A connection cut short (the target
//! refused or reset, the session was released, the server stopped) closes with a reset, so a
//! consumer can tell a cut stream from a complete one. That holds for the encrypted hop too: a
//! TLS stream ended without its close_notify, or with a record that fails to decrypt, is cut.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
#[cfg(target_os = "linux")]
use std::os::fd::OwnedFd;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::address::HostPort;

use super::admission::{Admission, Probation, Ticket, Way};
use super::capacity::{is_out_of_fds, Rejection};
use super::hop::{self, HopDialer, HopIdentity};
use super::parking::Enlisted;
#[cfg(target_os = "linux")]
use super::parking::{self, Direction, Mode, ParkedConnection};
#[cfg(target_os = "linux")]
use super::splice::{self, Splice};
use super::{copy, idle, SessionShared, TargetPolicy, Traffic};

/// Relays `client` (from `peer`) to `target` until both directions have ended or one side
/// fails.
pub(super) async fn relay(
    client: TcpStream,
    peer: SocketAddr,
    target: HostPort,
    way: Way,
    session: Arc<SessionShared>,
) {
    let _active = session.counters.open_connection();
    let mut client = Relayed::new(client);
    // The peers already chose when to send; Nagle here would hold a small message back until
    // the previous one is acknowledged, adding a delay the sender did not ask for.
    let _ = client.stream.set_nodelay(true);
    let route = Route::new(&target, peer, &session);
    let transferred = match way {
        Way::Plain(_ticket, enlisted) => route.plain(&mut client, enlisted).await,
        Way::Dial(_ticket, dialer) => route.dialled(&mut client.stream, &dialer).await,
        Way::Admit(probation, identity) => {
            route
                .admitted(&mut client.stream, probation, &identity)
                .await
        }
    };
    route.closed(&mut client, transferred);
}

/// Goes on relaying a plain connection that the previous process handed over, from where it
/// stood; it holds `ticket`'s places, and parks again for the next upgrade.
#[cfg(target_os = "linux")]
pub(super) async fn resume(
    parked: ParkedConnection<OwnedFd>,
    ticket: Ticket,
    enlisted: Enlisted,
    session: Arc<SessionShared>,
) {
    let _ticket = ticket;
    let _active = session.counters.resume_connection();
    let adopted = (adopt_stream(parked.client), adopt_stream(parked.server));
    let (Ok(client), Ok(server), Ok(target)) = (adopted.0, adopted.1, parked.target.parse()) else {
        tracing::warn!(uid = %session.uid, peer = %parked.peer, "a handed-over connection could not be taken up");
        return;
    };
    let mut client = Relayed::new(client);
    let mut server = Relayed::new(server);
    let route = Route::new(&target, parked.peer, &session);
    let resumed = Some((parked.to_target, parked.from_target));
    let transferred = route
        .spliced(&mut client, &mut server, resumed, enlisted)
        .await;
    route.closed(&mut client, transferred);
}

/// A socket handed over by the previous process, registered with this runtime.
#[cfg(target_os = "linux")]
fn adopt_stream(fd: OwnedFd) -> io::Result<TcpStream> {
    let stream = std::net::TcpStream::from(fd);
    stream.set_nonblocking(true)?;
    TcpStream::from_std(stream)
}

/// Where one accepted connection goes. Each way of getting there returns None when the
/// connection was cut before it ended by itself (nothing relayed yet, or idle too long), after
/// logging why.
struct Route<'a> {
    target: &'a HostPort,
    peer: SocketAddr,
    connect_timeout: Duration,
    session: &'a Arc<SessionShared>,
}

impl<'a> Route<'a> {
    fn new(target: &'a HostPort, peer: SocketAddr, session: &'a Arc<SessionShared>) -> Self {
        Route {
            target,
            peer,
            connect_timeout: session.capacity.limits().connect_timeout,
            session,
        }
    }

    /// Sets how `client` closes, and logs how its transfer ended (nothing if it was cut or
    /// handed over: that was logged already).
    fn closed(&self, client: &mut Relayed, transferred: Option<(Traffic, io::Result<()>)>) {
        let Some((traffic, result)) = transferred else {
            return;
        };
        client.completed = result.is_ok();
        tracing::debug!(
            uid = %self.session.uid,
            target = %self.target,
            bytes_to_target = traffic.to_target,
            bytes_from_target = traffic.from_target,
            error = result.err().map(tracing::field::display),
            "connection closed"
        );
    }

    #[cfg(target_os = "linux")]
    async fn plain(
        &self,
        client: &mut Relayed,
        enlisted: Enlisted,
    ) -> Option<(Traffic, io::Result<()>)> {
        let mut server = self.open_target().await?;
        if !splice::usable() {
            drop(enlisted);
            return self.copied(&mut client.stream, &mut server).await;
        }
        self.spliced(client, &mut server, None, enlisted).await
    }

    #[cfg(not(target_os = "linux"))]
    async fn plain(
        &self,
        client: &mut Relayed,
        enlisted: Enlisted,
    ) -> Option<(Traffic, io::Result<()>)> {
        drop(enlisted);
        let mut server = self.open_target().await?;
        self.copied(&mut client.stream, &mut server).await
    }

    /// Relays with splice (from where `resumed` says, if the connection was handed over),
    /// parking whenever the session asks; falls back to copying if splice turns out not to
    /// work here. None if the connection was cut, or handed over to the next process (its
    /// sockets then left as they are).
    #[cfg(target_os = "linux")]
    async fn spliced(
        &self,
        client: &mut Relayed,
        server: &mut Relayed,
        resumed: Option<(Direction<OwnedFd>, Direction<OwnedFd>)>,
        enlisted: Enlisted,
    ) -> Option<(Traffic, io::Result<()>)> {
        let session = self.session;
        let sockets = [client.stream.as_raw_fd(), server.stream.as_raw_fd()];
        let (pipes, buckets) = (&session.capacity.pipes, session.buckets.as_ref());
        let mut splice = Splice::new(
            &client.stream,
            &server.stream,
            &session.counters,
            pipes,
            buckets,
        );
        if let Some((to_target, from_target)) = resumed {
            splice = splice.resumed(to_target, from_target);
        }
        let mut mode = session.parking.mode();
        let result = loop {
            let park = tokio::select! {
                ran = self.unless_idle(sockets, splice.run()) => break ran?,
                park = parking::park_asked(&mut mode) => park,
            };
            let (to_target, from_target) = splice.parked();
            let parked = ParkedConnection {
                peer: self.peer,
                target: self.target.to_string(),
                client: sockets[0],
                server: sockets[1],
                to_target,
                from_target,
            };
            session.parking.connection_parked(park, parked);
            if parking::verdict(&mut mode, park).await == Mode::HandedOver {
                splice.let_go();
                // Closed here without a reset or a FIN: the sockets go on in the next process.
                (client.completed, server.completed) = (true, true);
                tracing::debug!(uid = %session.uid, target = %self.target, peer = %self.peer,
                    "connection handed over to the next process");
                return None;
            }
        };
        if splice.unsupported(&result) {
            drop((splice, enlisted));
            return self.copied(&mut client.stream, server).await;
        }
        server.completed = result.is_ok();
        Some((splice.traffic(), result))
    }

    /// Relays through user-space buffers: where splice does not work.
    async fn copied(
        &self,
        client: &mut TcpStream,
        server: &mut Relayed,
    ) -> Option<(Traffic, io::Result<()>)> {
        let session = self.session;
        let sockets = [client.as_raw_fd(), server.stream.as_raw_fd()];
        let buckets = session.buckets.as_ref();
        let counters = &session.counters;
        let transfer = copy::relay(client, &mut server.stream, counters, copy::PLAIN, buckets);
        let transferred = self.unless_idle(sockets, transfer).await?;
        server.completed = transferred.1.is_ok();
        Some(transferred)
    }

    /// PROD: the producer is dialled only once the client proved the session's credential,
    /// and only then does the connection take a place among the relayed ones.
    async fn admitted(
        &self,
        client: &mut TcpStream,
        probation: Probation,
        identity: &HopIdentity,
    ) -> Option<(Traffic, io::Result<()>)> {
        let client_fd = client.as_raw_fd();
        let deadline = self.session.capacity.shares().proving_deadline;
        let mut tls = match hop::admit(client, identity, deadline).await {
            Ok(tls) => tls,
            Err(refusal) => {
                self.session.hop_refused(self.peer, &refusal);
                return None;
            }
        };
        let _ticket = self.admit_proven()?;
        drop(probation);
        let mut server = self.open_target().await?;
        let sockets = [client_fd, server.stream.as_raw_fd()];
        let transfer = hop::relay(&mut tls, &mut server.stream, self.session);
        let transferred = self.unless_idle(sockets, transfer).await?;
        server.completed = transferred.1.is_ok();
        Some(transferred)
    }

    /// The place of a connection that has just proven the hop secret.
    fn admit_proven(&self) -> Option<Ticket> {
        let source = self.peer.ip();
        let admission = Admission {
            session: self.session,
            source: source.into(),
        };
        admission
            .relay()
            .map_err(|reason| self.session.rejected(reason, source))
            .ok()
    }

    /// CONS: the target is a PROD listener that must show the pinned certificate (the
    /// fingerprint the dialer was given).
    async fn dialled(
        &self,
        client: &mut TcpStream,
        dialer: &HopDialer,
    ) -> Option<(Traffic, io::Result<()>)> {
        let mut server = self.open_target().await?;
        let sockets = [client.as_raw_fd(), server.stream.as_raw_fd()];
        let (uid, target) = (&self.session.uid, self.target);
        let dialled = hop::dial(&mut server.stream, dialer, target, self.connect_timeout);
        let mut tls = match dialled.await {
            Ok(tls) => tls,
            Err(e) => {
                tracing::warn!(%uid, %target, "could not open the encrypted hop: {e}");
                return None;
            }
        };
        let transfer = hop::relay(client, &mut tls, self.session);
        let transferred = self.unless_idle(sockets, transfer).await?;
        server.completed = transferred.1.is_ok();
        Some(transferred)
    }

    /// Runs `transfer` to its end, unless the session's idle timeout is set and `sockets` (the
    /// connection's two) move no data for that long: then None, counted and logged.
    async fn unless_idle<T>(
        &self,
        sockets: [RawFd; 2],
        transfer: impl Future<Output = T>,
    ) -> Option<T> {
        let capacity = &self.session.capacity;
        let Some(timeout) = capacity.shares().idle_timeout else {
            return Some(transfer.await);
        };
        tokio::select! {
            transferred = transfer => Some(transferred),
            () = idle::quiet(sockets, timeout) => {
                capacity.idle_closed();
                let (uid, target, peer) = (&self.session.uid, self.target, self.peer);
                tracing::debug!(%uid, %target, %peer,
                    "connection reset: no data moved for {timeout:?} (--relay-idle-timeout)");
                None
            }
        }
    }

    async fn open_target(&self) -> Option<Relayed> {
        let session = self.session;
        match connect(self.target, self.connect_timeout, &session.policy).await {
            Ok(server) => {
                session.shedding.relaying(&session.uid);
                let _ = server.set_nodelay(true);
                Some(Relayed::new(server))
            }
            // Logged once per burst: at the fd limit, every new client fails this way.
            Err(e) if is_out_of_fds(&e) => {
                session.rejected(Rejection::FdLimit, self.peer.ip());
                None
            }
            Err(e) => {
                let target = self.target;
                tracing::warn!(uid = %session.uid, %target, "could not connect to target: {e}");
                None
            }
        }
    }
}

/// Connects to the very addresses the policy checked, never to the name again.
async fn connect(
    target: &HostPort,
    timeout: Duration,
    policy: &TargetPolicy,
) -> io::Result<TcpStream> {
    let connected = async {
        let addrs = policy
            .resolve(target)
            .await
            .map_err(|refused| io::Error::new(io::ErrorKind::PermissionDenied, refused))?;
        TcpStream::connect(&addrs[..]).await
    };
    match tokio::time::timeout(timeout, connected).await {
        Ok(connected) => connected,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

/// Closes `stream` with a reset instead of a FIN.
pub(super) fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
}

/// One side of a relayed connection: closed with a reset unless its transfer completed, which
/// also covers the task being cancelled by a release or a shutdown.
struct Relayed {
    stream: TcpStream,
    completed: bool,
}

impl Relayed {
    fn new(stream: TcpStream) -> Self {
        Relayed {
            stream,
            completed: false,
        }
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        if !self.completed {
            let _ = self.stream.set_zero_linger();
        }
    }
}
