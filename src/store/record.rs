//! What the store keeps of a session: everything it needs to come back after a restart, in a
//! form that later versions can still read (new fields are optional, unknown ones are an error
//! only when the store's schema version is newer than ours).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::address::HostPort;
use crate::relay::RelayStats;
use crate::session::Role;

/// One session as stored, keyed by its uid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) uid: String,
    pub(crate) role: Role,
    /// The `sub` of the identity that opened it; None with authentication off.
    pub(crate) owner: Option<String>,
    /// How lists name the owner.
    pub(crate) owner_name: Option<String>,
    /// The address its req came from.
    pub(crate) opened_from: Option<IpAddr>,
    pub(crate) rate: i32,
    /// The networks its listeners admit; empty: any.
    pub(crate) allow_from: Vec<IpNet>,
    /// The addresses its listeners are bound to, in order.
    pub(crate) listeners: Vec<SocketAddr>,
    /// The hello's list (the producer's side).
    pub(crate) prod_listeners: Vec<HostPort>,
    /// Where listener i relays: `targets[i % len]`; empty until the update.
    pub(crate) targets: Vec<HostPort>,
    /// How its listeners cross the gateway-to-gateway hop now.
    pub(crate) hop: HopRecord,
    /// PROD: the identity its hop shows, once armed (kept when the hop is set plaintext).
    pub(crate) identity: Option<IdentityRecord>,
    /// When it was first opened, in seconds since the Unix epoch: its age counts across
    /// restarts.
    pub(crate) created_unix: u64,
    /// When its lifetime ends, in milliseconds since the Unix epoch, so that a restart takes
    /// nothing off it and adds nothing to it. None in a record written before lifetimes were.
    #[serde(default)]
    pub(crate) expires_unix_ms: Option<u64>,
    /// When its hello came (its update timeout counts from there), in milliseconds since the
    /// Unix epoch. None in a record written before lifetimes were.
    #[serde(default)]
    pub(crate) hello_unix_ms: Option<u64>,
    /// When its latest update came, in milliseconds since the Unix epoch; None: none has (or a
    /// record written before lifetimes were).
    #[serde(default)]
    pub(crate) updated_unix_ms: Option<u64>,
    /// Counters as of the last change, so that totals do not restart from zero.
    pub(crate) stats: RelayStats,
    /// Orders sessions for listing; kept so that list cursors survive a restart.
    pub(crate) generation: u64,
}

/// How a session's listeners treat the gateway-to-gateway hop.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum HopRecord {
    #[default]
    Plain,
    /// PROD: admit only CONS gateways that prove the session's [`IdentityRecord`] secret.
    Admit,
    /// CONS: the PROD certificate's SHA-256 and the secret to prove to it.
    Dial {
        certificate_sha256: Bytes,
        secret: Private,
    },
}

/// A PROD session's own certificate, its private key and the secret CONS proves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdentityRecord {
    pub(crate) certificate: Bytes,
    pub(crate) key: Private,
    pub(crate) secret: Private,
}

/// Bytes stored as base64.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bytes(pub(crate) Vec<u8>);

/// Key material: stored as base64 like [`Bytes`], never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Private(pub(crate) Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

impl fmt::Debug for Private {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

fn to_base64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&STANDARD.encode(bytes))
}

fn from_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    STANDARD.decode(text).map_err(serde::de::Error::custom)
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        to_base64(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_base64(deserializer).map(Bytes)
    }
}

impl Serialize for Private {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        to_base64(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Private {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_base64(deserializer).map(Private)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(uid: &str, generation: u64) -> SessionRecord {
        SessionRecord {
            uid: uid.into(),
            role: Role::Prod,
            owner: Some("sub-1".into()),
            owner_name: Some("alice@example.org".into()),
            opened_from: Some("127.0.0.1".parse().unwrap()),
            rate: 10_000,
            allow_from: vec!["10.0.0.0/8".parse().unwrap()],
            listeners: vec!["127.0.0.1:5100".parse().unwrap()],
            prod_listeners: vec!["10.0.0.5:5074".parse().unwrap()],
            targets: vec!["10.0.0.5:5074".parse().unwrap()],
            hop: HopRecord::Admit,
            identity: Some(IdentityRecord {
                certificate: Bytes(vec![1, 2, 3]),
                key: Private(vec![4, 5, 6]),
                secret: Private(vec![7; 32]),
            }),
            created_unix: 1_700_000_000,
            expires_unix_ms: Some(1_700_604_800_000),
            hello_unix_ms: Some(1_700_000_001_000),
            updated_unix_ms: Some(1_700_000_002_500),
            stats: RelayStats::default(),
            generation,
        }
    }

    #[test]
    fn a_record_survives_its_encoding() {
        let stored = record("u-1", 3);
        let text = serde_json::to_vec(&stored).unwrap();
        assert_eq!(
            serde_json::from_slice::<SessionRecord>(&text).unwrap(),
            stored
        );
    }

    #[test]
    fn a_record_from_before_lifetimes_reads_with_none_of_their_times() {
        let mut older = serde_json::to_value(record("u-1", 3)).unwrap();
        let fields = older.as_object_mut().unwrap();
        for field in ["expires_unix_ms", "hello_unix_ms", "updated_unix_ms"] {
            fields.remove(field).unwrap();
        }
        let read: SessionRecord = serde_json::from_value(older).unwrap();
        assert_eq!(
            (
                read.expires_unix_ms,
                read.hello_unix_ms,
                read.updated_unix_ms
            ),
            (None, None, None)
        );
        assert_eq!(read.uid, "u-1");
    }

    #[test]
    fn key_material_is_never_shown_by_debug() {
        let shown = format!("{:?}", record("u-1", 1));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("[7, 7"), "{shown}");
    }
}
