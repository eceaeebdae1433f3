//! How long a session of the pool lives: the lone server's lifetimes and timeouts
//! ([`crate::server::lifetimes`]), reckoned from the times in the session's record and from
//! the idle times its nodes report with their shares; and its release when one runs out, by
//! one node (the session's sweeper), in the same transaction as a release.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::records::remove;
use super::Pool;
use crate::cluster::{Mirror, PoolRecord, Versioned};
use crate::server::error::Error;
use crate::server::lifetimes::{from_unix_ms, later, Clocks, Lifetimes};
use crate::session::Expiry;
use crate::store::SessionRecord;

/// The clocks of a pooled session, from its record: its lifetime as its req's node granted it,
/// cut to this node's longest.
fn clocks(session: &SessionRecord, lifetimes: &Lifetimes) -> Clocks {
    let created_at = UNIX_EPOCH + Duration::from_secs(session.created_unix);
    let granted = session.expires_unix_ms.map(from_unix_ms);
    let expires_at = granted.unwrap_or_else(|| later(created_at, lifetimes.default));
    Clocks {
        created_at,
        expires_at: expires_at.min(later(created_at, lifetimes.max)),
        hello_at: session.hello_unix_ms.map(from_unix_ms),
        updated_at: session.updated_unix_ms.map(from_unix_ms),
    }
}

/// Since when none of the session's live nodes has had a connection of it open (None: one is
/// open), as their latest reports say; from its opening when no node has reported yet.
fn idle_since(uid: &str, record: &PoolRecord, pool: &Mirror) -> Option<SystemTime> {
    let created = UNIX_EPOCH + Duration::from_secs(record.session.created_unix);
    let shares = pool.shares.get(uid).into_iter().flatten();
    let live = shares.filter(|(node, _)| pool.nodes.contains_key(*node));
    live.map(|(_, share)| share.idle_since_unix_ms.map(from_unix_ms))
        .try_fold(created, |latest, idle| Some(latest.max(idle?)))
}

/// Whether `node` sweeps the session `record` (removes it when it expires or its req went
/// away): the node of its first listener, or every live node once that one is gone (the
/// transaction that removes it lets one of them do it).
pub(super) fn sweeps(node: &str, record: &PoolRecord, pool: &Mirror) -> bool {
    let first = record.nodes.first();
    first.is_some_and(|first| first == node || !pool.nodes.contains_key(first))
}

impl Pool {
    /// When the session `uid` expires if nothing changes, and why, as `pool` shows it.
    pub(super) fn expiry(
        &self,
        uid: &str,
        record: &PoolRecord,
        pool: &Mirror,
    ) -> (SystemTime, Expiry) {
        let clocks = clocks(&record.session, &self.lifetimes);
        clocks.expiry(idle_since(uid, record, pool), &self.lifetimes)
    }

    /// Releases the sessions this node sweeps whose lifetime or timeout ran out by `now`, as
    /// a release would (each node then resets its connections and closes its listeners); logs
    /// and counts each. A session waiting for its hello is its req's to end.
    pub(super) async fn expire_due(&self, now: SystemTime) {
        let due: Vec<(String, Versioned<PoolRecord>, Expiry)> = {
            let mirror = self.registry.mirror();
            (mirror.sessions.iter())
                .filter(|(_, r)| !r.value.awaiting_hello && sweeps(&self.node, &r.value, &mirror))
                .filter_map(|(uid, r)| {
                    let (at, by) = self.expiry(uid, &r.value, &mirror);
                    (at <= now).then(|| (uid.clone(), r.clone(), by))
                })
                .collect()
        };
        for (uid, judged, by) in due {
            // Only the record judged: one changed since (an update) is judged again next time.
            let unchanged = |current: &Versioned<PoolRecord>| match current.mod_revision
                == judged.mod_revision
            {
                true => Ok(()),
                false => Err(Error::NotFound(uid.clone())),
            };
            match remove(&self.registry, &uid, unchanged).await {
                Ok(removed) => {
                    let view = self.view_of(&uid, &removed, &self.registry.mirror());
                    self.expired.record(&view, by, &self.lifetimes);
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => self.duty_failed(|| {
                    format!("could not release expired session {uid:?}: {e}; retrying")
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{test_record as record, ShareRecord};
    use crate::server::lifetimes::unix_ms;

    /// A pool whose live nodes are `nodes`.
    fn live(nodes: &[&str]) -> Mirror {
        let mut pool = Mirror::default();
        for node in nodes {
            let info = serde_json::json!({"listener_ip": "10.0.0.1", "first_port": 1,
                "last_port": 2, "control": "", "lease": 1, "joined_unix": 0});
            (pool.nodes).insert(node.to_string(), serde_json::from_value(info).unwrap());
        }
        pool
    }

    fn share(idle_since_unix_ms: Option<u64>) -> ShareRecord {
        ShareRecord {
            idle_since_unix_ms,
            ..ShareRecord::default()
        }
    }

    #[test]
    fn a_session_is_idle_only_while_every_live_node_is_and_since_the_latest_of_them() {
        let mut pool = live(&["a", "b"]);
        let record = record("u", &["a", "b"]);
        let created = UNIX_EPOCH + Duration::from_secs(record.session.created_unix);
        assert_eq!(idle_since("u", &record, &pool), Some(created));
        let after = |secs: u64| unix_ms(created + Duration::from_secs(secs));
        let shares = pool.shares.entry("u".into()).or_default();
        shares.insert("a".into(), share(Some(after(5))));
        shares.insert("b".into(), share(Some(after(7))));
        let idle = |pool: &Mirror| idle_since("u", &record, pool).map(unix_ms);
        assert_eq!(idle(&pool), Some(after(7)));
        let shares = pool.shares.get_mut("u").unwrap();
        shares.insert("b".into(), share(None));
        assert_eq!(idle(&pool), None);
        // A node gone: its connections went with it.
        pool.nodes.remove("b");
        assert_eq!(idle(&pool), Some(after(5)));
    }

    #[test]
    fn the_first_listeners_node_sweeps_and_every_node_once_it_is_gone() {
        let mut pool = live(&["a"]);
        let record = record("u", &["a", "b"]);
        assert!(sweeps("a", &record, &pool));
        assert!(!sweeps("b", &record, &pool));
        pool.nodes.clear();
        assert!(sweeps("b", &record, &pool));
    }
}
