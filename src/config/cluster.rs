//! `cluster:` in a gateway's file: the pool of gateways it joins, the same settings as the
//! `server --cluster` flags (which win over the file's).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// `cluster:` in the server's file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd's client URLs (`http://` or `https://`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<EtcdUrl>,
    /// This node's name in the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<PoolName>,
    /// The pool's name (several pools may share one etcd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolName>,
    /// The CA that signed etcd's certificate (PEM), for `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// This node's client certificate and key (PEM), when etcd asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Seconds the node's registration outlives its last renewal.
    #[serde(
        default,
        deserialize_with = "lease_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_secs: Option<u64>,
    /// Where a req's listeners go: `spread` or `local`.
    #[serde(
        default,
        deserialize_with = "placement",
        skip_serializing_if = "Option::is_none"
    )]
    pub placement: Option<String>,
}

impl ClusterConfig {
    pub fn is_empty(&self) -> bool {
        self == &ClusterConfig::default()
    }
}

/// The longest lease a node may ask for.
pub const MAX_LEASE_SECS: u64 = 3600;

/// A pool's or a node's name: 1 to 63 letters, digits, `.`, `-` or `_`, starting with a letter
/// or a digit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PoolName(String);

impl PoolName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PoolName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let good = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let first_good = s.starts_with(|c: char| c.is_ascii_alphanumeric());
        match first_good && s.len() <= 63 && s.chars().all(good) {
            true => Ok(PoolName(s.to_string())),
            false => Err(
                "a pool or node name is 1 to 63 letters, digits, '.', '-' or '_', starting \
                 with a letter or a digit"
                    .into(),
            ),
        }
    }
}

impl TryFrom<String> for PoolName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<PoolName> for String {
    fn from(name: PoolName) -> Self {
        name.0
    }
}

/// A URL of an etcd member's client port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EtcdUrl(String);

impl EtcdUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for EtcdUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s.trim())
            .map_err(|_| "an etcd URL looks like http://10.16.42.5:2379".to_string())?;
        match (url.scheme(), url.host_str()) {
            ("http" | "https", Some(_)) => Ok(EtcdUrl(s.trim().trim_end_matches('/').into())),
            _ => Err("an etcd URL is http://HOST:PORT or https://HOST:PORT".into()),
        }
    }
}

impl TryFrom<String> for EtcdUrl {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<EtcdUrl> for String {
    fn from(url: EtcdUrl) -> Self {
        url.0
    }
}

fn lease_secs<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    let secs = u64::deserialize(de)?;
    match (1..=MAX_LEASE_SECS).contains(&secs) {
        true => Ok(Some(secs)),
        false => Err(serde::de::Error::custom(format!(
            "lease_secs is 1 to {MAX_LEASE_SECS}"
        ))),
    }
}

fn placement<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let placement = String::deserialize(de)?;
    match placement.as_str() {
        "spread" | "local" => Ok(Some(placement)),
        _ => Err(serde::de::Error::custom(
            "placement is spread (over the pool's nodes) or local (on the node of the req)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_are_checked() {
        for good in ["gw-1", "a", "aps.beamline_2"] {
            assert!(good.parse::<PoolName>().is_ok(), "{good}");
        }
        for bad in ["", "-gw", "gw/1", "g w", &"x".repeat(64)] {
            assert!(bad.parse::<PoolName>().is_err(), "{bad}");
        }
        assert_eq!(
            "http://127.0.0.1:2379/"
                .parse::<EtcdUrl>()
                .unwrap()
                .as_str(),
            "http://127.0.0.1:2379"
        );
        assert!("etcd:2379".parse::<EtcdUrl>().is_err());
        assert!("unix:///run/etcd.sock".parse::<EtcdUrl>().is_err());
    }
}
