//! One accept loop per session listener: it owns the listener and the connections it accepted.
//!
//! Each accepted connection goes through the session's [`Admission`]. One it turns away (past
//! the server's capacity, its source's or its session's share) is reset at once, never left in
//! the backlog: a client that the relay cannot serve learns it right away instead of hanging.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::admission::Admission;
use super::capacity::{is_out_of_fds, Rejection};
use super::connection;
use super::parking::{self, Mode};
use super::{Routes, SessionShared};

/// Pause after a failed accept that shedding cannot resolve: errors such as EMFILE persist
/// until some connection closes, and retrying at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(super) struct AcceptLoop {
    pub(super) index: usize,
    pub(super) listener: TcpListener,
    pub(super) routes: watch::Receiver<Routes>,
    pub(super) session: Arc<SessionShared>,
}

impl AcceptLoop {
    /// Serves until `stop` turns true (or its sender is gone), then closes the listener and
    /// waits until every connection it accepted is closed. Handed over to the next process,
    /// it closes its listener (the next process has it) and lets the connections that stay
    /// here (the encrypted ones) end by themselves, unless `stop` comes first.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        let handed_over = tokio::select! {
            _ = stop.wait_for(|&stopped| stopped) => false,
            handed_over = self.serve(&mut connections) => handed_over,
        };
        drop(self.listener);
        if handed_over {
            let drained = async { while connections.join_next().await.is_some() {} };
            tokio::select! {
                _ = stop.wait_for(|&stopped| stopped) => {}
                () = drained => {}
            }
        }
        connections.shutdown().await;
    }

    /// Accepts, pausing whenever the session parks; true once handed over, false if the
    /// session's routes are gone.
    async fn serve(&mut self, connections: &mut JoinSet<()>) -> bool {
        let mut mode = self.session.parking.mode();
        loop {
            let park = tokio::select! {
                () = self.accept(connections) => return false,
                park = parking::park_asked(&mut mode) => park,
            };
            // Nothing is accepted now: the connections this loop started are all counted.
            self.session.parking.loop_parked(park);
            if parking::verdict(&mut mode, park).await == Mode::HandedOver {
                return true;
            }
        }
    }

    /// Accepts and admits connections until the session's routes are gone.
    async fn accept(&mut self, connections: &mut JoinSet<()>) {
        loop {
            // Until targets are known, clients wait in the listen backlog.
            let index = self.index;
            if self
                .routes
                .wait_for(|r| r.target_for(index).is_some())
                .await
                .is_err()
            {
                return;
            }
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((client, peer)) => self.admit(client, peer, connections),
                    Err(e) if is_out_of_fds(&e) => self.shed_without_fds().await,
                    Err(e) => self.back_off(e).await,
                },
                // Reaps finished connections so the set does not grow with the session's age.
                Some(_) = connections.join_next() => {}
            }
        }
    }

    fn admit(&self, client: TcpStream, peer: SocketAddr, connections: &mut JoinSet<()>) {
        if !self.session.terms.admits(peer.ip()) {
            return self.shed(client, peer, Rejection::Source);
        }
        let routes = self.routes.borrow();
        // Targets cleared between the wait and the accept: nowhere to send this client.
        let Some(target) = routes.target_for(self.index) else {
            connection::reset(client);
            return;
        };
        let admission = Admission {
            session: &self.session,
            source: peer.ip().into(),
        };
        match admission.enter(&routes.hop_mode) {
            Ok(way) => {
                let target = target.clone();
                let relay = connection::relay(client, peer, target, way, self.session.clone());
                connections.spawn(relay);
            }
            Err(reason) => {
                drop(routes);
                self.shed(client, peer, reason);
            }
        }
    }

    /// Counts the client as rejected, then resets it: whoever sees the reset sees it counted.
    fn shed(&self, client: TcpStream, peer: SocketAddr, reason: Rejection) {
        self.session.rejected(reason, peer.ip());
        connection::reset(client);
    }

    /// Accept failed for want of an fd: takes the waiting client (if it has not given up) in
    /// the spare fd's place, counts it as rejected, then resets it, as `shed` does.
    async fn shed_without_fds(&self) {
        let accept_counted = || {
            let accepted = accept_now(&self.listener);
            if let Ok(Some((_, peer))) = &accepted {
                self.session.rejected(Rejection::FdLimit, peer.ip());
            }
            accepted
        };
        if let Err(e) = self.session.capacity.reset_with_spare_fd(accept_counted) {
            self.back_off(e).await;
        }
    }

    async fn back_off(&self, error: io::Error) {
        let port = self
            .listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default();
        tracing::warn!(uid = %self.session.uid, port, "could not accept a connection: {error}");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

/// The next client in the backlog, if one is there now; never waits.
fn accept_now(listener: &TcpListener) -> io::Result<Option<(TcpStream, SocketAddr)>> {
    // Nothing waits on this poll: the accept loop polls again, with its own waker, right after.
    match listener.poll_accept(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(accepted) => accepted.map(Some),
        Poll::Pending => Ok(None),
    }
}
