//! SciStream: the control plane (S2CS server, S2UC client) and the data plane (S2DS relay)
//! that stream memory-to-memory between facilities through gateway nodes.

pub mod auth;
pub mod cmd;
pub mod config;
pub mod exit;
pub mod relay;
pub mod secret;

/// Code generated from `proto/scistream.proto` (scistream-proto 1.2).
pub mod pb {
    tonic::include_proto!("scistream");
}
