//! A node's place in its pool: its key under a lease renewed in the background, joining again
//! when the lease is lost, leaving at a clean stop, and draining.
//!
//! Nobody places listeners on a node whose key is absent (a placement compares the node key's
//! lease in its transaction), so a node that joins reserves the ports the registry gives it
//! first and writes its key last: once it is live, its ports are already held.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::keys::Keys;
use super::records::NodeInfo;
use super::Registry;
use crate::etcd::{Etcd, EtcdError, Lease, Range, Txn};

/// The most operations one transaction carries (etcd's default limit is 128).
const TXN_OPS: usize = 100;

/// Why a node could not join its pool.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JoinError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(
        "node name {node:?} is taken in pool {pool:?}: a node registered under it (control \
         {control}) is still live; give this node another --node-name, or stop that one"
    )]
    NameInUse {
        node: String,
        pool: String,
        control: String,
    },
}

pub(crate) struct Membership {
    registry: Arc<Registry>,
    pool: String,
    name: String,
    /// What the node registers (its `lease` is set at each join).
    info: NodeInfo,
    ttl: Duration,
    lease: Mutex<Option<Lease>>,
}

impl Membership {
    pub(crate) fn new(
        registry: Arc<Registry>,
        (pool, name): (&str, &str),
        info: NodeInfo,
        ttl: Duration,
    ) -> Membership {
        Membership {
            registry,
            pool: pool.to_string(),
            name: name.to_string(),
            info,
            ttl,
            lease: Mutex::new(None),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<Lease>> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lease the node's keys are under now; 0: none.
    pub(crate) fn lease(&self) -> i64 {
        self.held().as_ref().map_or(0, |l| l.id)
    }

    /// Turns false when the current lease is lost (None: not joined).
    pub(crate) fn alive(&self) -> Option<watch::Receiver<bool>> {
        self.held().as_ref().map(|l| l.alive.clone())
    }

    /// How long the node's keys outlive its last renewal.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Joins the pool, or joins it again after losing touch. A lease etcd still holds is kept
    /// (with every key under it). Otherwise the node waits up to `wait` for its old key to go
    /// (a node of its name that is still live keeps it), reserves the ports of every listener
    /// the registry places on it under a new lease, then registers. Returns the lease.
    pub(crate) async fn join(&self, wait: Duration) -> Result<i64, JoinError> {
        let etcd = &self.registry.etcd;
        let previous = self.lease();
        if previous != 0 {
            if let Some(kept) = etcd.adopt(previous, self.ttl).await? {
                *self.held() = Some(kept);
                self.register(previous).await?;
                return Ok(previous);
            }
        }
        self.until_absent(wait).await?;
        let lease = etcd.lease(self.ttl).await?;
        let id = lease.id;
        self.reserve_placed_ports(id).await?;
        let info = self.info_under(id);
        let txn = Txn::default()
            .absent(&self.key())
            .put(&self.key(), info, id);
        if !etcd.txn(txn).await?.succeeded {
            let _ = etcd.revoke(id).await;
            return Err(self.in_use());
        }
        *self.held() = Some(lease);
        Ok(id)
    }

    fn key(&self) -> String {
        self.registry.keys.node(&self.name)
    }

    fn info_under(&self, lease: i64) -> Vec<u8> {
        let info = NodeInfo {
            lease,
            ..self.info.clone()
        };
        serde_json::to_vec(&info).unwrap_or_default()
    }

    /// Writes the node's key under `lease` again (it may have been lost with etcd's data).
    async fn register(&self, lease: i64) -> Result<(), EtcdError> {
        let info = self.info_under(lease);
        self.registry.etcd.put(&self.key(), info, lease).await
    }

    /// Waits until the mirror shows no key for this node.
    async fn until_absent(&self, wait: Duration) -> Result<(), JoinError> {
        let registered = |m: &super::Mirror| m.nodes.get(&self.name).cloned();
        if let Some(other) = registered(&self.registry.mirror()) {
            tracing::info!(node = %self.name, control = %other.control,
                "waiting for this node's previous registration to expire");
        }
        let deadline = Instant::now() + wait;
        let gone = self.registry.until(deadline, |m| match registered(m) {
            None => Some(()),
            Some(_) => None,
        });
        gone.await.ok_or_else(|| self.in_use())
    }

    fn in_use(&self) -> JoinError {
        let mirror = self.registry.mirror();
        let holder = mirror.nodes.get(&self.name);
        JoinError::NameInUse {
            node: self.name.clone(),
            pool: self.pool.clone(),
            control: holder.map_or_else(|| "unknown".into(), |n| n.control.clone()),
        }
    }

    /// Puts the port keys of the listeners the registry places on this node under `lease`.
    async fn reserve_placed_ports(&self, lease: i64) -> Result<(), EtcdError> {
        let keys = &self.registry.keys;
        let ports: Vec<(String, Vec<u8>)> = {
            let mirror = self.registry.mirror();
            let placed = mirror.sessions.iter().flat_map(|(uid, record)| {
                let mine = record.value.placed_on(&self.name);
                mine.map(move |(_, addr)| (keys.port(&self.name, addr.port()), uid.clone()))
            });
            placed.map(|(key, uid)| (key, uid.into_bytes())).collect()
        };
        for chunk in ports.chunks(TXN_OPS) {
            let txn = (chunk.iter()).fold(Txn::default(), |txn, (key, uid)| {
                txn.put(key, uid.clone(), lease)
            });
            self.registry.etcd.txn(txn).await?;
        }
        Ok(())
    }

    /// Ends the lease: the node's key, ports and shares go at once, and the other nodes show
    /// its listeners lost until it joins again.
    pub(crate) async fn leave(&self) {
        let lease = self.held().take();
        if let Some(lease) = lease {
            if let Err(e) = self.registry.etcd.revoke(lease.id).await {
                tracing::warn!("could not leave the pool at once ({e}): its lease ends by itself");
            }
        }
    }
}

/// What `scistream server drain` did, for its report.
pub(crate) struct Drained {
    /// The node is live now (its key exists).
    pub(crate) live: bool,
    /// Sessions with listeners on it.
    pub(crate) sessions: usize,
}

/// Marks `node` of the pool `keys` as draining (no new session is placed on it; its sessions
/// run on), or with `undo`, as taking sessions again. The mark outlives the node's restarts.
pub(crate) async fn drain(
    etcd: &Etcd,
    keys: &Keys,
    node: &str,
    undo: bool,
) -> Result<Drained, EtcdError> {
    let mark = keys.drain(node);
    let txn = match undo {
        false => Txn::default().put(&mark, Vec::new(), 0),
        true => Txn::default().delete(&mark),
    };
    etcd.txn(txn).await?;
    let (key, sessions) = (keys.node(node), keys.sessions());
    let read = [Range::Key(&key), Range::Prefix(&sessions)];
    let read = etcd.read(&read).await?;
    let live = read.first().is_some_and(|n| !n.is_empty());
    let records = read.get(1).into_iter().flatten();
    let sessions = records
        .filter_map(|kv| serde_json::from_slice::<super::PoolRecord>(&kv.value).ok())
        .filter(|r| r.nodes.iter().any(|n| n == node))
        .count();
    Ok(Drained { live, sessions })
}
