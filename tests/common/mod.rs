//! Fixtures shared by the integration tests, one module per concept.

pub mod certs;
pub mod etcd;
pub mod fds;
pub mod identities;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod open_gateway;
pub mod programs;
pub mod proto12;
pub mod pty;
pub mod req;
pub mod server;
pub mod server_process;
pub mod site;
pub mod user;
