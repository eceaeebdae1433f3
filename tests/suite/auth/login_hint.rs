//! The "run: scistream login --scope ..." hint after a refusal names the scope the server put in
//! the status metadata, never a word of the message.

use std::net::SocketAddr;

use predicates::str::contains;
use scistream::scope::SCOPE_METADATA_KEY;
use tonic::codegen::http;
use tower::BoxError;

use super::{S1, S2};
use crate::common::oauth::OAuthServer;
use crate::common::req::{producer_on, req_words};
use crate::common::server::stand_in;
use crate::common::user::User;

/// A control server that refuses every call with `status` before any handler (there is none).
fn refusing_server(status: tonic::Status) -> SocketAddr {
    type Call = http::Request<tonic::body::Body>;
    let refuse = move |_: Call| -> Result<Call, BoxError> { Err(Box::new(status.clone())) };
    stand_in(|incoming| {
        tonic::transport::Server::builder()
            .layer(tower::filter::FilterLayer::new(refuse))
            .add_routes(tonic::service::Routes::default())
            .serve_with_incoming(incoming)
    })
}

/// The last line `req prod` prints on stderr when `addr` refuses it.
fn hint(addr: SocketAddr) -> String {
    let auth = OAuthServer::start();
    let user = User::new(&auth);
    let output = user
        .cmd(&req_words(&addr.to_string(), "prod", &producer_on("7000")))
        .assert()
        .code(3)
        .stderr(contains("Please obtain new credentials: "))
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    stderr.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn the_hint_names_the_scope_from_the_status_metadata() {
    // A message naming another scope than the metadata: the metadata wins.
    let mut status =
        tonic::Status::unauthenticated(format!("Authentication token is invalid for scope {S1}"));
    status
        .metadata_mut()
        .insert(SCOPE_METADATA_KEY, S2.parse().unwrap());
    assert_eq!(
        hint(refusing_server(status)),
        format!("run: scistream login --scope {S2} --map 127.0.0.1")
    );
}

#[test]
fn a_server_that_names_its_scope_in_the_message_only_gets_a_placeholder_hint() {
    // What a Python server sends: the message, which the user still sees, and no metadata.
    let status =
        tonic::Status::unauthenticated(format!("Authentication token is missing for scope {S1}"));
    assert_eq!(
        hint(refusing_server(status)),
        "run: scistream login --scope <SCOPE> --map 127.0.0.1"
    );
}
