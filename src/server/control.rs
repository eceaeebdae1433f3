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
use crate::session::Role;

pub struct Control {
    pub sessions: Arc<Sessions>,
    pub max_conn: usize,
    pub metrics: Arc<Metrics>,
    /// The `sub`s that see and release every session.
    pub admins: HashSet<String>,
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
        let updated = || {
            require_uid(&u.uid)?;
            let targets = endpoint::parse_list("remote_listeners", &u.remote_listeners)
                .map_err(Error::InvalidArgument)?;
            self.sessions.update(&u.uid, targets, &caller)
        };
        let (listeners, targets) = updated().map_err(|e| refused("update", &u.uid, &peer, e))?;
        tracing::info!(event = "update", uid = %u.uid, listeners = %listeners.join(","),
            targets = %targets.join(","), %peer, "relaying");
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners: targets,
        }))
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
