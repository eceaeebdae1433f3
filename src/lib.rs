//! SciStream: the control plane (S2CS server, S2UC client) and the data plane (S2DS relay)
//! that stream memory-to-memory between facilities through gateway nodes.

pub mod app;
pub mod auth;
pub mod client;
pub mod cmd;
pub mod config;
pub mod endpoint;
pub mod exit;
pub mod limits;
pub mod logging;
pub mod paths;
pub mod relay;
pub mod scope;
pub mod secret;
pub mod server;
pub mod session;
pub mod tls;
pub mod upstream;

/// Code generated from `proto/scistream.proto` (scistream-proto 1.2).
pub mod pb {
    tonic::include_proto!("scistream");
}
