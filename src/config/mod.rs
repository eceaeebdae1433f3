//! The YAML file: auth server overrides, the server-to-scope map and the stored tokens; on a
//! gateway, its admins, access policy, quotas and pool.
//!
//! Parsing ([`Config::from_str`]) is kept apart from file I/O ([`file`]) so the format can be
//! tested from fixture files and so a corrupt file is reported before anything is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::scope::ScopeId;
use crate::secret::Secret;

mod auth_url;
mod cluster;
pub(crate) mod file;
mod policy;
mod quotas;
mod server_addr;
mod trusted;

pub(crate) use auth_url::{check_auth_url, pick_base_url};
pub use cluster::{ClusterConfig, EtcdUrl, PoolName, MAX_LEASE_SECS};
pub use policy::{DomainPattern, GlobusId, GroupRef, IdentityName, PolicyConfig};
pub use quotas::{GroupQuota, MaxRate, QuotaLimits, QuotasConfig};
pub use server_addr::ServerAddr;
pub(crate) use trusted::read_trusted;

/// Everything the file may hold. Unknown keys are errors so a typo is never silently ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the Globus Auth server (env `SCISTREAM_AUTH_URL` wins over it).
    #[serde(
        default,
        deserialize_with = "auth_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub auth_url: Option<String>,
    /// Client id of this native (public) app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_client_id: Option<String>,
    /// Server address (`host` or `host:port`) -> the scope its server expects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<ServerAddr, ScopeId>,
    /// Written by `login`, removed by `logout`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<ScopeId, TokenSet>,

    /// Server side: identities (token `sub`s) that see and release every session.
    #[serde(
        default,
        deserialize_with = "identities",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub admin_identities: Vec<String>,
    /// Server side: members of these Globus Groups see and release every session too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_groups: Vec<GroupRef>,
    /// Server side: who may use the gateway.
    #[serde(default, skip_serializing_if = "PolicyConfig::is_empty")]
    pub policy: PolicyConfig,
    /// Server side: what one identity may hold at once, by default and for some identities
    /// and groups.
    #[serde(default, skip_serializing_if = "QuotasConfig::is_empty")]
    pub quotas: QuotasConfig,
    /// Server side: base URL of the Globus Groups API (env `SCISTREAM_GROUPS_URL` wins).
    #[serde(
        default,
        deserialize_with = "auth_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub groups_url: Option<String>,
    /// Server side: the pool of gateways the server joins (`server --cluster` wins).
    #[serde(default, skip_serializing_if = "ClusterConfig::is_empty")]
    pub cluster: ClusterConfig,
}

/// The tokens obtained for one scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSet {
    pub access_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    pub expires_at: DateTime<Utc>,
    /// The scope string the auth server granted.
    pub scope: String,
}

impl TokenSet {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// Why a file's text is not a config: where, and what is wrong, without the file's values (a
/// malformed token entry must not print the token).
#[derive(Debug, thiserror::Error)]
#[error("{}{what}", self.location.map_or_else(String::new, |(l, c)| format!("at line {l} column {c}: ")))]
pub struct ParseError {
    location: Option<(usize, usize)>,
    what: String,
}

impl ParseError {
    /// Line and column (from 1) of the problem, when the parser knows them.
    pub fn location(&self) -> Option<(usize, usize)> {
        self.location
    }
}

impl From<serde_yaml::Error> for ParseError {
    fn from(err: serde_yaml::Error) -> Self {
        let text = err.to_string();
        // The location comes apart; the path before the message is made of the file's keys.
        let message = text.split(" at line ").next().unwrap_or_default();
        let message = match message.split_once(": ") {
            Some((path, rest)) if !path.contains(char::is_whitespace) => rest,
            _ => message,
        };
        ParseError {
            location: err.location().map(|l| (l.line(), l.column())),
            what: redacted(message),
        }
    }
}

/// `message` with every quoted value hidden: serde quotes values in "..." or '...', and keys in
/// `...`, of which only those that look like the format's own (a typo of one) are kept.
fn redacted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['"', '\'', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        let Some(len) = rest[start + 1..].find(quote) else {
            break;
        };
        let quoted = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        match quote == '`' && looks_like_a_key(quoted) {
            true => out.push_str(&rest[start..start + len + 2]),
            false => out.push_str("(value hidden)"),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn looks_like_a_key(name: &str) -> bool {
    name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Config {
    /// Parses the file's text; errors carry the line and column they were found at.
    #[allow(clippy::should_implement_trait)] // its error is a ParseError, which carries the location
    pub fn from_str(text: &str) -> Result<Self, ParseError> {
        // An empty file (or one holding only comments) is an empty config, not an error.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        Ok(serde_yaml::from_str(text)?)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a Config always serializes")
    }

    /// The scope mapped for a server address: `host:port` first, then `host`.
    pub(crate) fn scope_for(&self, s2cs: &ServerAddr) -> Option<&ScopeId> {
        self.servers
            .get(s2cs)
            .or_else(|| self.servers.get(&s2cs.host_only()))
    }
}

fn auth_url<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(de)?;
    check_auth_url(&url).map_err(serde::de::Error::custom)?;
    Ok(Some(url))
}

fn identities<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    let subs = Vec::<String>::deserialize(de)?;
    match subs.iter().any(|sub| sub.trim().is_empty()) {
        true => Err(serde::de::Error::custom(
            "admin_identities holds an empty entry: list each identity's sub",
        )),
        false => Ok(subs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lookup_tries_host_and_port_then_host() {
        let config = Config::from_str(
            "servers:\n  gw: 11111111-1111-1111-1111-111111111111\n  \
             gw:5001: 22222222-2222-2222-2222-222222222222\n",
        )
        .unwrap();
        let scope = |addr| {
            let addr = ServerAddr::parse(addr).unwrap();
            config.scope_for(&addr).map(ScopeId::as_str)
        };
        assert_eq!(
            scope("gw:5001"),
            Some("22222222-2222-2222-2222-222222222222")
        );
        assert_eq!(
            scope("gw:5000"),
            Some("11111111-1111-1111-1111-111111111111")
        );
        assert_eq!(scope("gw"), Some("11111111-1111-1111-1111-111111111111"));
        assert_eq!(scope("other:5000"), None);
    }

    #[test]
    fn round_trips_through_yaml() {
        let scope: ScopeId = crate::scope::DEFAULT_SCOPE.parse().unwrap();
        let mut config = Config::default();
        config.tokens.insert(
            scope.clone(),
            TokenSet {
                access_token: Secret::new("at"),
                refresh_token: Some(Secret::new("rt")),
                expires_at: "2026-12-01T10:00:00Z".parse().unwrap(),
                scope: scope.scistream_scope(),
            },
        );
        let yaml = config.to_yaml();
        assert!(yaml.contains("expires_at: 2026-12-01T10:00:00Z"), "{yaml}");
        assert_eq!(Config::from_str(&yaml).unwrap(), config);
    }
}
