//! S2DS, the data plane: per-session listeners relayed to their targets.
//!
//! Public API used by the control server (keep it stable):
//! [`SessionRelay::new`], [`SessionRelay::set_targets`], [`SessionRelay::stats`],
//! [`SessionRelay::shutdown`], and [`RelayStats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Counters of one session, summed over its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelayStats {
    pub bytes_to_target: u64,
    pub bytes_from_target: u64,
    pub connections_active: u64,
    pub connections_total: u64,
}

#[derive(Default)]
struct Counters {
    to_target: AtomicU64,
    from_target: AtomicU64,
    active: AtomicU64,
    total: AtomicU64,
}

/// The data plane of one session: its bound listeners, their targets and live connections.
pub struct SessionRelay {
    uid: String,
    targets: watch::Sender<Vec<String>>,
    counters: Arc<Counters>,
    tasks: JoinSet<()>,
}

impl SessionRelay {
    /// Takes ownership of the session's bound listeners. Nothing is relayed before the first
    /// [`set_targets`](Self::set_targets). Must be called inside a tokio runtime.
    pub fn new(uid: String, listeners: Vec<TcpListener>) -> Self {
        let (targets, _) = watch::channel(Vec::new());
        let counters = Arc::new(Counters::default());
        let mut tasks = JoinSet::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            let rx = targets.subscribe();
            tasks.spawn(accept_loop(
                uid.clone(),
                index,
                listener,
                rx,
                counters.clone(),
            ));
        }
        SessionRelay {
            uid,
            targets,
            counters,
            tasks,
        }
    }

    /// Listener i relays new connections to `targets[i % targets.len()]` ("host:port").
    /// The first call starts relaying; later calls retarget new connections.
    pub fn set_targets(&self, targets: Vec<String>) {
        self.targets.send_replace(targets);
    }

    pub fn stats(&self) -> RelayStats {
        let c = &self.counters;
        RelayStats {
            bytes_to_target: c.to_target.load(Ordering::Relaxed),
            bytes_from_target: c.from_target.load(Ordering::Relaxed),
            connections_active: c.active.load(Ordering::Relaxed),
            connections_total: c.total.load(Ordering::Relaxed),
        }
    }

    /// Closes the listeners and every live connection of the session, and returns its totals.
    pub async fn shutdown(mut self) -> RelayStats {
        self.tasks.shutdown().await;
        tracing::debug!(uid = %self.uid, "relay stopped");
        self.stats()
    }
}

async fn accept_loop(
    uid: String,
    index: usize,
    listener: TcpListener,
    mut targets: watch::Receiver<Vec<String>>,
    counters: Arc<Counters>,
) {
    let mut conns = JoinSet::new();
    if targets.wait_for(|t| !t.is_empty()).await.is_err() {
        return;
    }
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let target = {
            let t = targets.borrow();
            t[index % t.len()].clone()
        };
        let counters = counters.clone();
        let uid = uid.clone();
        conns.spawn(async move {
            counters.total.fetch_add(1, Ordering::Relaxed);
            counters.active.fetch_add(1, Ordering::Relaxed);
            match TcpStream::connect(&target).await {
                Ok(mut server) => {
                    let mut client = client;
                    if let Ok((up, down)) =
                        tokio::io::copy_bidirectional(&mut client, &mut server).await
                    {
                        counters.to_target.fetch_add(up, Ordering::Relaxed);
                        counters.from_target.fetch_add(down, Ordering::Relaxed);
                    }
                }
                Err(e) => tracing::warn!(%uid, %target, "could not connect to target: {e}"),
            }
            counters.active.fetch_sub(1, Ordering::Relaxed);
        });
        while conns.try_join_next().is_some() {}
    }
}
