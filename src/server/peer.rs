//! Who is calling: the client address recorded with each call's connection.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use tonic::codegen::http::Extensions;

use super::connections::ConnectionInfo;

/// A call's client address, shown as "unknown" when the transport recorded none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer(Option<SocketAddr>);

impl Peer {
    /// The client of a call. Works on the extensions of a tonic request and of the raw HTTP
    /// request a layer sees.
    pub(crate) fn of(extensions: &Extensions) -> Peer {
        Peer(ConnectionInfo::of(extensions).map(|info| info.remote_addr))
    }

    pub(crate) fn ip(self) -> Option<IpAddr> {
        self.0.map(|addr| addr.ip())
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// The client's `ip:port`, or "unknown", for log lines.
pub(crate) fn peer_of(extensions: &Extensions) -> String {
    Peer::of(extensions).to_string()
}
