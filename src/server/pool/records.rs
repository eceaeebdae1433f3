//! Reading and changing one session's record in etcd: every change is a compare-and-swap on
//! the record's mod revision, tried again when another node changed it meanwhile.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{counted, Error, Pool};
use crate::cluster::{Mirror, PoolRecord, Registry, Versioned};
use crate::etcd::{EtcdError, Txn};

/// How often a change is tried again when other nodes keep changing the same keys.
const SWAP_ATTEMPTS: usize = 50;

/// A call that could not reach the pool's registry.
pub(super) fn unreachable(e: EtcdError) -> Error {
    Error::Cluster(e.to_string())
}

fn too_busy(uid: &str) -> Error {
    Error::Cluster(format!(
        "session {uid:?} kept changing at other nodes while this one tried to change it; retry"
    ))
}

/// The session `uid` as etcd holds it now.
pub(super) async fn fetch(
    registry: &Registry,
    uid: &str,
) -> Result<Option<Versioned<PoolRecord>>, Error> {
    let key = registry.keys.session(uid);
    let read = registry.etcd.get(&[&key]).await.map_err(unreachable)?;
    let Some(kv) = read.into_iter().flatten().next() else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&kv.value).map_err(|e| {
        Error::Cluster(format!("the pool registry holds session {uid:?} in a form this node cannot read ({e}): is a newer scistream running in the pool?"))
    })?;
    Ok(Some(Versioned {
        value,
        mod_revision: kv.mod_revision,
        create_revision: kv.create_revision,
    }))
}

/// What the counter at `key` holds, and the revision to compare: `mirrored` (as the mirror
/// has it), or with `fresh`, as etcd has it now.
async fn count<T: DeserializeOwned + Default>(
    registry: &Registry,
    key: &str,
    mirrored: (T, i64),
    fresh: bool,
) -> Result<(T, i64), Error> {
    if !fresh {
        return Ok(mirrored);
    }
    let read = registry.etcd.get(&[key]).await.map_err(unreachable)?;
    Ok(match read.into_iter().flatten().next() {
        Some(kv) => (
            serde_json::from_slice(&kv.value).unwrap_or_default(),
            kv.mod_revision,
        ),
        None => (T::default(), 0),
    })
}

/// Removes the session `uid` if `allowed` lets it: its record, its ports and its count against
/// its account go in one transaction. Returns the record removed.
pub(super) async fn remove(
    registry: &Registry,
    uid: &str,
    allowed: impl Fn(&Versioned<PoolRecord>) -> Result<(), Error>,
) -> Result<Versioned<PoolRecord>, Error> {
    let keys = &registry.keys;
    let key = keys.session(uid);
    for attempt in 0..SWAP_ATTEMPTS {
        let current = fetch(registry, uid).await?;
        let current = current.ok_or_else(|| Error::NotFound(uid.to_string()))?;
        allowed(&current)?;
        let record = &current.value;
        let fresh = attempt > 0;
        let account = keys.account(&record.account);
        let mirrored = Mirror::count(&registry.mirror().accounts, &record.account);
        let (held, held_at) = count(registry, &account, mirrored, fresh).await?;
        let mut txn = (Txn::default())
            .unchanged_since(&key, current.mod_revision)
            .delete(&key);
        for (node, addr) in record.nodes.iter().zip(&record.session.listeners) {
            txn = txn.delete(&keys.port(node, addr.port()));
        }
        let left = counted(held, record.session.listeners.len(), false);
        txn = counter_left(txn, &account, held_at, left);
        for (node, kbps) in &record.reserved {
            let key = keys.bandwidth(node);
            let mirrored = Mirror::count(&registry.mirror().bandwidth, node);
            let (total, total_at) = count(registry, &key, mirrored, fresh).await?;
            txn = counter_left(txn, &key, total_at, total.saturating_sub(*kbps));
        }
        if registry.etcd.txn(txn).await.map_err(unreachable)?.succeeded {
            return Ok(current);
        }
    }
    Err(too_busy(uid))
}

/// `txn` with the counter at `key` (as of `revision`) set to `left`, or removed at nothing.
fn counter_left<T: Serialize + Default + PartialEq>(
    txn: Txn,
    key: &str,
    revision: i64,
    left: T,
) -> Txn {
    let txn = txn.unchanged_since(key, revision);
    match left == T::default() {
        true => txn.delete(key),
        false => txn.put(key, json(&left), 0),
    }
}

pub(super) fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl Pool {
    pub(super) async fn fetch(&self, uid: &str) -> Result<Option<Versioned<PoolRecord>>, Error> {
        fetch(&self.registry, uid).await
    }

    /// The session `uid` as the mirror has it (with `mirrored`, and when it has it: a swap
    /// from it fails if etcd has a newer one, and the next attempt reads etcd), or as etcd
    /// has it now.
    pub(super) async fn latest(
        &self,
        uid: &str,
        mirrored: bool,
    ) -> Result<Option<Versioned<PoolRecord>>, Error> {
        let known = mirrored.then(|| self.registry.mirror().sessions.get(uid).cloned());
        match known.flatten() {
            Some(known) => Ok(Some(known)),
            None => self.fetch(uid).await,
        }
    }

    pub(super) async fn remove(
        &self,
        uid: &str,
        allowed: impl Fn(&Versioned<PoolRecord>) -> Result<(), Error>,
    ) -> Result<Versioned<PoolRecord>, Error> {
        remove(&self.registry, uid, allowed).await
    }

    /// Writes `record` over `current` if nobody changed it since: the new record, or None
    /// when someone did.
    pub(super) async fn swap(
        &self,
        uid: &str,
        current: &Versioned<PoolRecord>,
        record: &PoolRecord,
    ) -> Result<Option<Versioned<PoolRecord>>, Error> {
        let key = self.keys().session(uid);
        let txn = (Txn::default())
            .unchanged_since(&key, current.mod_revision)
            .put(&key, json(record), 0);
        let committed = self.registry.etcd.txn(txn).await.map_err(unreachable)?;
        Ok(committed.succeeded.then(|| Versioned {
            value: record.clone(),
            mod_revision: committed.revision,
            create_revision: current.create_revision,
        }))
    }

    /// Changes the session `uid` with `edit` (which also checks that the change is allowed),
    /// as a compare-and-swap tried again while other nodes change it at the same time.
    pub(super) async fn change(
        &self,
        uid: &str,
        mut edit: impl FnMut(&mut PoolRecord) -> Result<(), Error>,
    ) -> Result<Versioned<PoolRecord>, Error> {
        for attempt in 0..SWAP_ATTEMPTS {
            let mirrored = attempt == 0;
            let current = self.latest(uid, mirrored).await?;
            let current = current.ok_or_else(|| Error::NotFound(uid.to_string()))?;
            let mut record = current.value.clone();
            match edit(&mut record) {
                // The mirror may lag (a hello just delivered at another node): etcd's copy says.
                Err(_) if mirrored => continue,
                refused => refused?,
            }
            if let Some(changed) = self.swap(uid, &current, &record).await? {
                return Ok(changed);
            }
        }
        Err(too_busy(uid))
    }
}
