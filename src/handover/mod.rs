//! Live upgrades: the running server hands its listening sockets and established plain relayed
//! connections to the next server process.
//!
//! [`wire`] carries messages with fds over a Unix socket; [`message`] says what the two
//! processes tell each other, the [`Manifest`] of what changes hands among it, with its fds as
//! indexes ([`Parcel`], [`Received`]); [`successor`] starts the next process on a reload, and
//! [`notify`] tells systemd which process serves. The server (`server::upgrade`) runs the
//! protocol over its session table.

mod message;
pub(crate) mod notify;
mod successor;
mod wire;

pub(crate) use message::{
    HandedSession, Manifest, Parcel, Received, ToNew, ToOld, MESSAGE_DEADLINE, PROTOCOL,
};
pub(crate) use successor::{Successor, TAKE_OVER_ENV};
pub(crate) use wire::{listen, Channel};

/// The file name of the handover socket in the server's state directory.
pub(crate) const SOCKET_NAME: &str = "handover.sock";
