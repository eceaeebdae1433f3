//! The integration tests: one binary, one module per topic, the fixtures in `tests/common/`.
//! A new test goes into the module of its topic, or a new `tests/suite/TOPIC.rs` declared
//! below. Only a test that needs a process of its own gets another binary (`tests/fd_counts.rs`
//! counts this process's fds), since every binary links the whole crate again.

#[path = "../common/mod.rs"]
mod common;

mod addresses;
mod app;
mod auth;
mod bounds;
mod capacity;
mod cli;
mod client;
mod config_trust;
mod connections;
mod control;
mod control_floods;
mod data_plane;
mod demo;
mod deploy;
mod generated;
mod hop;
mod house;
mod introspection_floods;
mod layers;
mod parsers;
mod policy;
mod pool;
mod progress;
mod quotas;
mod rate;
mod relay;
mod relay_shares;
mod restart;
mod rpc_properties;
mod server_calls;
mod session_cli;
mod sessions_view;
mod targets;
mod upgrade;
mod upstream;
mod upstream_certs;
