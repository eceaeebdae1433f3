//! The user client: opening sessions through the client library (`req prod|cons|stream`), what
//! it refuses to expose, and what it does with a hostile control server's replies.

#[path = "../common/mod.rs"]
mod common;

mod front;
mod hostile;
mod setup;
