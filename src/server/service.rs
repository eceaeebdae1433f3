//! The gRPC face of the `Control` service: one path for every RPC. [`Service::serve`] builds
//! the call's [`Call`] from the request, runs the handler of [`Control`] named after the RPC,
//! and logs a failure as one warning line; [`replies`](super::replies) counts every reply.

use tonic::{Request, Response, Status};

use super::call::Call;
use super::control::Control;
use super::error::Error;
use super::rpc::Rpc;
use crate::pb;
use crate::quote::quote;

pub(crate) struct Service {
    pub(crate) control: Control,
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
        let call = Call::of(rpc, request.extensions());
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

/// Implements the generated service trait: each RPC goes through [`Service::serve`] to the
/// handler of [`Control`] that bears its name.
macro_rules! each_rpc_to_its_handler {
    ($($name:ident: $rpc:ident, $message:ty => $reply:ty;)+) => {
        #[tonic::async_trait]
        impl pb::control_server::Control for Service {
            $(async fn $name(&self, request: Request<$message>) -> Result<Response<$reply>, Status> {
                let control = &self.control;
                self.serve(Rpc::$rpc, request, async |call, message| {
                    control.$name(call, message).await
                })
                .await
            })+
        }
    };
}

each_rpc_to_its_handler! {
    req: Req, pb::Request => pb::Response;
    hello: Hello, pb::Hello => pb::AppResponse;
    update: Update, pb::UpdateTargets => pb::Response;
    release: Release, pb::Release => pb::Response;
    hop: Hop, pb::HopRequest => pb::HopCredential;
    update_hop: UpdateHop, pb::HopUpdate => pb::Response;
    list: List, pb::ListRequest => pb::SessionList;
    status: Status, pb::StatusRequest => pb::SessionInfo;
}
