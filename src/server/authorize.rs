//! Token checking in front of the whole `Control` service, so that every call (and any RPC
//! added later) is checked before its handler runs. An async tower filter, because the check
//! is a network call and tonic's interceptors cannot await.

use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::Arc;

use tonic::codegen::http;
use tower::filter::AsyncPredicate;
use tower::BoxError;

use crate::auth::{token_from_headers, Introspector};

/// Lets a call through when it carries a token the introspector accepts; with no introspector
/// (the server has no client secret) every call goes through.
#[derive(Clone)]
pub struct Authorize(pub Option<Arc<Introspector>>);

type Checked<B> = Pin<Box<dyn Future<Output = Result<http::Request<B>, BoxError>> + Send>>;

impl<B: Send + 'static> AsyncPredicate<http::Request<B>> for Authorize {
    type Future = Checked<B>;
    type Request = http::Request<B>;

    fn check(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(introspector) = self.0.clone() else {
            return Box::pin(ready(Ok(request)));
        };
        Box::pin(async move {
            let token = token_from_headers(request.headers()).map(str::to_owned);
            // tonic turns a `Status` error from a layer into that gRPC status.
            introspector
                .check(token.as_deref())
                .await
                .map_err(|err| Box::new(tonic::Status::from(err)) as BoxError)?;
            Ok(request)
        })
    }
}
