//! What a node knows of its pool: every key of it, as of the last change its watch reported.
//! Placement and the node's own shares work from it; calls that must see the latest state
//! (status, list, the compare-and-swap of a change) read etcd itself.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::de::DeserializeOwned;

use super::keys::{Key, Keys};
use super::placement::Candidate;
use super::records::{Held, NodeInfo, PoolRecord, ShareRecord};
use crate::etcd::KeyChange;

/// A key's value, with the revisions a compare-and-swap and an ordering need.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Versioned<T> {
    pub(crate) value: T,
    pub(crate) mod_revision: i64,
    pub(crate) create_revision: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Mirror {
    /// The etcd revision it reflects.
    pub(crate) revision: i64,
    pub(crate) nodes: BTreeMap<String, NodeInfo>,
    pub(crate) drains: BTreeSet<String>,
    pub(crate) sessions: HashMap<String, Versioned<PoolRecord>>,
    /// By uid, then node.
    pub(crate) shares: HashMap<String, BTreeMap<String, ShareRecord>>,
    /// The reserved ports of each node.
    pub(crate) ports: HashMap<String, BTreeSet<u16>>,
    pub(crate) accounts: HashMap<String, Versioned<Held>>,
    /// What each node's sessions hold of its bandwidth, in kb/s.
    pub(crate) bandwidth: HashMap<String, Versioned<u64>>,
    /// Sessions whose record changed since [`Mirror::take_dirty`] last ran.
    dirty: HashSet<String>,
}

fn decode<T: DeserializeOwned>(key: &str, value: &[u8]) -> Option<T> {
    match serde_json::from_slice(value) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(
                key,
                "the pool registry holds a value this node cannot read: {e}; ignored"
            );
            None
        }
    }
}

/// Takes in the change of the value `name` of `values` (gone when the key is).
fn keep<T: DeserializeOwned>(
    values: &mut HashMap<String, Versioned<T>>,
    name: String,
    change: &KeyChange,
) {
    match change.value.as_deref().and_then(|v| decode(&change.key, v)) {
        Some(value) => {
            let versioned = Versioned {
                value,
                mod_revision: change.mod_revision,
                create_revision: change.create_revision,
            };
            values.insert(name, versioned);
        }
        None => drop(values.remove(&name)),
    }
}

impl Mirror {
    /// What counter `name` of `counters` holds, and the revision a transaction compares (0:
    /// absent).
    pub(crate) fn count<T: Clone + Default>(
        counters: &HashMap<String, Versioned<T>>,
        name: &str,
    ) -> (T, i64) {
        let known = counters.get(name);
        known.map_or((T::default(), 0), |c| (c.value.clone(), c.mod_revision))
    }

    /// Takes in one changed key.
    pub(crate) fn apply(&mut self, keys: &Keys, change: KeyChange) {
        let Some(key) = keys.parse(&change.key) else {
            return;
        };
        let value = change.value.as_deref();
        match key {
            Key::Node(name) => match value.and_then(|v| decode(&change.key, v)) {
                Some(info) => drop(self.nodes.insert(name, info)),
                None => drop(self.nodes.remove(&name)),
            },
            Key::Drain(name) => match value {
                Some(_) => drop(self.drains.insert(name)),
                None => drop(self.drains.remove(&name)),
            },
            Key::Session(uid) => {
                self.dirty.insert(uid.clone());
                keep(&mut self.sessions, uid, &change);
            }
            Key::Port { node, port } => {
                let ports = self.ports.entry(node).or_default();
                match value {
                    Some(_) => drop(ports.insert(port)),
                    None => drop(ports.remove(&port)),
                }
            }
            Key::Share { uid, node } => {
                let share = value.and_then(|v| decode(&change.key, v));
                let shares = self.shares.entry(uid.clone()).or_default();
                match share {
                    Some(share) => drop(shares.insert(node, share)),
                    None => drop(shares.remove(&node)),
                }
                if shares.is_empty() {
                    self.shares.remove(&uid);
                }
            }
            Key::Account(account) => keep(&mut self.accounts, account, &change),
            Key::Bandwidth(node) => keep(&mut self.bandwidth, node, &change),
        }
    }

    /// Replaces everything with a full read of the pool at `revision`; every session, past
    /// or present, counts as changed.
    pub(crate) fn reset(&mut self, keys: &Keys, read: Vec<KeyChange>, revision: i64) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.extend(self.sessions.keys().cloned());
        *self = Mirror::default();
        for change in read {
            self.apply(keys, change);
        }
        self.dirty.extend(dirty);
        self.revision = revision;
    }

    /// The sessions whose record changed (or went) since the last call.
    pub(crate) fn take_dirty(&mut self) -> Vec<String> {
        self.dirty.drain().collect()
    }

    /// The nodes that may take new listeners (live, not draining, not `excluded`), each with
    /// its free ports in the order to take them: after `cursor[node]`, so that a port just
    /// freed (and its connections in TIME_WAIT) is not the next one given out.
    pub(crate) fn candidates(
        &self,
        excluded: &dyn Fn(&str, u16) -> bool,
        cursor: &HashMap<String, u16>,
    ) -> Vec<Candidate> {
        let live = self.nodes.iter().filter(|(n, _)| !self.drains.contains(*n));
        live.map(|(name, info)| {
            let reserved = self.ports.get(name);
            let after = cursor.get(name).copied().unwrap_or(info.last_port);
            let upper = after.saturating_add(1)..=info.last_port;
            let lower = info.first_port..=after.min(info.last_port);
            let free = (upper.chain(lower))
                .filter(|p| !reserved.is_some_and(|r| r.contains(p)))
                .filter(|p| !excluded(name, *p))
                .collect();
            Candidate {
                name: name.clone(),
                ip: info.listener_ip,
                free,
                held: reserved.map_or(0, BTreeSet::len),
                connections: self.connections_on(name),
            }
        })
        .collect()
    }

    /// The relayed connections `node` reported open in its shares.
    pub(crate) fn connections_on(&self, node: &str) -> u64 {
        let shares = self.shares.values().filter_map(|s| s.get(node));
        shares.map(|s| s.stats.connections_active).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: String, value: &impl serde::Serialize, revision: i64) -> KeyChange {
        KeyChange {
            key,
            value: Some(serde_json::to_vec(value).unwrap()),
            mod_revision: revision,
            create_revision: revision,
        }
    }

    fn node(first_port: u16, last_port: u16) -> NodeInfo {
        NodeInfo {
            listener_ip: "10.0.0.1".parse().unwrap(),
            first_port,
            last_port,
            control: "10.0.0.1:5000".into(),
            bandwidth_kbps: None,
            lease: 7,
            joined_unix: 0,
        }
    }

    #[test]
    fn free_ports_skip_the_reserved_and_start_after_the_cursor() {
        let keys = Keys::new("p");
        let mut mirror = Mirror::default();
        mirror.apply(&keys, put(keys.node("a"), &node(5100, 5104), 2));
        mirror.apply(&keys, put(keys.port("a", 5101), &"u", 3));
        let none = |_: &str, _: u16| false;
        let cursor = HashMap::from([("a".to_string(), 5102)]);
        let candidates = mirror.candidates(&none, &cursor);
        assert_eq!(candidates[0].free, [5103, 5104, 5100, 5102]);
        assert_eq!(candidates[0].held, 1);
        mirror.apply(&keys, put(keys.drain("a"), &"", 4));
        assert!(mirror.candidates(&none, &cursor).is_empty());
    }

    #[test]
    fn a_reset_marks_every_session_changed_including_the_gone() {
        let keys = Keys::new("p");
        let mut mirror = Mirror::default();
        let record = crate::cluster::records::tests::record("old", &["a"]);
        mirror.apply(&keys, put(keys.session("old"), &record, 1));
        assert_eq!(mirror.sessions["old"].value, record);
        mirror.take_dirty();
        let unreadable = KeyChange {
            key: keys.session("bad"),
            value: Some(b"not json".to_vec()),
            mod_revision: 8,
            create_revision: 8,
        };
        mirror.reset(&keys, vec![unreadable], 9);
        let mut dirty = mirror.take_dirty();
        dirty.sort();
        assert_eq!(dirty, ["bad", "old"]);
        assert!(mirror.sessions.is_empty());
        assert_eq!(mirror.revision, 9);
    }
}
