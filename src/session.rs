//! A session as both sides see it: what `req list` / `req status` show, and its wire form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::pb;
use crate::relay::{RelayStats, Throughput};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) enum Role {
    #[serde(rename = "PROD")]
    Prod,
    #[serde(rename = "CONS")]
    Cons,
}

impl Role {
    pub(crate) fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_uppercase().as_str() {
            "PROD" => Some(Role::Prod),
            "CONS" => Some(Role::Cons),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Prod => "PROD",
            Role::Cons => "CONS",
        }
    }
}

/// Where a session is between its req and its release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) enum State {
    /// The req is waiting for the hello that names the producer's side.
    #[serde(rename = "awaiting hello")]
    AwaitingHello,
    /// Listeners are bound, but no update has given them targets yet.
    #[serde(rename = "awaiting update")]
    AwaitingUpdate,
    #[serde(rename = "relaying")]
    Relaying,
}

impl State {
    const ALL: [State; 3] = [State::AwaitingHello, State::AwaitingUpdate, State::Relaying];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::AwaitingHello => "awaiting hello",
            State::AwaitingUpdate => "awaiting update",
            State::Relaying => "relaying",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// Why a server releases a session that nobody released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Expiry {
    /// It reached its lifetime (asked for, or the server's default; capped by the server).
    Lifetime,
    /// No relayed connection was open for the server's `--session-idle-timeout`.
    IdleTimeout,
    /// It got its hello but no update within the server's `--update-timeout`.
    UpdateTimeout,
}

impl Expiry {
    pub(crate) const ALL: [Expiry; 3] =
        [Expiry::Lifetime, Expiry::IdleTimeout, Expiry::UpdateTimeout];

    /// Its name on the wire, in logs and in the metric's `reason` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Expiry::Lifetime => "lifetime",
            Expiry::IdleTimeout => "idle_timeout",
            Expiry::UpdateTimeout => "update_timeout",
        }
    }

    fn parse(s: &str) -> Option<Expiry> {
        Expiry::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// When a session will be released if nothing changes, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Expires {
    pub(crate) at: DateTime<Utc>,
    pub(crate) by: Expiry,
}

impl Expires {
    /// At `at` (whole seconds are what the wire carries).
    pub(crate) fn new(at: SystemTime, by: Expiry) -> Expires {
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Expires {
            at: DateTime::from(UNIX_EPOCH + Duration::from_secs(secs)),
            by,
        }
    }

    fn unix_secs(&self) -> u64 {
        u64::try_from(self.at.timestamp()).unwrap_or_default()
    }
}

/// One session of a server's table. Listener i relays to `targets[i % targets.len()]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct SessionView {
    pub(crate) uid: String,
    pub(crate) role: Role,
    /// The username of the identity that opened it; None with authentication off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// kb/s, as asked for; `rate_policy` says what the server does with it ("" from servers
    /// that predate it).
    pub(crate) rate: i32,
    pub(crate) rate_policy: String,
    pub(crate) throughput: Throughput,
    /// The networks its listeners admit; empty: any.
    pub(crate) allow_from: Vec<String>,
    pub(crate) state: State,
    pub(crate) listeners: Vec<String>,
    pub(crate) prod_listeners: Vec<String>,
    pub(crate) targets: Vec<String>,
    pub(crate) age_secs: u64,
    /// None from servers that predate expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<Expires>,
    pub(crate) stats: RelayStats,
}

impl From<SessionView> for pb::SessionInfo {
    fn from(view: SessionView) -> Self {
        pb::SessionInfo {
            uid: view.uid,
            role: view.role.as_str().into(),
            rate: view.rate,
            state: view.state.as_str().into(),
            listeners: view.listeners,
            prod_listeners: view.prod_listeners,
            targets: view.targets,
            age_secs: view.age_secs,
            connections_active: view.stats.connections_active,
            connections_total: view.stats.connections_total,
            bytes_to_target: view.stats.bytes_to_target,
            bytes_from_target: view.stats.bytes_from_target,
            rate_policy: view.rate_policy,
            throughput_to_target: view.throughput.to_target_bps,
            throughput_from_target: view.throughput.from_target_bps,
            measured_ms: view.throughput.over_ms,
            allow_from: view.allow_from,
            owner: view.owner.unwrap_or_default(),
            expires_at_unix: view.expires.map_or(0, |e| e.unix_secs()),
            expires_by: view
                .expires
                .map(|e| e.by.as_str().into())
                .unwrap_or_default(),
        }
    }
}

impl TryFrom<pb::SessionInfo> for SessionView {
    type Error = anyhow::Error;

    fn try_from(info: pb::SessionInfo) -> anyhow::Result<Self> {
        let unknown = |what: &str, value: &str| {
            anyhow::anyhow!(
                "the server reported session {} with an unknown {what} {value:?}; \
                 upgrade this scistream to the server's version",
                info.uid
            )
        };
        let role = Role::parse(&info.role).ok_or_else(|| unknown("role", &info.role))?;
        let state = State::parse(&info.state).ok_or_else(|| unknown("state", &info.state))?;
        let expires = match (info.expires_at_unix, info.expires_by.as_str()) {
            (0, _) => None,
            (secs, by) => Some(Expires::new(
                UNIX_EPOCH + Duration::from_secs(secs),
                Expiry::parse(by).ok_or_else(|| unknown("expiry", by))?,
            )),
        };
        Ok(SessionView {
            role,
            owner: Some(info.owner).filter(|o| !o.is_empty()),
            state,
            rate: info.rate,
            throughput: Throughput {
                to_target_bps: info.throughput_to_target,
                from_target_bps: info.throughput_from_target,
                over_ms: info.measured_ms,
            },
            age_secs: info.age_secs,
            expires,
            stats: RelayStats {
                bytes_to_target: info.bytes_to_target,
                bytes_from_target: info.bytes_from_target,
                connections_active: info.connections_active,
                connections_total: info.connections_total,
            },
            uid: info.uid,
            listeners: info.listeners,
            prod_listeners: info.prod_listeners,
            targets: info.targets,
            rate_policy: info.rate_policy,
            allow_from: info.allow_from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: State) -> SessionView {
        SessionView {
            uid: "u-1".into(),
            role: Role::Cons,
            owner: Some("alice@example.org".into()),
            rate: 10,
            rate_policy: "limit".into(),
            throughput: Throughput {
                to_target_bps: 5,
                from_target_bps: 6,
                over_ms: 1_000,
            },
            allow_from: vec!["10.0.0.0/8".into()],
            state,
            listeners: vec!["127.0.0.1:5100".into()],
            prod_listeners: vec![],
            targets: vec!["127.0.0.2:5100".into()],
            age_secs: 7,
            expires: Some(Expires::new(
                UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                Expiry::IdleTimeout,
            )),
            stats: RelayStats {
                bytes_to_target: 1,
                bytes_from_target: 2,
                connections_active: 3,
                connections_total: 4,
            },
        }
    }

    #[test]
    fn every_state_survives_the_wire() {
        for state in State::ALL {
            let sent = view(state);
            let received = SessionView::try_from(pb::SessionInfo::from(sent.clone())).unwrap();
            assert_eq!(received, sent);
        }
    }

    #[test]
    fn every_expiry_survives_the_wire_and_an_older_server_sends_none() {
        for by in Expiry::ALL {
            let sent = SessionView {
                expires: Some(Expires::new(SystemTime::now(), by)),
                ..view(State::Relaying)
            };
            let received = SessionView::try_from(pb::SessionInfo::from(sent.clone())).unwrap();
            assert_eq!(received, sent);
        }
        let older = pb::SessionInfo {
            expires_at_unix: 0,
            expires_by: String::new(),
            ..pb::SessionInfo::from(view(State::Relaying))
        };
        assert_eq!(SessionView::try_from(older).unwrap().expires, None);
    }

    #[test]
    fn an_unknown_state_names_the_session_and_the_fix() {
        let mut info = pb::SessionInfo::from(view(State::Relaying));
        info.state = "paused".into();
        let err = SessionView::try_from(info).unwrap_err().to_string();
        assert!(err.contains("u-1") && err.contains("\"paused\"") && err.contains("upgrade"));
    }
}
