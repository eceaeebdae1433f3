//! The gRPC `Control` service: validates each call and hands it to the session table.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::error::Error;
use super::sessions::{NewSession, Role, Sessions};
use crate::endpoint;
use crate::pb;

pub struct Control {
    pub sessions: Arc<Sessions>,
    pub max_conn: usize,
}

fn peer<T>(request: &Request<T>) -> String {
    request
        .remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn require_uid(uid: &str) -> Result<(), Error> {
    if uid.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "uid is empty: give the session's uid".into(),
        ));
    }
    Ok(())
}

impl Control {
    fn validate(&self, r: &pb::Request) -> Result<NewSession, Error> {
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
        })
    }
}

#[tonic::async_trait]
impl pb::control_server::Control for Control {
    async fn req(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        let peer = peer(&request);
        let r = request.into_inner();
        tracing::info!(uid = %r.uid, role = %r.role, num_conn = r.num_conn, rate = r.rate, %peer,
            "req started, with request uid: {:?}", r.uid);
        let new = self
            .validate(&r)
            .inspect_err(|e| tracing::warn!(uid = %r.uid, %peer, "req refused: {e}"))?;
        let (listeners, prod_listeners) = self
            .sessions
            .open(new)
            .await
            .inspect_err(|e| tracing::warn!(uid = %r.uid, %peer, "req failed: {e}"))?;
        tracing::info!(uid = %r.uid, listeners = ?listeners, prod_listeners = ?prod_listeners, "entry added");
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners,
        }))
    }

    async fn hello(
        &self,
        request: Request<pb::Hello>,
    ) -> Result<Response<pb::AppResponse>, Status> {
        let peer = peer(&request);
        let h = request.into_inner();
        tracing::info!(uid = %h.uid, role = %h.role, prod_listeners = ?h.prod_listeners, %peer, "hello received");
        require_uid(&h.uid)?;
        let prod_listeners = endpoint::parse_list("prod_listeners", &h.prod_listeners)
            .map_err(Error::InvalidArgument)?;
        let listeners = self.sessions.hello(&h.uid, prod_listeners).await?;
        Ok(Response::new(pb::AppResponse {
            message: "Hello message sent successfully".into(),
            listeners,
        }))
    }

    async fn update(
        &self,
        request: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer(&request);
        let u = request.into_inner();
        tracing::info!(uid = %u.uid, targets = ?u.remote_listeners, %peer, "update");
        require_uid(&u.uid)?;
        let targets = endpoint::parse_list("remote_listeners", &u.remote_listeners)
            .map_err(Error::InvalidArgument)?;
        let (listeners, targets) = self.sessions.update(&u.uid, targets)?;
        Ok(Response::new(pb::Response {
            listeners,
            prod_listeners: targets,
        }))
    }

    async fn release(
        &self,
        request: Request<pb::Release>,
    ) -> Result<Response<pb::Response>, Status> {
        let peer = peer(&request);
        let uid = request.into_inner().uid;
        require_uid(&uid)?;
        let released = self.sessions.release(&uid).await?;
        let s = released.stats;
        tracing::info!(%uid, %peer, bytes_to_target = s.bytes_to_target, bytes_from_target = s.bytes_from_target,
            connections = s.connections_total, "released");
        Ok(Response::new(pb::Response {
            listeners: released.listeners,
            prod_listeners: released.targets,
        }))
    }
}
