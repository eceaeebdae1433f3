//! The server's quotas as the file writes them (`quotas:`): what one identity (one client
//! network with authentication off) may hold at once, by default and for some identities or
//! Globus Groups. Every entry is checked as it is read, so a typo stops the server at start with
//! the line it is on; the server applies them (`server::quotas`).
//!
//! ```yaml
//! quotas:
//!   default: {sessions: 8, listeners: 32, connections: 256, max_rate: 10G}
//!   identities:
//!     alice@anl.gov: {sessions: 20, max_rate: 40G}
//!   groups:
//!     - {id: 6f1c0a3e-5b2d-4e8f-9a71-0c2d4e6f8a10, name: APS users, quota: {listeners: 64}}
//! ```

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use super::policy::{GlobusId, GroupRef, IdentityName};
use crate::session::{parse_bit_rate, BITS_PER_KB};

/// `quotas:` in the server's file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasConfig {
    /// What each identity may hold unless an override says otherwise (the `--quota-*` flags
    /// win over it).
    #[serde(default, skip_serializing_if = "QuotaLimits::is_empty")]
    pub default: QuotaLimits,
    /// Overrides for identities, by id or username; they win over group overrides.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identities: BTreeMap<IdentityName, QuotaLimits>,
    /// Overrides for the members of Globus Groups; a member of several gets the largest of
    /// each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupQuota>,
}

impl QuotasConfig {
    pub fn is_empty(&self) -> bool {
        self == &QuotasConfig::default()
    }

    /// Whether it names identities or groups, which only a server that checks tokens can tell.
    pub fn has_overrides(&self) -> bool {
        !(self.identities.is_empty() && self.groups.is_empty())
    }
}

/// Some or all of the quotas; what is not given comes from elsewhere (the default, the flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    /// Sessions held at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<NonZeroU32>,
    /// Listeners (ports) held at once, over all of the sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<NonZeroU32>,
    /// Relayed connections open at once, over all of the sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<NonZeroU32>,
    /// The highest rate one session may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<MaxRate>,
}

impl QuotaLimits {
    pub fn is_empty(&self) -> bool {
        self == &QuotaLimits::default()
    }
}

/// A group's override: `{id: ..., name: ..., quota: {...}}` (the name is how refusals call it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupQuota {
    pub id: GlobusId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub quota: QuotaLimits,
}

impl GroupQuota {
    pub fn group(&self) -> GroupRef {
        GroupRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// A rate quota in kb/s (the unit of `Request.rate`), not zero. Written as kb/s (`10000`) or
/// as bits per second with a unit (`10G`, `500M`), as `--rate` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RateValue", into = "u64")]
pub struct MaxRate(u64);

impl MaxRate {
    pub fn kbps(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for MaxRate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let kbps = parse_bit_rate(s)?.div_ceil(BITS_PER_KB);
        match kbps {
            0 => Err(
                "max_rate must be above 0: give kb/s (10000) or a rate with a unit (10G)".into(),
            ),
            kbps => Ok(MaxRate(kbps)),
        }
    }
}

/// How the file may write a rate: a bare number (kb/s) or text with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum RateValue {
    Kbps(u64),
    Text(String),
}

impl TryFrom<RateValue> for MaxRate {
    type Error = String;

    fn try_from(value: RateValue) -> Result<Self, String> {
        match value {
            RateValue::Kbps(kbps) => kbps.to_string().parse(),
            RateValue::Text(text) => text.parse(),
        }
    }
}

impl From<MaxRate> for u64 {
    fn from(rate: MaxRate) -> u64 {
        rate.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_kb_per_second_or_bits_per_second_with_a_unit() {
        let limits: QuotaLimits = serde_yaml::from_str("max_rate: 10G").unwrap();
        assert_eq!(limits.max_rate.unwrap().kbps(), 10_000_000);
        let limits: QuotaLimits = serde_yaml::from_str("max_rate: 2500").unwrap();
        assert_eq!(limits.max_rate.unwrap().kbps(), 2_500);
        for bad in ["max_rate: 0", "max_rate: fast", "max_rate: -1"] {
            assert!(serde_yaml::from_str::<QuotaLimits>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_quota_of_zero_or_an_unknown_key_is_refused() {
        let zero = serde_yaml::from_str::<QuotaLimits>("sessions: 0").unwrap_err();
        assert!(zero.to_string().contains("nonzero"), "{zero}");
        let typo = serde_yaml::from_str::<QuotaLimits>("session: 3").unwrap_err();
        assert!(
            typo.to_string().contains("unknown field `session`"),
            "{typo}"
        );
    }
}
