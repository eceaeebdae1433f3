//! What a session logs when it turns connections away: a flood of connections must not become
//! a flood of log lines. Every one is counted in the [`Capacity`]; a run of rejections for one
//! reason logs one warning, and refused hop connections are logged at most every
//! [`THROTTLE_INTERVAL`], with how many there were.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::admission::ConnectionQuota;
use super::capacity::{Capacity, Rejection};
use crate::logging::{Throttle, THROTTLE_INTERVAL};

/// A session's runs of rejected connections, per reason, so that a burst is logged once, not
/// per client.
#[derive(Default)]
pub(super) struct Shedding {
    rejected: [AtomicU64; Rejection::ALL.len()],
    hop_refusals: Mutex<Throttle>,
}

impl Shedding {
    /// Counts a connection from `source` reset for `reason`; warns if it starts a burst.
    pub(super) fn rejected(&self, uid: &str, reason: Rejection, source: IpAddr, terms: Held<'_>) {
        terms.capacity.count_rejection(reason);
        if self.rejected[reason as usize].fetch_add(1, Ordering::Relaxed) == 0 {
            warn_rejected(uid, reason, source, terms);
        }
    }

    /// A connection relays again: the bursts, if any, are over.
    pub(super) fn relaying(&self, uid: &str) {
        let rejected: u64 = (self.rejected.iter())
            .map(|n| n.swap(0, Ordering::Relaxed))
            .sum();
        if rejected > 0 {
            tracing::info!(%uid, rejected, "accepting connections again");
        }
    }

    /// Counts a connection to an encrypted PROD listener that did not prove the secret.
    pub(super) fn hop_refused(
        &self,
        uid: &str,
        peer: SocketAddr,
        refusal: &dyn std::fmt::Display,
        capacity: &Capacity,
    ) {
        capacity.hop_rejected();
        let mut throttle = self.hop_refusals.lock().unwrap_or_else(|e| e.into_inner());
        let Some(refused) = throttle.count() else {
            return;
        };
        tracing::warn!(
            event = "hop_rejected",
            %uid,
            %peer,
            refused,
            "refused connections to a PROD listener that did not prove the session's secret \
             (the latest, from this peer: {refusal}); logged at most every {}s",
            THROTTLE_INTERVAL.as_secs()
        );
    }
}

/// What a session is held to: the server's capacity, and its owner's connection quota.
#[derive(Clone, Copy)]
pub(super) struct Held<'a> {
    pub(super) capacity: &'a Capacity,
    pub(super) quota: Option<&'a ConnectionQuota>,
}

fn warn_rejected(uid: &str, reason: Rejection, source: IpAddr, held: Held<'_>) {
    let (limits, shares) = (held.capacity.limits(), held.capacity.shares());
    let reason_label = reason.as_str();
    match reason {
        Rejection::ConnectionLimit => tracing::warn!(
            %uid,
            reason = reason_label,
            limit = limits.max_connections,
            "the relay holds its --max-connections: new connections are reset until some close"
        ),
        Rejection::FdLimit => tracing::warn!(
            %uid,
            reason = reason_label,
            "out of file descriptors: new connections are reset until some close; \
             raise the open-file limit (LimitNOFILE=) or lower --max-connections"
        ),
        Rejection::Source => tracing::warn!(
            %uid,
            reason = reason_label,
            %source,
            "a connection from outside the session's allowed networks (req --allow-from, \
             server --listener-allow-from) was reset"
        ),
        Rejection::SourceLimit => tracing::warn!(
            %uid,
            reason = reason_label,
            %source,
            limit = shares.per_source_of(limits.max_connections),
            "one source holds its share of the relay (--max-connections-per-source): its new \
             connections are reset until some of its own close"
        ),
        Rejection::SessionLimit => tracing::warn!(
            %uid,
            reason = reason_label,
            limit = shares.per_session,
            "the session holds its --max-session-connections: its new connections are reset \
             until some close"
        ),
        Rejection::SessionRate => tracing::warn!(
            %uid,
            reason = reason_label,
            limit = shares.session_rate,
            "the session opens connections faster than --max-session-connection-rate per \
             second (two gateways relaying into each other look like this): new ones are reset"
        ),
        Rejection::ProvingLimit => tracing::warn!(
            %uid,
            reason = reason_label,
            %source,
            limit = shares.proving,
            limit_per_source = shares.proving_per_source,
            "too many connections to encrypted PROD listeners have not proven their session's \
             secret yet: new ones are reset until some prove it or time out"
        ),
        Rejection::Quota => tracing::warn!(
            %uid,
            reason = reason_label,
            owner = held.quota.map(ConnectionQuota::owner),
            limit = held.quota.map(ConnectionQuota::max),
            "the session's owner holds its connection quota (--quota-connections, or its \
             override in quotas:) over all of its sessions: its new connections are reset until \
             some of its own close"
        ),
    }
}
