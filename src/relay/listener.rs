//! One accept loop per session listener: it owns the listener and the connections it accepted.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{connection, Routes, Session};

/// Pause after a failed accept: errors such as EMFILE persist until some connection closes, and
/// retrying at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(super) struct AcceptLoop {
    pub(super) index: usize,
    pub(super) listener: TcpListener,
    pub(super) routes: watch::Receiver<Routes>,
    pub(super) session: Arc<Session>,
}

impl AcceptLoop {
    /// Serves until `stop` turns true (or its sender is gone), then closes the listener and
    /// waits until every connection it accepted is closed.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        tokio::select! {
            _ = stop.wait_for(|&stopped| stopped) => {}
            () = self.serve(&mut connections) => {}
        }
        drop(self.listener);
        connections.shutdown().await;
    }

    async fn serve(&mut self, connections: &mut JoinSet<()>) {
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
                    Ok((client, _)) => self.spawn_connection(client, connections),
                    Err(e) => self.back_off(e).await,
                },
                // Reaps finished connections so the set does not grow with the session's age.
                Some(_) = connections.join_next() => {}
            }
        }
    }

    fn spawn_connection(&self, client: tokio::net::TcpStream, connections: &mut JoinSet<()>) {
        let routes = self.routes.borrow();
        // Targets cleared between the wait and the accept: nowhere to send this client.
        let Some(target) = routes.target_for(self.index) else {
            return;
        };
        let relay = connection::relay(
            client,
            target.to_owned(),
            routes.connect_timeout,
            self.session.clone(),
        );
        connections.spawn(relay);
    }

    async fn back_off(&self, error: std::io::Error) {
        let port = self
            .listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default();
        tracing::warn!(uid = %self.session.uid, port, "could not accept a connection: {error}");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}
