//! The YAML file: auth server overrides, the server-to-scope map and the stored tokens.
//!
//! Parsing ([`Config::from_str`]) is kept apart from file I/O ([`file`]) so the format can be
//! tested from fixture files and so a corrupt file is reported before anything is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::ScopeId;
use crate::secret::Secret;

pub mod file;
mod server_addr;

pub use server_addr::ServerAddr;

/// Everything the file may hold. Unknown keys are errors so a typo is never silently ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the Globus Auth server (env `SCISTREAM_AUTH_URL` wins over it).
    #[serde(
        default,
        deserialize_with = "http_url",
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

impl Config {
    /// Parses the file's text; errors carry the line and column serde_yaml found them at.
    #[allow(clippy::should_implement_trait)] // returns serde_yaml's error, which carries the location
    pub fn from_str(text: &str) -> Result<Self, serde_yaml::Error> {
        // An empty file (or one holding only comments) is an empty config, not an error.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a Config always serializes")
    }

    /// The scope mapped for a server address: `host:port` first, then `host`.
    pub fn scope_for(&self, s2cs: &str) -> Option<&ScopeId> {
        let exact = ServerAddr::parse(s2cs).ok()?;
        self.servers
            .get(&exact)
            .or_else(|| self.servers.get(&exact.host_only()))
    }
}

fn http_url<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(de)?;
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Some(url))
    } else {
        Err(serde::de::Error::custom(format!(
            "auth_url '{url}' must start with https:// (or http:// for a local test server)"
        )))
    }
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
        let scope = |addr| config.scope_for(addr).map(ScopeId::as_str);
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
        let scope: ScopeId = crate::auth::DEFAULT_SCOPE.parse().unwrap();
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
