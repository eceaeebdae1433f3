//! Token checking in front of the whole `Control` service, so that every call (and any RPC
//! added later) is checked before its handler runs. An async tower filter, because the check
//! is a network call and tonic's interceptors cannot await. The caller's [`Identity`] goes on to
//! the handlers in the request's extensions.

use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::Arc;

use tonic::codegen::http;
use tower::filter::AsyncPredicate;
use tower::BoxError;

use super::metrics::Metrics;
use super::peer::peer_of;
use super::rpc::{self, Rpc};
use crate::auth::{token_from_headers, AuthError, Identity, Introspector};

/// Lets a call through when it carries a token the introspector accepts; with no introspector
/// (the server has no client secret) every call goes through. Refusals are logged and counted.
#[derive(Clone)]
pub struct Authorize {
    pub introspector: Option<Arc<Introspector>>,
    pub metrics: Arc<Metrics>,
}

type Checked<B> = Pin<Box<dyn Future<Output = Result<http::Request<B>, BoxError>> + Send>>;

impl<B: Send + 'static> AsyncPredicate<http::Request<B>> for Authorize {
    type Future = Checked<B>;
    type Request = http::Request<B>;

    fn check(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(introspector) = self.introspector.clone() else {
            return Box::pin(ready(Ok(request)));
        };
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let token = token_from_headers(request.headers()).map(str::to_owned);
            let err = match introspector.check(token.as_deref()).await {
                Ok(identity) => {
                    request.extensions_mut().insert::<Identity>(identity);
                    return Ok(request);
                }
                Err(err) => err,
            };
            let rpc = Rpc::from_path(request.uri().path());
            let label = rpc::label(rpc);
            let peer = peer_of(request.extensions());
            let reason = err.reason();
            match err {
                // The caller's problem: a warning. Below, the server cannot check tokens.
                AuthError::Missing { .. } | AuthError::Invalid { .. } => {
                    tracing::warn!(event = "auth_failure", rpc = label, %peer, reason, "{err}");
                }
                _ => tracing::error!(event = "auth_failure", rpc = label, %peer, reason, "{err}"),
            }
            metrics.record_auth_failure(reason);
            let status = tonic::Status::from(err);
            metrics.record_call(rpc, status.code());
            // tonic turns a `Status` error from a layer into that gRPC status.
            Err(Box::new(status) as BoxError)
        })
    }
}
