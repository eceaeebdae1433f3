//! Calls in progress on a connection. A call counts from the moment its request has arrived
//! (the body's end, not the headers) until its response is ready, so a call whose body never
//! comes does not keep its connection open; and a body that has not arrived within the body
//! timeout fails its call with DEADLINE_EXCEEDED.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::body::Body;
use tonic::codegen::{http, Bytes};
use tonic::Status;

use super::admitted::ConnectionInfo;
use super::census::Conn;

/// Tracks each call on its connection (see the module's description).
#[derive(Clone)]
pub(crate) struct TrackCalls<S>(pub S);

type Tracked<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S> tower::Service<http::Request<Body>> for TrackCalls<S>
where
    S: tower::Service<http::Request<Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Tracked<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(conn) = ConnectionInfo::of(request.extensions()).map(|c| c.conn.clone()) else {
            return Box::pin(self.0.call(request));
        };
        let call = Call::new(conn);
        let request = request.map(|body| Body::new(Arrival::new(body, call.clone())));
        let response = self.0.call(request);
        let over = CallOver(call);
        Box::pin(async move {
            let response = response.await;
            drop(over);
            response
        })
    }
}

/// Where one call is: its request still arriving, in progress, or over.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Arriving,
    InProgress,
    Over,
}

struct Call {
    conn: Arc<Conn>,
    stage: Mutex<Stage>,
}

impl Call {
    fn new(conn: Arc<Conn>) -> Arc<Call> {
        conn.headers_arrived();
        Arc::new(Call {
            conn,
            stage: Mutex::new(Stage::Arriving),
        })
    }

    fn arrived(&self) {
        let mut stage = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        if *stage == Stage::Arriving {
            *stage = Stage::InProgress;
            self.conn.call_started();
        }
    }

    /// The response is ready (or will never be): a call that never arrived never counted.
    fn end(&self) {
        let mut stage = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        if std::mem::replace(&mut *stage, Stage::Over) == Stage::InProgress {
            self.conn.call_ended();
        }
    }
}

/// Ends the call when the response is ready, or when the call is dropped (the client reset it).
struct CallOver(Arc<Call>);

impl Drop for CallOver {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A request body that marks its call in progress once it has all arrived, and fails if it has
/// not arrived within the connection's body timeout. The deadline is only looked at when the
/// body has nothing to give: a body that came in time but is read late (after a slow token
/// check) is not failed.
struct Arrival {
    body: Body,
    call: Arc<Call>,
    /// Until the body has arrived.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl Arrival {
    fn new(body: Body, call: Arc<Call>) -> Arrival {
        let deadline = Box::pin(tokio::time::sleep(call.conn.body_timeout()));
        let mut arrival = Arrival {
            body,
            call,
            deadline: Some(deadline),
        };
        if arrival.body.is_end_stream() {
            arrival.mark_arrived();
        }
        arrival
    }

    fn mark_arrived(&mut self) {
        if self.deadline.take().is_some() {
            self.call.arrived();
        }
    }

    /// The error that ends the body if its deadline has passed.
    fn poll_late(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        let Some(deadline) = &mut self.deadline else {
            return Poll::Pending;
        };
        ready!(deadline.as_mut().poll(cx));
        Poll::Ready(Status::deadline_exceeded(format!(
            "the request's body did not arrive within {} s of its headers",
            self.call.conn.body_timeout().as_secs_f64()
        )))
    }
}

impl HttpBody for Arrival {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() || this.body.is_end_stream() {
                    this.mark_arrived();
                }
                Poll::Ready(frame)
            }
            Poll::Pending => this.poll_late(cx).map(|late| Some(Err(late))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
