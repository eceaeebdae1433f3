//! A control server in front of a real one: it forwards every call, and can be told to answer
//! as another kind of gateway would.

use std::net::SocketAddr;

use scistream::pb;
use scistream::pb::control_client::ControlClient;
use scistream::pb::control_server::{Control, ControlServer};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::common::server::TestServer;

/// How the front differs from the server behind it, besides dropping its metadata.
#[derive(Clone, Copy)]
pub struct Twists {
    /// Answer UNIMPLEMENTED to `update_hop`, as a scistream-proto 1.2 gateway does.
    pub no_update_hop: bool,
}

impl Twists {
    pub const NONE: Twists = Twists {
        no_update_hop: false,
    };
    pub const NO_UPDATE_HOP: Twists = Twists {
        no_update_hop: true,
    };
}

/// Forwards each call's message and answers with the reply's message or status code and
/// text, without the metadata (such as `scistream-auth`) that a scistream server adds and a
/// scistream-proto 1.2 server does not.
struct Front {
    inner: ControlClient<Channel>,
    twists: Twists,
}

impl Front {
    fn said<R>(&self, reply: Result<Response<R>, Status>) -> Result<Response<R>, Status> {
        match reply {
            Ok(reply) => Ok(Response::new(reply.into_inner())),
            Err(status) => Err(Status::new(status.code(), status.message())),
        }
    }
}

#[tonic::async_trait]
impl Control for Front {
    async fn req(&self, r: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        self.said(self.inner.clone().req(r.into_inner()).await)
    }
    async fn update(
        &self,
        r: Request<pb::UpdateTargets>,
    ) -> Result<Response<pb::Response>, Status> {
        self.said(self.inner.clone().update(r.into_inner()).await)
    }
    async fn release(&self, r: Request<pb::Release>) -> Result<Response<pb::Response>, Status> {
        self.said(self.inner.clone().release(r.into_inner()).await)
    }
    async fn hello(&self, r: Request<pb::Hello>) -> Result<Response<pb::AppResponse>, Status> {
        self.said(self.inner.clone().hello(r.into_inner()).await)
    }
    async fn list(&self, r: Request<pb::ListRequest>) -> Result<Response<pb::SessionList>, Status> {
        self.said(self.inner.clone().list(r.into_inner()).await)
    }
    async fn status(
        &self,
        r: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::SessionInfo>, Status> {
        self.said(self.inner.clone().status(r.into_inner()).await)
    }
    async fn hop(&self, r: Request<pb::HopRequest>) -> Result<Response<pb::HopCredential>, Status> {
        self.said(self.inner.clone().hop(r.into_inner()).await)
    }
    async fn update_hop(
        &self,
        r: Request<pb::HopUpdate>,
    ) -> Result<Response<pb::Response>, Status> {
        if self.twists.no_update_hop {
            return self.said(Err(Status::unimplemented("Method not found!")));
        }
        self.said(self.inner.clone().update_hop(r.into_inner()).await)
    }
}

/// Serves `service` on a port of its own on `rt`; returns its address.
pub fn serve_control(rt: &Runtime, service: impl Control) -> SocketAddr {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ControlServer::new(service))
                .serve_with_incoming(incoming),
        );
        addr
    })
}

/// A front with `twists` before `server` (plaintext); returns its address.
pub fn front(rt: &Runtime, server: &TestServer, twists: Twists) -> String {
    let inner = rt.block_on(server.grpc());
    serve_control(rt, Front { inner, twists }).to_string()
}
