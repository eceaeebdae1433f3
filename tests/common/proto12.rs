//! A scistream-proto 1.2 client, as the Python SciStream is: its req knows the first four
//! fields only, so a server must give it its defaults for everything added since.

use std::net::SocketAddr;

use scistream::pb;

/// What a scistream-proto 1.2 client sends as its req: the four fields it knows.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request12 {
    #[prost(string, tag = "1")]
    pub uid: String,
    #[prost(string, tag = "2")]
    pub role: String,
    #[prost(int32, tag = "3")]
    pub num_conn: i32,
    #[prost(int32, tag = "4")]
    pub rate: i32,
}

/// Sends `request` as the req of a 1.2 client to the plaintext control server at `addr`.
pub async fn req12(addr: &str, request: Request12) -> Result<pb::Response, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/scistream.Control/req");
    let codec = tonic_prost::ProstCodec::<Request12, pb::Response>::default();
    let answer = grpc.unary(tonic::Request::new(request), path, codec).await;
    answer.map(tonic::Response::into_inner)
}

/// Opens a PROD session as a 1.2 client and its app controller do: the req with the four
/// fields of a Python client (rate 10000 kb/s, its default), the hello naming `target`, then
/// the update relaying to it. Returns the session's one listener.
pub async fn open12(addr: &str, uid: &str, target: SocketAddr) -> SocketAddr {
    let request = Request12 {
        uid: uid.into(),
        role: "PROD".into(),
        num_conn: 1,
        rate: 10000,
    };
    let hello = pb::Hello {
        uid: uid.into(),
        prod_listeners: vec![target.to_string()],
        role: "PROD".into(),
    };
    let mut client = pb::control_client::ControlClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut app_controller = client.clone();
    let (answer, helloed) = tokio::join!(req12(addr, request), app_controller.hello(hello));
    helloed.unwrap();
    let listener = answer.unwrap().listeners[0].parse().unwrap();
    let update = pb::UpdateTargets {
        uid: uid.into(),
        remote_listeners: vec![target.to_string()],
        role: "PROD".into(),
    };
    client.update(update).await.unwrap();
    listener
}
