//! SciStream: the control plane (S2CS server, S2UC client) and the data plane (S2DS relay)
//! that stream memory-to-memory between facilities through gateway nodes.
//!
//! The library exists for the `scistream` binary and its tests. What is `pub` is the API the
//! binary and the integration tests drive: the command line ([`cmd::Cli`], [`upstream`]), the
//! server ([`server::serve`]), a session's relay ([`relay::SessionRelay`]), the client
//! ([`client::Client`]), auth and config as the tests set them up, and the wire types ([`pb`]).
//! Everything else is `pub(crate)`, so the compiler reports what nothing uses.
//!
//! # Words
//!
//! Each word names one thing, here and in the code:
//!
//! - **address**: where something listens or is reached. [`address::HostPort`] (`host:port`:
//!   listeners, targets, control servers) and [`address::Host`] (an IP address or a DNS name)
//!   are parsed once, where they come in (flags, config keys, protocol fields, replies), and
//!   shown as the protocol writes them (`[::1]:5000`). A config key, host with or without a
//!   port, is a [`config::ServerAddr`].
//! - **listener**: a socket a session binds on its gateway; **target**: where a listener relays
//!   to (listener i to target i mod n); **producer**: the PROD session's targets, named by the
//!   hello.
//! - **hop**: the CONS gateway -> PROD gateway leg of a session, and the `hop` call that arms it.
//!   [`relay`]'s `HopMode` says what a session's listeners do with it: relay plain, **admit**
//!   (PROD: only a CONS gateway that proves the session's credential) or **dial** (CONS: reach
//!   the PROD listeners over TLS). **Arming** a PROD session's hop (`Sessions::arm_hop`,
//!   `Client::arm_hop`) makes its listeners admit and returns its **hop credential**: the
//!   fingerprint of the session's certificate and a secret. The PROD side holds a
//!   **`HopIdentity`** (certificate, key, credential), the CONS side a **`HopDialer`** (a TLS
//!   client trusting that fingerprint, and the secret to prove); the client's `HopPolicy` is
//!   what the user allows, and `HopEncryption` what a setup ended with.
//! - **trust**: a control client trusts a **certificate file** (`--server-cert`, names and dates
//!   checked) or the system's roots; a CONS gateway trusts one hop certificate by its
//!   **pinned fingerprint** alone. Both live in [`tls`], the one home of providers and
//!   verifiers.
//! - **quote**: how a value from outside is shown in an error or a log line ([`quote::quote`]);
//!   **limits**: how large such a value may be ([`limits`]).

pub mod address;
pub(crate) mod app;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod cmd;
pub mod config;
pub(crate) mod etcd;
pub mod exit;
pub(crate) mod handover;
pub mod limits;
pub mod logging;
pub(crate) mod paths;
pub mod policy;
pub mod program;
pub mod quote;
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
