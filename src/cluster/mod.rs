//! A pool of gateway nodes sharing one session registry in etcd.
//!
//! Each node registers under a lease ([`Membership`]) and follows every key of its pool in a
//! [`Mirror`] kept current by a watch ([`Registry::follow`]). A session is one record
//! ([`PoolRecord`]) that says on which node each of its listeners is; the server's pool
//! (`server::pool`) opens it in one transaction that also reserves its ports, binds this node's
//! share of every session placed here, and changes records by compare-and-swap. Where the keys
//! are and what they hold: [`keys`].

mod keys;
mod membership;
mod mirror;
mod placement;
mod records;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) use keys::Keys;
pub(crate) use membership::{drain, Membership};
pub(crate) use mirror::{Mirror, Versioned};
pub(crate) use placement::{spread, Candidate, Placed, Shortfall};
#[cfg(test)]
pub(crate) use records::tests::record as test_record;
pub(crate) use records::{rate_share, Held, NodeInfo, PoolRecord, ShareRecord};

use crate::etcd::{Etcd, EtcdError, EtcdTls, KeyChange, Range};

/// The longest a node waits between two attempts to reach etcd again.
const RETRY_CEILING: Duration = Duration::from_secs(2);
/// The longest a req waits for its node's watch to bring the pool's members as etcd has them.
const MEMBERS_WAIT: Duration = Duration::from_secs(2);

/// How a node joins a pool (`--cluster` and the flags beside it).
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// etcd's client URLs.
    pub(crate) urls: Vec<String>,
    pub(crate) tls: Option<EtcdTls>,
    /// The pool's name: several pools may share one etcd.
    pub(crate) pool: String,
    /// This node's name, unique in the pool.
    pub(crate) node: String,
    /// How long the node's keys outlive its last renewal.
    pub(crate) lease: Duration,
    pub(crate) placement: Placement,
}

impl ClusterOptions {
    /// A client of the pool's etcd.
    pub(crate) fn etcd(&self) -> Result<Etcd, EtcdError> {
        Etcd::new(&self.urls, self.tls.as_ref())
    }
}

/// Where a req's listeners go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// Over the pool's live nodes, least loaded first.
    #[default]
    Spread,
    /// All on the node that got the req (one address for the whole session).
    Local,
}

/// The pool's keys in etcd, and this node's mirror of them.
pub(crate) struct Registry {
    pub(crate) etcd: Etcd,
    pub(crate) keys: Keys,
    mirror: Mutex<Mirror>,
    /// Counts the batches of changes the mirror took in: waiters look again at each.
    changed: watch::Sender<u64>,
}

impl Registry {
    /// Reads the whole pool once: a node starts from what the registry holds.
    pub(crate) async fn open(etcd: Etcd, keys: Keys) -> Result<Arc<Registry>, EtcdError> {
        let registry = Arc::new(Registry {
            etcd,
            keys,
            mirror: Mutex::new(Mirror::default()),
            changed: watch::channel(0).0,
        });
        registry.reload().await?;
        Ok(registry)
    }

    pub(crate) fn mirror(&self) -> MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fires after each change the mirror takes in.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn changed(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Reads every key of the pool afresh; the revision it was read at.
    async fn reload(&self) -> Result<i64, EtcdError> {
        let (read, revision) = self.etcd.list(self.keys.root()).await?;
        let read = read.into_iter().filter_map(KeyChange::read).collect();
        self.mirror().reset(&self.keys, read, revision);
        self.changed();
        Ok(revision)
    }

    /// Keeps the mirror current for as long as it runs: watches the pool, and when etcd is
    /// lost, tries again (with growing pauses) and reads everything afresh once it is back.
    pub(crate) async fn follow(self: Arc<Self>) {
        let mut pause = Duration::from_millis(100);
        let mut revision = self.mirror().revision;
        loop {
            match self.watch_from(revision).await {
                Ok(()) => pause = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(
                        cluster = self.etcd.cluster(),
                        "lost the pool registry: {e}; \
                        relays go on, and this node catches up when it is back"
                    );
                }
            }
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_CEILING);
                match self.reload().await {
                    Ok(now) => {
                        revision = now;
                        tracing::info!(
                            cluster = self.etcd.cluster(),
                            revision,
                            "following the pool registry again"
                        );
                        break;
                    }
                    Err(e) => tracing::debug!("the pool registry is still out of reach: {e}"),
                }
            }
        }
    }

    /// Takes in the changes after `revision` until the watch ends (Ok: history compacted).
    async fn watch_from(&self, revision: i64) -> Result<(), EtcdError> {
        let mut watch = self.etcd.watch(self.keys.root(), revision).await?;
        loop {
            match watch.next().await? {
                crate::etcd::Watched::Changes { revision, changes } => {
                    let mut mirror = self.mirror();
                    for change in changes {
                        mirror.apply(&self.keys, change);
                    }
                    mirror.revision = mirror.revision.max(revision);
                    drop(mirror);
                    self.changed();
                }
                crate::etcd::Watched::Compacted => return Ok(()),
            }
        }
    }

    /// Waits (briefly) until the mirror holds every node registration and drain mark that
    /// etcd holds now, so that a req placed just after a node joined (or drained) counts it.
    /// The placement's transaction checks the nodes anyway; this only keeps it current.
    pub(crate) async fn see_members(&self) -> Result<(), EtcdError> {
        let (nodes, drains) = (self.keys.nodes(), self.keys.drains());
        let read = [Range::Prefix(&nodes), Range::Prefix(&drains)];
        let read = self.etcd.read(&read).await?;
        let newest = read.iter().flatten().map(|kv| kv.mod_revision).max();
        let deadline = Instant::now() + MEMBERS_WAIT;
        let newest = newest.unwrap_or(0);
        self.until(deadline, |m| (m.revision >= newest).then_some(()))
            .await;
        Ok(())
    }

    /// Waits until `found` finds what it looks for in the mirror, or `deadline` passes.
    pub(crate) async fn until<T>(
        &self,
        deadline: Instant,
        mut found: impl FnMut(&Mirror) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.subscribe();
        loop {
            changes.borrow_and_update();
            if let Some(found) = found(&self.mirror()) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}
