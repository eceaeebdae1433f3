//! The gRPC `Control` service: validates each call, hands it to the session table, and logs
//! one line per session event (with the uid and the caller's address) and counts it.

use std::collections::HashSet;
use std::sync::Arc;

use tonic::codegen::http::Extensions;
use tonic::{Code, Request, Response, Status};

use super::error::Error;
use super::metrics::Metrics;
use super::peer::peer_of;
use super::sessions::{Caller, NewSession, Sessions};
use crate::auth::Identity;
use crate::endpoint;
use crate::pb;
use crate::relay::{HopCredential, HopPin, CREDENTIAL_LEN};
use crate::session::Role;

pub struct Control {
    pub sessions: Arc<Sessions>,
    pub max_conn: usize,
    pub metrics: Arc<Metrics>,
    /// The `sub`s that see and release every session.
    pub admins: HashSet<String>,
}

/// The pin of a credential as a client sent it, once both parts have the right length.
fn hop_pin(credential: &pb::HopCredential) -> Result<Arc<HopPin>, Error> {
    let parsed = HopCredential::from_parts(&credential.certificate_sha256, &credential.secret)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the hop credential is malformed: certificate_sha256 and secret must be \
                 {CREDENTIAL_LEN} bytes each, as the PROD gateway's hop call returns them"
            ))
        })?;
    HopPin::new(parsed).map_err(|e| Error::Hop(e.to_string()))
}

fn require_uid(uid: &str) -> Result<(), Error> {
    if uid.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "uid is empty: give the session's uid".into(),
        ));
    }
    Ok(())
}

/// Logs a failed call as one warning line and turns the error into its status. A req whose
/// hello never came is its own event: the session was dropped.
fn refused(event: &'static str, uid: &str, peer: &str, err: Error) -> Status {
    let event = match err {
        Error::HelloTimeout => "timeout",
        _ => event,
    };
    tracing::warn!(event, uid, peer, error = %err, "{event} failed");
    Status::from(err)
}

impl Control {
    /// Who sent a call: the identity the authorize filter put in its extensions, if any.
    fn caller(&self, extensions: &Extensions) -> Caller {
        let sub = extensions.get::<Identity>().map(|id| id.sub.clone());
        let admin = sub.as_ref().is_some_and(|sub| self.admins.contains(sub));
        Caller { sub, admin }
    }

    fn validate(&self, r: &pb::Request, owner: Option<String>) -> Result<NewSession, Error> {
        require_uid(&r.uid)?;
        let role = Role::parse(&r.role).ok_or_else(|| {
            Error::InvalidArgument(format!("role {:?} is unknown: use PROD or CONS", r.role))
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
            owner,
        })
    }

    /// Counts the call under `rpc` with the status it ended with.
    fn counted<T>(&self, rpc: &'static str, result: Result<T, Status>) -> Result<T, Status> {
        let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
        self.metrics.record_call(rpc, code);
        result
    }

    async fn open(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let username = request
            .extensions()
            .get::<Identity>()
            .and_then(|id| id.username.clone());
        let caller = self.caller(request.extensions());
        let r = request.into_inner();
        tracing::info!(event = "req", uid = %r.uid, role = %r.role, num_conn = r.num_conn,
            rate = r.rate, owner = caller.sub.as_deref(), username = username.as_deref(), %peer,
            "req received, waiting for its hello");
        let opened = async { self.sessions.open(self.validate(&r, caller.sub)?).await };
        let (listeners, prod_listeners) =
            opened.await.map_err(|e| refused("req", &r.uid, &peer, e))?;
        tracing::debug!(uid = %r.uid, listeners = %listeners.join(","),
            prod_listeners = %prod_listeners.join(","), %peer, "req answered");
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners,
        }))
    }

    async fn deliver_hello(
        &self,
        request: Request<pb::Hello>,
    ) -> Result<Response<pb::AppResponse>, Status> {
        let peer = peer_of(request.extensions());
        let h = request.into_inner();
        let delivered = async {
            require_uid(&h.uid)?;
            let prod_listeners = endpoint::parse_list("prod_listeners", &h.prod_listeners)
                .map_err(Error::InvalidArgument)?;
            self.sessions.hello(&h.uid, prod_listeners).await
        };
        let listeners = delivered
            .await
            .map_err(|e| refused("hello", &h.uid, &peer, e))?;
        tracing::info!(event = "hello", uid = %h.uid, role = %h.role,
            prod_listeners = %h.prod_listeners.join(","), %peer, "hello delivered");
        Ok(Response::new(pb::AppResponse {
            message: "Hello message sent successfully".into(),
            listeners,
        }))
    }

    fn set_targets(
        &self,
        request: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let u = request.into_inner();
        self.retarget(&peer, &caller, &u.uid, &u.remote_listeners, None)
    }

    fn set_hop_targets(
        &self,
        request: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let u = request.into_inner();
        let credential = u.credential.unwrap_or_default();
        self.retarget(
            &peer,
            &caller,
            &u.uid,
            &u.remote_listeners,
            Some(&credential),
        )
    }

    /// An update; with a `credential`, one whose targets are reached over the encrypted hop.
    fn retarget(
        &self,
        peer: &str,
        caller: &Caller,
        uid: &str,
        remote_listeners: &[String],
        credential: Option<&pb::HopCredential>,
    ) -> Result<Response<pb::Response>, Status> {
        let updated = || {
            require_uid(uid)?;
            let targets = endpoint::parse_list("remote_listeners", remote_listeners)
                .map_err(Error::InvalidArgument)?;
            let pin = credential.map(hop_pin).transpose()?;
            self.sessions.update(uid, targets, pin, caller)
        };
        let (listeners, targets) = updated().map_err(|e| refused("update", uid, peer, e))?;
        tracing::info!(event = "update", uid, listeners = %listeners.join(","),
            targets = %targets.join(","), encrypted_hop = credential.is_some(), peer,
            "relaying");
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners: targets,
        }))
    }

    fn arm_hop(&self, request: Request<pb::HopRequest>) -> Result<pb::HopCredential, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let r = request.into_inner();
        let armed = || {
            require_uid(&r.uid)?;
            self.sessions.hop(&r.uid, r.plaintext, &caller)
        };
        let credential = armed().map_err(|e| refused("hop", &r.uid, &peer, e))?;
        tracing::info!(event = "hop", uid = %r.uid, encrypted = credential.is_some(), %peer,
            "hop set");
        Ok(
            credential.map_or_else(Default::default, |c| pb::HopCredential {
                certificate_sha256: c.certificate_sha256.to_vec(),
                secret: c.secret.expose().to_vec(),
            }),
        )
    }

    async fn close(&self, request: Request<pb::Release>) -> Result<Response<pb::Response>, Status> {
        let peer = peer_of(request.extensions());
        let caller = self.caller(request.extensions());
        let uid = request.into_inner().uid;
        let released = async {
            require_uid(&uid)?;
            self.sessions.release(&uid, &caller).await
        };
        let released = released
            .await
            .map_err(|e| refused("release", &uid, &peer, e))?;
        let s = released.stats;
        tracing::info!(event = "release", %uid, %peer, bytes_to_target = s.bytes_to_target,
            bytes_from_target = s.bytes_from_target, connections = s.connections_total,
            "released");
        Ok(Response::new(pb::Response {
            listeners: released.listeners,
            prod_listeners: released.targets,
        }))
    }

    fn describe(&self, request: Request<pb::StatusRequest>) -> Result<pb::SessionInfo, Status> {
        let caller = self.caller(request.extensions());
        let uid = request.into_inner().uid;
        require_uid(&uid)?;
        Ok(self.sessions.view(&uid, &caller)?.into())
    }
}

#[tonic::async_trait]
impl pb::control_server::Control for Control {
    async fn req(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        self.counted("req", self.open(request).await)
    }

    async fn hello(
        &self,
        request: Request<pb::Hello>,
    ) -> Result<Response<pb::AppResponse>, Status> {
        self.counted("hello", self.deliver_hello(request).await)
    }

    async fn update(
        &self,
        request: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        self.counted("update", self.set_targets(request))
    }

    async fn release(
        &self,
        request: Request<pb::Release>,
    ) -> Result<Response<pb::Response>, Status> {
        self.counted("release", self.close(request).await)
    }

    async fn hop(
        &self,
        request: Request<pb::HopRequest>,
    ) -> Result<Response<pb::HopCredential>, Status> {
        self.counted("hop", self.arm_hop(request).map(Response::new))
    }

    async fn update_hop(
        &self,
        request: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        self.counted("update_hop", self.set_hop_targets(request))
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::SessionList>, Status> {
        let caller = self.caller(request.extensions());
        let sessions = self
            .sessions
            .list(&caller)
            .into_iter()
            .map(Into::into)
            .collect();
        self.counted("list", Ok(Response::new(pb::SessionList { sessions })))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        self.counted("status", self.describe(request).map(Response::new))
    }
}
