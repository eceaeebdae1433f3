//! SciStream: the control plane (S2CS server, S2UC client) and the data plane (S2DS relay)
//! that stream memory-to-memory between facilities through gateway nodes.
//!
//! The library exists for the `scistream` binary and its tests. What is `pub` is the API the
//! binary and the integration tests drive: the command line ([`cmd::Cli`], [`upstream`]), the
//! server ([`server::serve`]), a session's relay ([`relay::SessionRelay`]), the client
//! ([`client::Client`]), auth and config as the tests set them up, and the wire types ([`pb`]).
//! Everything else is `pub(crate)`, so the compiler reports what nothing uses.

pub(crate) mod app;
pub mod auth;
pub mod client;
pub mod cmd;
pub mod config;
pub mod endpoint;
pub mod exit;
pub(crate) mod handover;
pub mod limits;
pub mod logging;
pub(crate) mod paths;
pub mod policy;
pub mod program;
pub mod relay;
pub mod scope;
pub mod secret;
pub mod server;
pub(crate) mod session;
pub(crate) mod store;
pub mod tls;
pub mod upstream;

/// Code generated from `proto/scistream.proto` (scistream-proto 1.2).
pub mod pb {
    tonic::include_proto!("scistream");
}
