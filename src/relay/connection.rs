//! One relayed connection: connect to the target, move bytes both ways, close both sockets.
//!
//! Only a transfer that ended by itself closes with a FIN. A connection cut short (the target
//! refused or reset, the session was released, the server stopped) closes with a reset, so a
//! consumer can tell a cut stream from a complete one. That holds for the encrypted hop too: a
//! TLS stream ended without its close_notify, or with a record that fails to decrypt, is cut.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::capacity::{is_out_of_fds, Rejection, Slot};
#[cfg(not(target_os = "linux"))]
use super::copy;
use super::hop::{self, Hop, HopIdentity, HopPin};
#[cfg(target_os = "linux")]
use super::splice;
use super::{SessionShared, TargetPolicy};

/// Relays `client` to `target` until both directions have ended or one side fails. `hop` says
/// whether one of the two legs is the encrypted hop, and which.
pub(super) async fn relay(
    client: TcpStream,
    target: String,
    hop: Hop,
    session: Arc<SessionShared>,
    _slot: Slot,
) {
    let _active = session.counters.open_connection();
    let mut client = Relayed::new(client);
    // The peers already chose when to send; Nagle here would hold a small message back until
    // the previous one is acknowledged, adding a delay the sender did not ask for.
    let _ = client.stream.set_nodelay(true);
    let route = Route {
        target: &target,
        connect_timeout: session.capacity.limits().connect_timeout,
        session: &session,
    };
    let transferred = match &hop {
        Hop::Plain => route.plain(&mut client.stream).await,
        Hop::Admit(identity) => route.admitted(&mut client.stream, identity).await,
        Hop::Dial(pin) => route.dialled(&mut client.stream, pin).await,
    };
    let Some((traffic, result)) = transferred else {
        return;
    };
    client.completed = result.is_ok();
    tracing::debug!(
        uid = %session.uid,
        %target,
        bytes_to_target = traffic.to_target,
        bytes_from_target = traffic.from_target,
        error = result.err().map(tracing::field::display),
        "connection closed"
    );
}

/// Where one accepted connection goes. Each way of getting there returns None when the
/// connection ended before any byte moved, after logging why.
struct Route<'a> {
    target: &'a str,
    connect_timeout: Duration,
    session: &'a SessionShared,
}

impl Route<'_> {
    async fn plain(&self, client: &mut TcpStream) -> Option<(super::Traffic, io::Result<()>)> {
        let mut server = self.open_target().await?;
        let transferred = relay_streams(client, &mut server.stream, self.session).await;
        server.completed = transferred.1.is_ok();
        Some(transferred)
    }

    /// PROD: the producer is dialled only once the client proved the session's credential.
    async fn admitted(
        &self,
        client: &mut TcpStream,
        identity: &HopIdentity,
    ) -> Option<(super::Traffic, io::Result<()>)> {
        let peer = client
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut tls = match hop::admit(client, identity, self.connect_timeout).await {
            Ok(tls) => tls,
            Err(refusal) => {
                self.session.capacity.hop_rejected();
                tracing::warn!(event = "hop_rejected", uid = %self.session.uid, %peer,
                    "refused a connection to a PROD listener: {refusal}");
                return None;
            }
        };
        let mut server = self.open_target().await?;
        let transferred = hop::relay(&mut tls, &mut server.stream, self.session).await;
        server.completed = transferred.1.is_ok();
        Some(transferred)
    }

    /// CONS: the target is a PROD listener that must show the pinned certificate.
    async fn dialled(
        &self,
        client: &mut TcpStream,
        pin: &HopPin,
    ) -> Option<(super::Traffic, io::Result<()>)> {
        let mut server = self.open_target().await?;
        let (uid, target) = (&self.session.uid, self.target);
        let dialled = hop::dial(&mut server.stream, pin, target, self.connect_timeout);
        let mut tls = match dialled.await {
            Ok(tls) => tls,
            Err(e) => {
                tracing::warn!(%uid, %target, "could not open the encrypted hop: {e}");
                return None;
            }
        };
        let transferred = hop::relay(client, &mut tls, self.session).await;
        server.completed = transferred.1.is_ok();
        Some(transferred)
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
                let capacity = &session.capacity;
                session
                    .shedding
                    .rejected(&session.uid, Rejection::FdLimit, capacity);
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

#[cfg(target_os = "linux")]
async fn relay_streams(
    client: &mut TcpStream,
    server: &mut TcpStream,
    session: &SessionShared,
) -> (super::Traffic, io::Result<()>) {
    let (pipes, buckets) = (&session.capacity.pipes, session.buckets.as_ref());
    splice::relay(client, server, &session.counters, pipes, buckets).await
}

#[cfg(not(target_os = "linux"))]
async fn relay_streams(
    client: &mut TcpStream,
    server: &mut TcpStream,
    session: &SessionShared,
) -> (super::Traffic, io::Result<()>) {
    let buckets = session.buckets.as_ref();
    copy::relay(client, server, &session.counters, copy::PLAIN, buckets).await
}

/// Connects to the very addresses the policy checked, never to the name again.
async fn connect(target: &str, timeout: Duration, policy: &TargetPolicy) -> io::Result<TcpStream> {
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
