//! The handlers of the `Control` service, one per RPC and named after it: each validates its
//! message, hands it to the session table, and logs the session event it made (with the uid
//! and the caller's address). The `Service` (service.rs) gives each its [`Call`],
//! logs its failure, and [`replies`](super::replies) counts it.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;

use super::call::Call;
use super::error::Error;
use super::sessions::{NewSession, Relaying};
use super::table::Table;
use crate::address::{self, HostPort};
use crate::limits::{check_uid, LIST_PAGE_BYTES};
use crate::pb;
use crate::quote::quote;
use crate::relay::{HopDialer, TargetPolicy};
use crate::session::Role;
use crate::tls::hop::{HopCredential, CREDENTIAL_LEN};

/// The most networks one req may restrict its listeners to.
const MAX_ALLOW_FROM: usize = 64;

/// The longest `update` waits for its targets' names to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Control {
    pub(crate) sessions: Table,
    pub(crate) max_conn: usize,
    /// Where sessions may relay.
    pub(crate) policy: Arc<TargetPolicy>,
}

/// The dialer of a credential as a client sent it, once both parts have the right length.
fn hop_dialer(credential: &pb::HopCredential) -> Result<Arc<HopDialer>, Error> {
    let parsed = HopCredential::from_parts(&credential.certificate_sha256, &credential.secret)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the hop credential is malformed: certificate_sha256 and secret must be \
                 {CREDENTIAL_LEN} bytes each, as the PROD gateway's hop call returns them"
            ))
        })?;
    HopDialer::new(parsed).map_err(|e| Error::HopSetup(e.to_string()))
}

/// The networks of a req's `allow_from`, at most [`MAX_ALLOW_FROM`].
fn allow_from(networks: &[String]) -> Result<Vec<ipnet::IpNet>, Error> {
    if networks.len() > MAX_ALLOW_FROM {
        return Err(Error::InvalidArgument(format!(
            "allow_from has {} networks: at most {MAX_ALLOW_FROM}",
            networks.len()
        )));
    }
    let parse = |n: &String| address::parse_network(n).map_err(|e| format!("allow_from: {e}"));
    networks
        .iter()
        .map(parse)
        .collect::<Result<_, _>>()
        .map_err(Error::InvalidArgument)
}

fn require_uid(uid: &str) -> Result<(), Error> {
    check_uid(uid).map_err(Error::InvalidArgument)
}

impl Control {
    pub(crate) async fn req(&self, call: &Call, r: &pb::Request) -> Result<pb::Response, Error> {
        let new = self.validate(r)?;
        let caller = &call.caller;
        tracing::info!(event = call.rpc.as_str(), uid = %r.uid, role = new.role.as_str(),
            num_conn = r.num_conn, rate = r.rate, allow_from = new.allow_from.len(),
            lifetime_secs = r.lifetime_secs,
            owner = caller.sub.as_deref(),
            username = caller.username.as_deref(), peer = %call.peer,
            "req received, waiting for its hello");
        let (listeners, prod_listeners) = self.sessions.create(new, caller).await?;
        let prod_listeners = address::to_strings(&prod_listeners);
        tracing::debug!(uid = %r.uid, listeners = %listeners.join(","),
            prod_listeners = %prod_listeners.join(","), peer = %call.peer, "req answered");
        Ok(pb::Response {
            listeners,
            prod_listeners,
        })
    }

    pub(crate) async fn hello(&self, call: &Call, h: &pb::Hello) -> Result<pb::AppResponse, Error> {
        require_uid(&h.uid)?;
        let prod_listeners =
            address::parse_list("prod_listeners", &h.prod_listeners, self.max_conn)
                .map_err(Error::InvalidArgument)?;
        // The parsed entries, trimmed: the raw ones may carry a newline.
        let shown = address::joined(&prod_listeners);
        let listeners = self
            .sessions
            .hello(&h.uid, prod_listeners, &call.caller)
            .await?;
        tracing::info!(event = call.rpc.as_str(), uid = %h.uid, role = %quote(&h.role),
            prod_listeners = %shown, peer = %call.peer, "hello delivered");
        Ok(pb::AppResponse {
            message: "Hello message sent successfully".into(),
            listeners,
        })
    }

    pub(crate) async fn update(
        &self,
        call: &Call,
        u: &pb::UpdateTargets,
    ) -> Result<pb::Response, Error> {
        self.retarget(call, &u.uid, &u.remote_listeners, None).await
    }

    pub(crate) async fn update_hop(
        &self,
        call: &Call,
        u: &pb::HopUpdate,
    ) -> Result<pb::Response, Error> {
        let credential = u.credential.clone().unwrap_or_default();
        self.retarget(call, &u.uid, &u.remote_listeners, Some(&credential))
            .await
    }

    pub(crate) async fn hop(
        &self,
        call: &Call,
        r: &pb::HopRequest,
    ) -> Result<pb::HopCredential, Error> {
        require_uid(&r.uid)?;
        let credential = (self.sessions)
            .arm_hop(&r.uid, r.plaintext, &call.caller)
            .await?;
        tracing::info!(event = call.rpc.as_str(), uid = %r.uid,
            encrypted = credential.is_some(), peer = %call.peer, "hop set");
        Ok(
            credential.map_or_else(Default::default, |c| pb::HopCredential {
                certificate_sha256: c.certificate_sha256.to_vec(),
                secret: c.secret.expose().to_vec(),
            }),
        )
    }

    pub(crate) async fn release(
        &self,
        call: &Call,
        r: &pb::Release,
    ) -> Result<pb::Response, Error> {
        require_uid(&r.uid)?;
        let released = self.sessions.release(&r.uid, &call.caller).await?;
        let s = released.stats;
        tracing::info!(event = call.rpc.as_str(), uid = %r.uid, peer = %call.peer,
            bytes_to_target = s.bytes_to_target, bytes_from_target = s.bytes_from_target,
            connections = s.connections_total, "released");
        Ok(pb::Response {
            listeners: released.listeners,
            prod_listeners: released.targets,
        })
    }

    pub(crate) async fn status(
        &self,
        call: &Call,
        r: &pb::StatusRequest,
    ) -> Result<pb::SessionInfo, Error> {
        require_uid(&r.uid)?;
        Ok(self.sessions.view(&r.uid, &call.caller).await?.into())
    }

    /// One page of sessions after the `page_token` cursor, at most [`LIST_PAGE_BYTES`] (or one
    /// session, if a single one is larger), with the cursor of the next page if more remain.
    pub(crate) async fn list(
        &self,
        call: &Call,
        r: &pb::ListRequest,
    ) -> Result<pb::SessionList, Error> {
        let after = match r.page_token.as_str() {
            "" => 0,
            token => token.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "page_token {} is not one this server gave: start again without it",
                    quote(token)
                ))
            })?,
        };
        let mut page = pb::SessionList::default();
        let (mut bytes, mut last) = (0, after);
        for (number, view) in self.sessions.list_after(after, &call.caller).await? {
            let info = pb::SessionInfo::from(view);
            bytes += info.encoded_len();
            if bytes > LIST_PAGE_BYTES && !page.sessions.is_empty() {
                page.next_page_token = last.to_string();
                break;
            }
            page.sessions.push(info);
            last = number;
        }
        Ok(page)
    }

    fn validate(&self, r: &pb::Request) -> Result<NewSession, Error> {
        require_uid(&r.uid)?;
        let role = Role::parse(&r.role).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "role {} is unknown: use PROD or CONS",
                quote(&r.role)
            ))
        })?;
        let num_conn = usize::try_from(r.num_conn)
            .ok()
            .filter(|n| (1..=self.max_conn).contains(n))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "num_conn {} is out of range: use 1 to {} (server --max-conn)",
                    r.num_conn, self.max_conn
                ))
            })?;
        if r.rate < 0 {
            return Err(Error::InvalidArgument(format!(
                "rate {} is negative",
                r.rate
            )));
        }
        Ok(NewSession {
            uid: r.uid.clone(),
            role,
            num_conn,
            rate: r.rate,
            allow_from: allow_from(&r.allow_from)?,
            // Longer than the server allows is cut to its --max-session-lifetime.
            lifetime: (r.lifetime_secs > 0).then(|| Duration::from_secs(r.lifetime_secs)),
        })
    }

    /// An update; with a `credential`, one whose targets are reached over the encrypted hop.
    async fn retarget(
        &self,
        call: &Call,
        uid: &str,
        remote_listeners: &[String],
        credential: Option<&pb::HopCredential>,
    ) -> Result<pb::Response, Error> {
        require_uid(uid)?;
        let targets = address::parse_list("remote_listeners", remote_listeners, self.max_conn)
            .map_err(Error::InvalidArgument)?;
        let dialer = credential.map(hop_dialer).transpose()?;
        self.sessions.check_update(uid, &call.caller).await?;
        self.check_targets(&targets).await?;
        let Relaying {
            listeners,
            targets,
            encrypted_hop,
        } = self
            .sessions
            .update(uid, targets, dialer, &call.caller)
            .await?;
        let targets = address::to_strings(&targets);
        tracing::info!(event = call.rpc.as_str(), uid, listeners = %listeners.join(","),
            targets = %targets.join(","), encrypted_hop, peer = %call.peer, "relaying");
        Ok(pb::Response {
            listeners,
            prod_listeners: targets,
        })
    }

    /// Refuses targets that are the server itself or outside `--allow-targets` (the relay
    /// checks again at each connect, in case a name re-resolves elsewhere).
    async fn check_targets(&self, targets: &[HostPort]) -> Result<(), Error> {
        let checked = async {
            for target in targets {
                self.policy.resolve(target).await.map_err(|refused| {
                    let target = quote(&target.to_string());
                    Error::InvalidArgument(format!("remote_listeners: {target} {refused}"))
                })?;
            }
            Ok(())
        };
        tokio::time::timeout(RESOLVE_TIMEOUT, checked)
            .await
            .unwrap_or_else(|_| {
                Err(Error::InvalidArgument(format!(
                    "remote_listeners: could not resolve them within {RESOLVE_TIMEOUT:?}: \
                     check the names, or give addresses"
                )))
            })
    }
}
