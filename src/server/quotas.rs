//! Quotas per identity (per client network with authentication off): the most sessions,
//! listeners and relayed connections one [`Account`] holds at once, and the highest rate one of
//! its sessions may ask for. [`Quotas::of`] says what a caller may hold (the default, or the
//! overrides of its identity or its groups); [`Holdings`] counts what each account holds, in
//! the session table, under the table's lock: a req is checked and counted in the same step as
//! its ports are reserved, so two reqs never both take the last place.
//!
//! The connection quota is kept by the relay ([`ConnectionQuota`], one per account, shared by
//! the account's sessions), which resets a connection past it at accept.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::call::{Account, Caller};
use crate::config::{GroupRef, IdentityName, QuotaLimits, QuotasConfig};
use crate::relay::ConnectionQuota;
use crate::session::Kbps;

/// What one account may hold at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub sessions: usize,
    /// Listeners (ports) over all of its sessions.
    pub listeners: usize,
    /// Relayed connections open at once over all of its sessions.
    pub connections: usize,
    /// The highest rate (kb/s) one of its sessions may ask for, when the rate is enforced;
    /// None: any.
    pub max_rate: Option<u64>,
}

impl Quota {
    /// The server's defaults: far above what a user's streams take (a few sessions of a few
    /// listeners each, a connection or a few per listener), so that only a runaway script or
    /// a forgotten loop meets them. An operator sharing a gateway among many sets lower ones.
    pub const DEFAULT: Quota = Quota {
        sessions: 100,
        listeners: 1000,
        connections: 4096,
        max_rate: None,
    };

    /// This quota with what `limits` gives in place of its own.
    pub fn with(self, limits: &QuotaLimits) -> Quota {
        let count = |n: Option<std::num::NonZeroU32>, or: usize| n.map_or(or, |n| n.get() as usize);
        Quota {
            sessions: count(limits.sessions, self.sessions),
            listeners: count(limits.listeners, self.listeners),
            connections: count(limits.connections, self.connections),
            max_rate: limits.max_rate.map(|r| r.kbps()).or(self.max_rate),
        }
    }

    /// The larger of each of two quotas (no rate cap is the largest).
    fn max(self, other: Quota) -> Quota {
        Quota {
            sessions: self.sessions.max(other.sessions),
            listeners: self.listeners.max(other.listeners),
            connections: self.connections.max(other.connections),
            max_rate: self.max_rate.zip(other.max_rate).map(|(a, b)| a.max(b)),
        }
    }
}

impl Default for Quota {
    fn default() -> Self {
        Quota::DEFAULT
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sessions, {} listeners, {} relayed connections",
            self.sessions, self.listeners, self.connections
        )?;
        match self.max_rate {
            Some(rate) => write!(f, ", at most {} per session", Kbps(rate)),
            None => Ok(()),
        }
    }
}

/// The server's quotas: its default and the file's overrides.
#[derive(Clone, Debug, Default)]
pub struct Quotas {
    default: Quota,
    identities: Vec<(IdentityName, QuotaLimits)>,
    groups: Vec<(GroupRef, QuotaLimits)>,
}

/// The quota one caller gets, and where it comes from (for refusals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub(crate) quota: Quota,
    /// ", set for this identity", ", as a member of group X", or "" for the default.
    origin: String,
}

impl Quotas {
    /// `default` for everyone (the flags over the file's `default:`), with `file`'s overrides.
    pub fn new(default: Quota, file: &QuotasConfig) -> Quotas {
        Quotas {
            default,
            identities: file.identities.clone().into_iter().collect(),
            groups: file.groups.iter().map(|g| (g.group(), g.quota)).collect(),
        }
    }

    pub fn default_quota(&self) -> Quota {
        self.default
    }

    /// How many identities and groups have quotas of their own.
    pub fn overrides(&self) -> (usize, usize) {
        (self.identities.len(), self.groups.len())
    }

    /// What `caller` may hold: its identity's override, else the largest of its groups', else
    /// the default (each quota on its own: an identity override that names only `sessions`
    /// keeps its groups' other quotas).
    pub(crate) fn of(&self, caller: &Caller) -> Allowance {
        let groups: Vec<&(GroupRef, QuotaLimits)> = (self.groups.iter())
            .filter(|(group, _)| caller.groups.contains(group.id.as_str()))
            .collect();
        let by_groups = groups
            .iter()
            .map(|(_, limits)| self.default.with(limits))
            .reduce(Quota::max);
        let identity = (self.identities.iter()).find(|(name, _)| names_caller(name, caller));
        let quota = by_groups.unwrap_or(self.default);
        match (identity, groups.as_slice()) {
            (Some((_, limits)), _) => Allowance {
                quota: quota.with(limits),
                origin: ", set for this identity".into(),
            },
            (None, []) => Allowance {
                quota,
                origin: String::new(),
            },
            (None, groups) => {
                let labels: Vec<&str> = groups.iter().map(|(g, _)| g.label()).collect();
                Allowance {
                    quota,
                    origin: format!(", as a member of group {}", labels.join(" and ")),
                }
            }
        }
    }
}

/// Whether a quota override's `name` (an id or a username) is the caller's identity.
fn names_caller(name: &IdentityName, caller: &Caller) -> bool {
    let name = name.as_str();
    let is = |s: &Option<String>| s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(name));
    is(&caller.sub) || is(&caller.username)
}

/// What one account holds now.
struct Held {
    sessions: usize,
    listeners: usize,
    /// Shared with the relays of its sessions, which count its connections in it.
    connections: Arc<ConnectionQuota>,
}

/// A req the caller's quota does not allow.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Exceeded {
    #[error(
        "{who} holds {held} of {max} sessions (its sessions quota{origin}): release one \
         (scistream req list shows them, scistream req release UID releases one), or ask the \
         gateway's operator for a larger quota"
    )]
    Sessions {
        who: String,
        held: usize,
        max: usize,
        origin: String,
    },
    #[error(
        "{who} holds {held} of {max} listeners (its listeners quota{origin}) and this req asks \
         for {wanted} more: release a session (scistream req list), {fewer}or ask the gateway's \
         operator for a larger quota"
    )]
    Listeners {
        who: String,
        held: usize,
        max: usize,
        wanted: usize,
        origin: String,
        /// "ask for fewer (--num-conn N), " when some are free.
        fewer: String,
    },
    #[error(
        "{who} may ask for at most {max} per session (its max_rate quota{origin}), and this \
         req asks for {asked}: ask for less (--rate {}), or ask the gateway's operator for a \
         larger quota",
        .max.0
    )]
    Rate {
        who: String,
        max: Kbps,
        asked: String,
        origin: String,
    },
}

/// Refuses a req for a session of a pool that would take `caller` past its quota, given what
/// its account holds over the whole pool (`sessions`, `listeners`: the pool's registry counts
/// them), as [`Holdings::check`] refuses one at a lone server.
pub(crate) fn check_pooled(
    quotas: &Quotas,
    caller: &Caller,
    (sessions, listeners): (usize, usize),
    wanted: usize,
    rate: Option<Kbps>,
) -> Result<(), Exceeded> {
    let allowance = quotas.of(caller);
    let held = Held {
        sessions,
        listeners,
        connections: ConnectionQuota::new(caller.account_name(), allowance.quota.connections),
    };
    let holdings = Holdings {
        by_account: HashMap::from([(caller.account(), held)]),
    };
    holdings.check(caller, &allowance, wanted, rate)
}

/// What each account holds, counted as sessions are registered and removed.
#[derive(Default)]
pub(crate) struct Holdings {
    by_account: HashMap<Account, Held>,
}

impl Holdings {
    /// Refuses a session of `listeners` listeners asking for `rate` (None where the server
    /// enforces no rate: `--rate-policy ignore`) that would take `caller` past `allowance`.
    pub(crate) fn check(
        &self,
        caller: &Caller,
        allowance: &Allowance,
        listeners: usize,
        rate: Option<Kbps>,
    ) -> Result<(), Exceeded> {
        let quota = allowance.quota;
        let (held_sessions, held_listeners) = self
            .by_account
            .get(&caller.account())
            .map_or((0, 0), |held| (held.sessions, held.listeners));
        let who = caller.account_name();
        let origin = allowance.origin.clone();
        if held_sessions >= quota.sessions {
            return Err(Exceeded::Sessions {
                who,
                held: held_sessions,
                max: quota.sessions,
                origin,
            });
        }
        if held_listeners + listeners > quota.listeners {
            let free = quota.listeners.saturating_sub(held_listeners);
            return Err(Exceeded::Listeners {
                who,
                held: held_listeners,
                max: quota.listeners,
                wanted: listeners,
                origin,
                fewer: match free {
                    0 => String::new(),
                    n => format!("ask for fewer (--num-conn {n}), "),
                },
            });
        }
        check_rate(quota.max_rate.map(Kbps), rate).map_err(|(max, asked)| Exceeded::Rate {
            who,
            max,
            asked,
            origin,
        })
    }

    /// Counts a session of `listeners` listeners as `caller`'s, and returns the connection
    /// quota its relay counts in (shared with the caller's other sessions).
    pub(crate) fn take(
        &mut self,
        caller: &Caller,
        allowance: &Allowance,
        listeners: usize,
    ) -> Arc<ConnectionQuota> {
        let max = allowance.quota.connections;
        let held = self
            .by_account
            .entry(caller.account())
            .or_insert_with(|| Held {
                sessions: 0,
                listeners: 0,
                connections: ConnectionQuota::new(caller.account_name(), max),
            });
        held.sessions += 1;
        held.listeners += listeners;
        // The latest req's lookup wins: a group joined or left counts from now on.
        held.connections.set_max(max);
        held.connections.clone()
    }

    /// Gives back what a session of `account` with `listeners` listeners held.
    pub(crate) fn give_back(&mut self, account: &Account, listeners: usize) {
        let Some(held) = self.by_account.get_mut(account) else {
            return;
        };
        held.sessions = held.sessions.saturating_sub(1);
        held.listeners = held.listeners.saturating_sub(listeners);
        if held.sessions == 0 {
            self.by_account.remove(account);
        }
    }
}

/// Refuses a rate above `max` where the rate is enforced (None: with `--rate-policy ignore` it
/// means nothing, so no cap applies); rate 0 asks for no limit, which is above any. On
/// refusal: the cap and the rate asked for, in words.
fn check_rate(max: Option<Kbps>, rate: Option<Kbps>) -> Result<(), (Kbps, String)> {
    let (Some(max), Some(rate)) = (max, rate) else {
        return Ok(());
    };
    match rate {
        Kbps(0) => Err((max, "no limit (rate 0)".into())),
        rate if rate > max => Err((max, rate.to_string())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const GROUP: &str = "6f1c0a3e-0000-4000-8000-000000000001";
    const OTHER_GROUP: &str = "6f1c0a3e-0000-4000-8000-000000000002";

    fn quotas(yaml: &str) -> Quotas {
        let file: QuotasConfig = serde_yaml::from_str(yaml).unwrap();
        let default = Quota::DEFAULT.with(&file.default);
        Quotas::new(default, &file)
    }

    fn alice(groups: &[&str]) -> Caller {
        Caller {
            sub: Some("a11ce".into()),
            username: Some("alice@anl.gov".into()),
            groups: Arc::new(groups.iter().map(|g| g.to_string()).collect::<HashSet<_>>()),
            ..Caller::default()
        }
    }

    fn from(address: &str) -> Caller {
        Caller {
            address: Some(address.parse().unwrap()),
            ..Caller::default()
        }
    }

    #[test]
    fn an_identity_override_wins_and_groups_give_the_largest_of_each() {
        let quotas = quotas(&format!(
            "default: {{sessions: 2, listeners: 8}}\n\
             identities:\n  ALICE@anl.gov: {{sessions: 5}}\n\
             groups:\n  - {{id: {GROUP}, name: APS users, quota: {{sessions: 3, listeners: 4, max_rate: 1G}}}}\n  \
               - {{id: {OTHER_GROUP}, quota: {{listeners: 16, max_rate: 2G}}}}\n"
        ));
        let nobody = quotas.of(&from("192.0.2.1"));
        assert_eq!((nobody.quota.sessions, nobody.quota.listeners), (2, 8));
        assert_eq!(nobody.origin, "");

        let bob = Caller {
            sub: Some("b0b".into()),
            username: None,
            ..alice(&[GROUP, OTHER_GROUP])
        };
        let both = quotas.of(&bob);
        assert_eq!((both.quota.sessions, both.quota.listeners), (3, 16));
        assert_eq!(both.quota.max_rate, Some(2_000_000));
        assert_eq!(
            both.origin,
            format!(", as a member of group APS users and {OTHER_GROUP}")
        );

        let alice = quotas.of(&alice(&[GROUP]));
        assert_eq!((alice.quota.sessions, alice.quota.listeners), (5, 4));
        assert_eq!(alice.origin, ", set for this identity");
    }

    #[test]
    fn each_quota_refuses_at_its_limit_and_admits_again_after_a_give_back() {
        let quota = Quota {
            sessions: 2,
            listeners: 3,
            connections: 1,
            max_rate: Some(1_000),
        };
        let allowance = Allowance {
            quota,
            origin: String::new(),
        };
        let caller = from("192.0.2.1");
        let limit = Some(Kbps(1_000));
        let mut holdings = Holdings::default();
        holdings.check(&caller, &allowance, 2, limit).unwrap();
        holdings.take(&caller, &allowance, 2);
        let listeners = holdings.check(&caller, &allowance, 2, limit).unwrap_err();
        assert_eq!(
            listeners.to_string(),
            "address 192.0.2.1 holds 2 of 3 listeners (its listeners quota) and this req asks \
             for 2 more: release a session (scistream req list), ask for fewer (--num-conn 1), \
             or ask the gateway's operator for a larger quota"
        );
        holdings.take(&caller, &allowance, 1);
        let sessions = holdings.check(&caller, &allowance, 1, limit).unwrap_err();
        assert!(
            sessions.to_string().starts_with(
                "address 192.0.2.1 holds 2 of 2 sessions (its sessions quota): release one"
            ),
            "{sessions}"
        );
        // Another address is another account.
        holdings
            .check(&from("192.0.2.2"), &allowance, 1, limit)
            .unwrap();
        holdings.give_back(&caller.account(), 2);
        holdings.check(&caller, &allowance, 2, limit).unwrap();
        holdings.give_back(&caller.account(), 1);
        assert!(holdings.by_account.is_empty());
    }

    #[test]
    fn the_rate_cap_applies_only_where_the_rate_is_enforced() {
        let max = Some(Kbps(1_000));
        assert!(check_rate(max, Some(Kbps(1_000))).is_ok());
        let (_, asked) = check_rate(max, Some(Kbps(2_000))).unwrap_err();
        assert_eq!(asked, "2000 kb/s (2 Mbit/s)");
        let (_, unlimited) = check_rate(max, Some(Kbps(0))).unwrap_err();
        assert_eq!(unlimited, "no limit (rate 0)");
        assert!(check_rate(max, None).is_ok());
        assert!(check_rate(None, Some(Kbps(0))).is_ok());
    }

    #[test]
    fn every_req_sets_the_connection_quota_its_sessions_share() {
        let mut holdings = Holdings::default();
        let caller = alice(&[]);
        let small = Allowance {
            quota: Quota {
                connections: 1,
                ..Quota::DEFAULT
            },
            origin: String::new(),
        };
        let first = holdings.take(&caller, &small, 1);
        let larger = Allowance {
            quota: Quota::DEFAULT,
            ..small
        };
        let second = holdings.take(&caller, &larger, 1);
        assert_eq!(*first, *second);
        assert_eq!(first.max(), Quota::DEFAULT.connections);
    }
}
