//! Who is calling, for log lines: the client address recorded with each call's connection.

use tonic::codegen::http::Extensions;

use super::connections::ConnectionInfo;

/// The client's `ip:port`, or "unknown" when the transport recorded none. Works on the
/// extensions of a tonic request and of the raw HTTP request a layer sees.
pub(crate) fn peer_of(extensions: &Extensions) -> String {
    ConnectionInfo::of(extensions)
        .map_or_else(|| "unknown".into(), |info| info.remote_addr.to_string())
}
