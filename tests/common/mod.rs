#![allow(dead_code)] // each test binary uses a different part of the fixtures

pub mod net;
pub mod server;
