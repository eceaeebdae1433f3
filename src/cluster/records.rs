//! The values a pool keeps in etcd, as JSON (see the `keys` module for where).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::relay::{RelayStats, Throughput};
use crate::store::SessionRecord;

/// A live node, as it registers under its lease.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeInfo {
    /// The address its data listeners bind to and advertise.
    pub(crate) listener_ip: IpAddr,
    /// Its `--port-range`, inclusive.
    pub(crate) first_port: u16,
    pub(crate) last_port: u16,
    /// Where its control service listens, for operators.
    pub(crate) control: String,
    /// Its `--bandwidth`, in kb/s, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bandwidth_kbps: Option<u64>,
    /// The lease its keys are held under: a placement puts the ports it reserves on this node
    /// under it, so that they go with the node.
    pub(crate) lease: i64,
    /// When it joined, in seconds since the Unix epoch.
    pub(crate) joined_unix: u64,
}

/// A session of the pool: the session as a lone server stores it, where each listener is
/// placed, and where it is between its req and its hello.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PoolRecord {
    /// Its `listeners` are on several nodes' addresses; its `generation` is unused (the key's
    /// creation revision orders sessions) and its `stats` are the shares'.
    pub(crate) session: SessionRecord,
    /// `nodes[i]` holds `session.listeners[i]`.
    pub(crate) nodes: Vec<String>,
    /// Until its hello arrives (at any node), its req waits.
    pub(crate) awaiting_hello: bool,
    /// When its req stops waiting for the hello (seconds since the Unix epoch): past it, any
    /// node may remove a session left waiting by a req whose node went away.
    pub(crate) hello_deadline_unix: u64,
    /// Whose quota it counts against (the key of its [`Held`]).
    pub(crate) account: String,
    /// The most relayed connections its account may have open on one node (its connection
    /// quota, as the req's node looked it up); None: no quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) connection_quota: Option<usize>,
    /// What it holds of each node's bandwidth, in kb/s (`--rate-policy reserve`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) reserved: BTreeMap<String, u64>,
}

impl PoolRecord {
    /// The indices and addresses of the listeners placed on `node`.
    pub(crate) fn placed_on<'a>(
        &'a self,
        node: &'a str,
    ) -> impl Iterator<Item = (usize, SocketAddr)> + 'a {
        let listeners = self.session.listeners.iter().copied().enumerate();
        listeners.filter(move |(i, _)| self.nodes.get(*i).is_some_and(|n| n == node))
    }

    /// Node `node`'s part of its rate (kb/s).
    pub(crate) fn share_kbps(&self, node: &str) -> u64 {
        let rate = u64::try_from(self.session.rate).unwrap_or_default();
        rate_share(rate, &self.nodes, node)
    }

    /// The nodes it is placed on, each once, in listener order.
    pub(crate) fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for node in &self.nodes {
            if !names.contains(node) {
                names.push(node.clone());
            }
        }
        names
    }
}

/// Node `node`'s part of `rate` (kb/s) of a session whose listener i is on `nodes[i]`: the rate
/// over its listeners, times those on the node (rounded up: a node never gets too little).
pub(crate) fn rate_share(rate: u64, nodes: &[String], node: &str) -> u64 {
    let here = nodes.iter().filter(|n| *n == node).count() as u64;
    (rate * here).div_ceil(nodes.len().max(1) as u64)
}

/// One node's part of a session, as the node reports it under its lease: its presence says the
/// node has bound its listeners and holds the session as of `applied`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShareRecord {
    /// The mod revision of the session record the node last applied.
    pub(crate) applied: i64,
    /// Its listeners it could not bind (another program holds the port).
    pub(crate) lost: Vec<SocketAddr>,
    /// Its relay's counters and throughput, as of the last report.
    pub(crate) stats: RelayStats,
    pub(crate) throughput: Throughput,
    /// Since when (ms since the Unix epoch) no connection has been open on this share; None:
    /// one is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) idle_since_unix_ms: Option<u64>,
}

/// What one account holds over the pool, counted in the transactions that open and release
/// sessions, so that a quota is kept pool-wide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) sessions: usize,
    pub(crate) listeners: usize,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A session of `nodes.len()` listeners, listener i on `nodes[i]`.
    pub(crate) fn record(uid: &str, nodes: &[&str]) -> PoolRecord {
        let mut session = crate::store::test_record(uid, 0);
        session.listeners = (0..nodes.len())
            .map(|i| SocketAddr::new([10, 0, 0, 1].into(), 5100 + i as u16))
            .collect();
        PoolRecord {
            session,
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            awaiting_hello: false,
            hello_deadline_unix: 0,
            account: "id:sub-1".into(),
            connection_quota: None,
            reserved: BTreeMap::new(),
        }
    }

    #[test]
    fn a_record_says_which_listeners_each_node_holds() {
        let record = record("u", &["a", "b", "a"]);
        let on_a: Vec<usize> = record.placed_on("a").map(|(i, _)| i).collect();
        assert_eq!(on_a, [0, 2]);
        let mut rated = record.clone();
        rated.session.rate = 1000;
        assert_eq!((rated.share_kbps("a"), rated.share_kbps("b")), (667, 334));
        assert_eq!(record.node_names(), ["a", "b"]);
        let text = serde_json::to_vec(&record).unwrap();
        assert_eq!(serde_json::from_slice::<PoolRecord>(&text).unwrap(), record);
    }
}
