//! A session's stored form, and taking sessions back after a restart: the same listeners,
//! targets, owner and hop identity; what can no longer be had is said, never silently dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

use super::{Entry, Sessions, Table};
use crate::relay::{HopMode, SessionRelay, Terms};
use crate::server::call::Caller;
use crate::server::lifetimes::{from_unix_ms, unix_ms, Clocks, Lifetimes};
use crate::session::Kbps;
use crate::store::{Bytes, Change, HopRecord, IdentityRecord, Private, SessionRecord, StoreError};
use crate::tls::hop::{HopCredential, HopDialer, HopIdentity};

/// What a start took back from the store.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    /// Sessions relaying again.
    pub(crate) sessions: usize,
    /// Their listeners that could not be bound again (marked lost).
    pub(crate) lost_listeners: usize,
    /// Sessions released because this server's `--allow-targets` no longer allows them.
    pub(crate) released: usize,
}

/// How a record keeps a hop.
pub(crate) fn hop_record(hop: &HopMode) -> HopRecord {
    match hop {
        HopMode::Plain => HopRecord::Plain,
        HopMode::Admit(_) => HopRecord::Admit,
        HopMode::Dial(dialer) => dial_record(dialer),
    }
}

/// How a record keeps the dialer of a CONS session's encrypted hop.
pub(crate) fn dial_record(dialer: &HopDialer) -> HopRecord {
    let credential = dialer.credential();
    HopRecord::Dial {
        certificate_sha256: Bytes(credential.certificate_sha256.to_vec()),
        secret: Private(credential.secret.expose().to_vec()),
    }
}

/// How a record keeps a PROD session's hop identity.
pub(crate) fn identity_record(identity: &HopIdentity) -> IdentityRecord {
    let (certificate, key) = identity.parts();
    IdentityRecord {
        certificate: Bytes(certificate.to_vec()),
        key: Private(key.to_vec()),
        secret: Private(identity.credential().secret.expose().to_vec()),
    }
}

/// The hop identity and the hop `record` keeps; why not, if they cannot be read back.
pub(crate) fn hop_of(
    record: &SessionRecord,
) -> Result<(Option<Arc<HopIdentity>>, HopMode), String> {
    let identity = record
        .identity
        .as_ref()
        .map(|i| HopIdentity::from_parts(i.certificate.0.clone(), i.key.0.clone(), &i.secret.0))
        .transpose()
        .map_err(|e| format!("its hop identity: {e}"))?;
    let hop = match &record.hop {
        HopRecord::Plain => HopMode::Plain,
        HopRecord::Admit => HopMode::Admit(
            identity
                .clone()
                .ok_or("an encrypted hop without its identity")?,
        ),
        HopRecord::Dial {
            certificate_sha256,
            secret,
        } => {
            let credential = HopCredential::from_parts(&certificate_sha256.0, &secret.0)
                .ok_or("a hop credential of the wrong length")?;
            HopMode::Dial(HopDialer::new(credential).map_err(|e| e.to_string())?)
        }
    };
    Ok((identity, hop))
}

impl Entry {
    /// The session as the store keeps it.
    pub(super) fn record(&self, uid: &str) -> SessionRecord {
        let hop = hop_record(&self.hop_mode);
        let identity = self.hop_identity.as_deref().map(identity_record);
        SessionRecord {
            uid: uid.to_string(),
            role: self.role,
            owner: self.owner.clone(),
            owner_name: self.owner_name.clone(),
            opened_from: self.opened_from,
            rate: self.rate,
            allow_from: self.allow_from.clone(),
            listeners: self.listeners.clone(),
            prod_listeners: self.prod_listeners.clone(),
            targets: self.targets.clone(),
            hop,
            identity,
            created_unix: unix_ms(self.clocks.created_at) / 1000,
            expires_unix_ms: Some(unix_ms(self.clocks.expires_at)),
            hello_unix_ms: self.clocks.hello_at.map(unix_ms),
            updated_unix_ms: self.clocks.updated_at.map(unix_ms),
            stats: self.relay.stats(),
            generation: self.generation,
        }
    }
}

/// Why a stored session cannot come back here.
struct Unwelcome(String);

impl Sessions {
    /// Takes back the stored sessions: each binds its listeners again (one that cannot is
    /// marked lost), relays to its targets with its hop identity, owner and rate. A session
    /// whose targets `--allow-targets` now forbids is released. A record that cannot be read
    /// back is damage: the start stops.
    pub(crate) async fn restore(
        &self,
        records: Vec<SessionRecord>,
    ) -> Result<Restored, StoreError> {
        let mut restored = Restored::default();
        for record in records {
            let uid = record.uid.clone();
            if let Err(Unwelcome(why)) = self.welcome(&record).await {
                tracing::warn!(event = "session_dropped", %uid, "not restored: {why}; released");
                let forgotten = self.lock().store.submit(Change::Remove(uid));
                forgotten.await?;
                restored.released += 1;
                continue;
            }
            restored.lost_listeners += self.take_back(record)?;
            restored.sessions += 1;
        }
        Ok(restored)
    }

    /// Whether the server's settings still allow `record`'s session.
    async fn welcome(&self, record: &SessionRecord) -> Result<(), Unwelcome> {
        for target in &record.targets {
            if let Err(refused) = self.policy.resolve(target).await {
                return Err(Unwelcome(format!("its target {target} {refused}")));
            }
        }
        Ok(())
    }

    /// Enters the session in the table with its listeners bound again; returns how many of
    /// them are lost.
    fn take_back(&self, record: SessionRecord) -> Result<usize, StoreError> {
        self.enter(record, bind_again)
    }

    /// Enters the session of `record` in the table, relaying again on the listeners that
    /// `listeners` gives it (with those it lost); returns how many it lost.
    pub(super) fn enter(
        &self,
        record: SessionRecord,
        listeners: impl FnOnce(
            &mut Table,
            &SessionRecord,
        ) -> (Vec<Option<TcpListener>>, Vec<SocketAddr>),
    ) -> Result<usize, StoreError> {
        let (identity, hop) = hop_of(&record).map_err(|detail| StoreError::Corrupt {
            path: "the session store".into(),
            detail: format!("session {:?}: {detail}", record.uid),
        })?;
        let mut table = self.lock();
        let rate = Kbps(u64::try_from(record.rate).unwrap_or_default());
        // A session admitted before keeps its place; its reservation is counted again.
        let grant = self.rates.regrant(rate, &mut table.reservations);
        let (listeners, lost) = listeners(&mut table, &record);
        // It holds its owner's places as it did: counted, never refused.
        let owner = Caller {
            sub: record.owner.clone(),
            username: record.owner_name.clone(),
            address: record.opened_from,
            ..Caller::default()
        };
        let allowance = self.quotas.of(&owner);
        let quota = (table.held).take(&owner, &allowance, record.listeners.len());
        let terms = Terms {
            rate: grant.limit,
            allow_from: record.allow_from.clone(),
            quota: Some(quota),
        };
        let relay = SessionRelay::resume(
            record.uid.clone(),
            listeners,
            self.policy.clone(),
            self.capacity.clone(),
            terms,
            record.stats,
        );
        relay.set_hop_mode(hop.clone());
        if !record.targets.is_empty() {
            relay.set_targets(record.targets.clone());
        }
        table.generations = table.generations.max(record.generation);
        let lost_count = lost.len();
        let entry = Entry {
            clocks: clocks_of(&record, &self.lifetimes),
            account: owner.account(),
            owner: record.owner,
            owner_name: record.owner_name,
            opened_from: record.opened_from,
            role: record.role,
            rate: record.rate,
            rate_policy: self.rates.policy,
            reserved: grant.reserved,
            allow_from: record.allow_from,
            generation: record.generation,
            listeners: record.listeners,
            lost,
            prod_listeners: record.prod_listeners,
            targets: record.targets,
            hello: None,
            hop_identity: identity,
            hop_mode: hop,
            relay,
        };
        table.sessions.insert(record.uid, entry);
        Ok(lost_count)
    }
}

/// The clocks of `record`'s session, taken back now: its lifetime as it was (cut to this
/// server's longest), its hello and update times as they were. A record from before lifetimes
/// gets the default lifetime, and its update timeout (or, relaying, its idle timeout) counts
/// from now. Its idle time counts from now too: its connections ended with the restart.
fn clocks_of(record: &SessionRecord, lifetimes: &Lifetimes) -> Clocks {
    let now = SystemTime::now();
    let at = |ms: Option<u64>| ms.map(from_unix_ms);
    let created_at = UNIX_EPOCH + Duration::from_secs(record.created_unix);
    let relaying = !record.targets.is_empty();
    Clocks {
        created_at,
        expires_at: lifetimes.regranted(created_at, at(record.expires_unix_ms), now),
        // Only sessions past their hello are stored.
        hello_at: Some(at(record.hello_unix_ms).unwrap_or(now)),
        updated_at: at(record.updated_unix_ms).or(relaying.then_some(now)),
    }
}

/// Binds `record`'s listeners again: each one, or None where it cannot be (then logged, and
/// listed in the second vector).
fn bind_again(
    table: &mut Table,
    record: &SessionRecord,
) -> (Vec<Option<TcpListener>>, Vec<SocketAddr>) {
    let mut lost = Vec::new();
    let listeners = record
        .listeners
        .iter()
        .map(|&addr| match table.ports.take_back(addr) {
            Ok(listener) => Some(listener),
            Err(why) => {
                tracing::warn!(event = "listener_lost", uid = %record.uid, listener = %addr,
                    "a restored session's listener could not be bound again: {why}");
                lost.push(addr);
                None
            }
        })
        .collect();
    (listeners, lost)
}
