//! The gRPC face of the `Control` service: one path for every RPC. [`Service::serve`] builds
//! the call's [`Call`] from the request, runs the handler of [`Control`] named after the RPC,
//! and logs a failure as one warning line; [`replies`](super::replies) counts every reply.

use std::collections::HashSet;

use tonic::{Request, Response, Status};

use super::call::Call;
use super::control::Control;
use super::error::Error;
use super::rpc::Rpc;
use crate::limits::quote;
use crate::pb;

pub(crate) struct Service {
    pub(crate) control: Control,
    /// The `sub`s that see and release every session.
    pub(crate) admins: HashSet<String>,
}

/// The session a call's message names, for the log line of its failure.
trait Subject {
    fn uid(&self) -> Option<&str>;
}

macro_rules! subject_is_its_uid {
    ($($message:ty),+) => {
        $(impl Subject for $message {
            fn uid(&self) -> Option<&str> {
                Some(&self.uid)
            }
        })+
    };
}

subject_is_its_uid!(
    pb::Request,
    pb::Hello,
    pb::UpdateTargets,
    pb::HopUpdate,
    pb::Release,
    pb::HopRequest,
    pb::StatusRequest
);

impl Subject for pb::ListRequest {
    fn uid(&self) -> Option<&str> {
        None
    }
}

impl Service {
    /// Runs `handler` on the message of `request`, a call to `rpc`.
    async fn serve<M: Subject, T>(
        &self,
        rpc: Rpc,
        request: Request<M>,
        handler: impl AsyncFnOnce(&Call, &M) -> Result<T, Error>,
    ) -> Result<Response<T>, Status> {
        let call = Call::of(rpc, request.extensions(), &self.admins);
        let message = request.into_inner();
        match handler(&call, &message).await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(err) => Err(refused(&call, message.uid(), err)),
        }
    }
}

/// Logs a failed call as one warning line (its event is the RPC's name) and turns the error
/// into its status. A req whose hello never came is its own event: the session was dropped.
fn refused(call: &Call, uid: Option<&str>, err: Error) -> Status {
    let event = match err {
        Error::HelloTimeout => "timeout",
        _ => call.rpc.as_str(),
    };
    let uid = uid.map(|uid| tracing::field::display(quote(uid)));
    tracing::warn!(event, uid, peer = %call.peer, error = %err, "{event} failed");
    Status::from(err)
}

#[tonic::async_trait]
impl pb::control_server::Control for Service {
    async fn req(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        let control = &self.control;
        self.serve(Rpc::Req, request, async |call, r| {
            control.req(call, r).await
        })
        .await
    }

    async fn hello(
        &self,
        request: Request<pb::Hello>,
    ) -> Result<Response<pb::AppResponse>, Status> {
        let control = &self.control;
        self.serve(Rpc::Hello, request, async |call, h| {
            control.hello(call, h).await
        })
        .await
    }

    async fn update(
        &self,
        request: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        let control = &self.control;
        self.serve(Rpc::Update, request, async |call, u| {
            control.update(call, u).await
        })
        .await
    }

    async fn release(
        &self,
        request: Request<pb::Release>,
    ) -> Result<Response<pb::Response>, Status> {
        let control = &self.control;
        self.serve(Rpc::Release, request, async |call, r| {
            control.release(call, r).await
        })
        .await
    }

    async fn hop(
        &self,
        request: Request<pb::HopRequest>,
    ) -> Result<Response<pb::HopCredential>, Status> {
        let control = &self.control;
        self.serve(Rpc::Hop, request, async |call, r| control.hop(call, r))
            .await
    }

    async fn update_hop(
        &self,
        request: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        let control = &self.control;
        self.serve(Rpc::UpdateHop, request, async |call, u| {
            control.update_hop(call, u).await
        })
        .await
    }

    async fn list(
        &self,
        request: Request<pb::ListRequest>,
    ) -> Result<Response<pb::SessionList>, Status> {
        let control = &self.control;
        self.serve(Rpc::List, request, async |call, r| control.list(call, r))
            .await
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        let control = &self.control;
        self.serve(Rpc::Status, request, async |call, r| {
            control.status(call, r)
        })
        .await
    }
}
