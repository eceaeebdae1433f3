//! Who is calling, for log lines: the client address tonic records on each request.

use tonic::codegen::http::Extensions;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The client's `ip:port`, or "unknown" when the transport recorded none. Works on the
/// extensions of a tonic request and of the raw HTTP request a layer sees.
pub fn peer_of(extensions: &Extensions) -> String {
    let tcp = extensions.get::<TcpConnectInfo>();
    let tls = || {
        extensions
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .map(|i| i.get_ref())
    };
    tcp.or_else(tls)
        .and_then(TcpConnectInfo::remote_addr)
        .map_or_else(|| "unknown".into(), |addr| addr.to_string())
}
