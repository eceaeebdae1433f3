//! What every reply of the control port goes through on its way out, whoever made it (a
//! handler, the authorize filter's refusal, or tonic itself for a path that names no RPC or a
//! message that does not decode): it is counted once, under its RPC and gRPC status, and, when
//! the server checks no tokens, it carries the response metadata `scistream-auth: off`, so a
//! client can warn its user that the session is open to anyone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::http::{self, HeaderValue};
use tonic::{Code, Status};
use tower::BoxError;

use super::metrics::Metrics;
use super::rpc::Rpc;
use crate::scope::AUTH_METADATA_KEY;

/// The tower layer in front of the service (and of the authorize filter).
#[derive(Clone)]
pub(crate) struct Replies<S> {
    pub(crate) inner: S,
    pub(crate) metrics: Arc<Metrics>,
    /// The server checks no tokens: every reply says so.
    pub(crate) auth_off: bool,
}

type Replied<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Replies<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    R: Default,
{
    type Response = http::Response<R>;
    type Error = BoxError;
    type Future = Replied<http::Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let rpc = Rpc::from_path(request.uri().path());
        let reply = self.inner.call(request);
        let (metrics, auth_off) = (self.metrics.clone(), self.auth_off);
        Box::pin(async move {
            let mut response = match reply.await.map_err(Into::into) {
                Ok(response) => response,
                // A layer's refusal: answered here as tonic would, so it is counted and marked.
                Err(error) => error.downcast::<Status>().map(|s| s.into_http())?,
            };
            metrics.record_call(rpc, code_of(&response));
            if auth_off {
                let off = HeaderValue::from_static("off");
                response.headers_mut().insert(AUTH_METADATA_KEY, off);
            }
            Ok(response)
        })
    }
}

/// The status a reply carries in its headers: a failure's (gRPC sends a failure as headers
/// only); none there is a success, whose status follows its message.
fn code_of<R>(response: &http::Response<R>) -> Code {
    let header = response.headers().get("grpc-status");
    let number = header.and_then(|value| value.to_str().ok()?.parse::<i32>().ok());
    number.map_or(Code::Ok, Code::from_i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answer = fn() -> Result<http::Response<String>, BoxError>;

    /// One call to `path` through a `Replies` whose inner service answers `answer`: the reply,
    /// and how many calls were counted under `rpc` and `code`.
    async fn reply(answer: Answer, auth_off: bool, path: &str) -> (http::Response<String>, u64) {
        let metrics = Arc::new(Metrics::default());
        let inner = tower::service_fn(move |_: http::Request<()>| async move { answer() });
        let service = Replies {
            inner,
            metrics: metrics.clone(),
            auth_off,
        };
        let request = http::Request::builder().uri(path).body(()).unwrap();
        let response = tower::ServiceExt::oneshot(service, request).await.unwrap();
        let counted = metrics.calls_counted(Rpc::from_path(path), code_of(&response));
        (response, counted)
    }

    fn success() -> Result<http::Response<String>, BoxError> {
        Ok(http::Response::new(String::new()))
    }

    fn not_found() -> Result<http::Response<String>, BoxError> {
        Ok(Status::not_found("no such session").into_http())
    }

    fn refused() -> Result<http::Response<String>, BoxError> {
        Err(Box::new(Status::unauthenticated("no token")))
    }

    #[tokio::test]
    async fn a_success_a_handler_failure_and_a_layer_refusal_are_each_counted_once() {
        for (answer, path, code) in [
            (success as Answer, "/scistream.Control/list", Code::Ok),
            (not_found, "/scistream.Control/status", Code::NotFound),
            (refused, "/scistream.Control/req", Code::Unauthenticated),
            (not_found, "/scistream.Control/nope", Code::NotFound),
        ] {
            let (response, counted) = reply(answer, false, path).await;
            assert_eq!(code_of(&response), code, "{path}");
            assert_eq!(counted, 1, "{path}");
            assert!(response.headers().get(AUTH_METADATA_KEY).is_none());
        }
    }

    #[tokio::test]
    async fn with_auth_off_every_reply_says_so() {
        for answer in [success as Answer, not_found, refused] {
            let (response, _) = reply(answer, true, "/scistream.Control/status").await;
            assert_eq!(response.headers()[AUTH_METADATA_KEY], "off");
        }
    }
}
