//! One relayed connection: connect to the target, move bytes both ways, close both sockets.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

#[cfg(not(target_os = "linux"))]
use super::copy::relay as relay_streams;
#[cfg(target_os = "linux")]
use super::splice::relay as relay_streams;
use super::{Session, TargetPolicy};

/// Relays `client` to `target` until both directions have ended or one side fails.
pub(super) async fn relay(
    mut client: TcpStream,
    target: String,
    connect_timeout: Duration,
    session: Arc<Session>,
) {
    let _active = session.counters.open_connection();
    let mut server = match connect(&target, connect_timeout, &session.policy).await {
        Ok(server) => server,
        Err(e) => {
            tracing::warn!(uid = %session.uid, %target, "could not connect to target: {e}");
            return;
        }
    };
    // The peers already chose when to send; Nagle here would hold a small message back until
    // the previous one is acknowledged, adding a delay the sender did not ask for.
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
    }
    let (traffic, result) = relay_streams(&mut client, &mut server, &session.counters).await;
    if result.is_err() {
        abort(&client);
        abort(&server);
    }
    tracing::debug!(
        uid = %session.uid,
        %target,
        bytes_to_target = traffic.to_target,
        bytes_from_target = traffic.from_target,
        error = result.err().map(tracing::field::display),
        "connection closed"
    );
}

/// Connects to the very addresses the policy checked, never to the name again.
async fn connect(target: &str, timeout: Duration, policy: &TargetPolicy) -> io::Result<TcpStream> {
    let connected = async {
        let addrs = policy
            .resolve(target)
            .await
            .map_err(|refused| io::Error::new(io::ErrorKind::PermissionDenied, refused))?;
        TcpStream::connect(&addrs[..]).await
    };
    match tokio::time::timeout(timeout, connected).await {
        Ok(connected) => connected,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

/// Makes the coming close send a reset, so that the peer of a failed connection learns that
/// its stream was cut rather than seeing an EOF it could take for a complete transfer.
fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}
