//! A session as both sides see it: what `req list` / `req status` show, and its wire form.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pb;
use crate::relay::{BitRate, RelayStats, Throughput};

/// `Request.rate` is in kb/s: 1000 bits per second.
pub const BITS_PER_KB: u64 = 1000;

/// A rate as flags and the server's file take one: kb/s (`Request.rate`'s unit, as upstream's
/// `--rate 10000`), or bits per second with a decimal unit: `500M`, `2.5G` (also `500Mbit/s`,
/// `500Mbps`). In bits per second.
pub fn parse_bit_rate(value: &str) -> Result<u64, String> {
    const UNITS: [(&str, f64); 4] = [("k", 1e3), ("m", 1e6), ("g", 1e9), ("t", 1e12)];
    let lower = value.trim().to_ascii_lowercase();
    let bare = ["bit/s", "bps", "b/s"]
        .iter()
        .find_map(|suffix| lower.strip_suffix(suffix))
        .unwrap_or(&lower);
    let (number, scale) = match UNITS.iter().find(|(unit, _)| bare.ends_with(unit)) {
        Some((unit, scale)) => (&bare[..bare.len() - unit.len()], *scale),
        None if bare.len() == lower.len() => (bare, BITS_PER_KB as f64),
        None => {
            return Err(format!(
                "{value:?}: give a unit K, M, G or T before {:?}",
                &lower[bare.len()..]
            ))
        }
    };
    let bits = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| (n * scale).round())
        .ok_or_else(|| {
            format!("{value:?} is not a rate: give kb/s (10000) or bits per second with a unit (500M, 2G)")
        })?;
    match bits < u64::MAX as f64 {
        true => Ok(bits as u64),
        false => Err(format!("{value:?} is too large a rate")),
    }
}

/// A rate in kb/s, the unit of the protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Kbps(pub(crate) u64);

impl Kbps {
    pub(crate) fn of(rate: BitRate) -> Kbps {
        Kbps(rate.bits_per_sec() / BITS_PER_KB)
    }

    pub(crate) fn bit_rate(self) -> Option<BitRate> {
        BitRate::new(self.0.saturating_mul(BITS_PER_KB))
    }
}

impl fmt::Display for Kbps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bit_rate() {
            Some(rate) => write!(f, "{} kb/s ({rate})", self.0),
            None => f.write_str("0 kb/s"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Listeners lost in a restart, or on a node gone from the pool (see the proto); shown
    /// only when there are some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) lost_listeners: Vec<String>,
    /// In a pool: the node holding each listener; empty on a lone server.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) listener_nodes: Vec<String>,
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
            lost_listeners: view.lost_listeners,
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
            listener_nodes: view.listener_nodes,
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
            lost_listeners: info.lost_listeners,
            listener_nodes: info.listener_nodes,
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

    #[test]
    fn a_bare_rate_is_kb_per_second_and_units_are_bits_per_second() {
        assert_eq!(parse_bit_rate("10000"), Ok(10_000_000));
        assert_eq!(parse_bit_rate("500M"), Ok(500_000_000));
        assert_eq!(parse_bit_rate("2g"), Ok(2_000_000_000));
        assert_eq!(parse_bit_rate("2.5Gbit/s"), Ok(2_500_000_000));
        assert_eq!(parse_bit_rate("40Gbps"), Ok(40_000_000_000));
        assert_eq!(parse_bit_rate("0"), Ok(0));
        for bad in [
            "",
            "fast",
            "-1",
            "1X",
            "5 mbit/s/s",
            "NaN",
            "inf",
            "1e30T",
            "10bps",
        ] {
            assert!(parse_bit_rate(bad).is_err(), "{bad:?} accepted");
        }
    }

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
            lost_listeners: vec![],
            listener_nodes: vec!["gw-1".into()],
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
