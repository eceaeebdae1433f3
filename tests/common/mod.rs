//! Fixtures shared by the integration tests.
// Each test binary uses its own part of these fixtures; what one leaves unused is not dead.
#![allow(dead_code)]

pub mod gateway;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod open_gateway;
pub mod proto12;
pub mod pty;
pub mod server;
pub mod server_process;
pub mod user;
