//! One relayed connection: connect to the target, move bytes both ways, close both sockets.
//!
//! Only a transfer that ended by itself closes with a FIN. A connection cut short (the target
//! refused or reset, the session was released, the server stopped) closes with a reset, so a
//! consumer can tell a cut stream from a complete one.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::capacity::{is_out_of_fds, Rejection, Slot};
#[cfg(not(target_os = "linux"))]
use super::copy;
#[cfg(target_os = "linux")]
use super::splice;
use super::Session;

/// Relays `client` to `target` until both directions have ended or one side fails.
pub(super) async fn relay(
    client: TcpStream,
    target: String,
    connect_timeout: Duration,
    session: Arc<Session>,
    _slot: Slot,
) {
    let _active = session.counters.open_connection();
    let mut client = Relayed::new(client);
    let mut server = match connect(&target, connect_timeout).await {
        Ok(server) => Relayed::new(server),
        // Logged once per burst: at the fd limit, every new client fails this way.
        Err(e) if is_out_of_fds(&e) => {
            let capacity = &session.capacity;
            session
                .shedding
                .rejected(&session.uid, Rejection::FdLimit, capacity);
            return;
        }
        Err(e) => {
            tracing::warn!(uid = %session.uid, %target, "could not connect to target: {e}");
            return;
        }
    };
    session.shedding.relaying(&session.uid);
    // The peers already chose when to send; Nagle here would hold a small message back until
    // the previous one is acknowledged, adding a delay the sender did not ask for.
    for stream in [&client.stream, &server.stream] {
        let _ = stream.set_nodelay(true);
    }
    let (traffic, result) = relay_streams(&mut client.stream, &mut server.stream, &session).await;
    if result.is_ok() {
        client.completed = true;
        server.completed = true;
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

#[cfg(target_os = "linux")]
async fn relay_streams(
    client: &mut TcpStream,
    server: &mut TcpStream,
    session: &Session,
) -> (super::Traffic, io::Result<()>) {
    splice::relay(client, server, &session.counters, &session.capacity.pipes).await
}

#[cfg(not(target_os = "linux"))]
async fn relay_streams(
    client: &mut TcpStream,
    server: &mut TcpStream,
    session: &Session,
) -> (super::Traffic, io::Result<()>) {
    copy::relay(client, server, &session.counters).await
}

async fn connect(target: &str, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Ok(connected) => connected,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

/// Closes `stream` with a reset instead of a FIN.
pub(super) fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
}

/// One side of a relayed connection: closed with a reset unless its transfer completed, which
/// also covers the task being cancelled by a release or a shutdown.
struct Relayed {
    stream: TcpStream,
    completed: bool,
}

impl Relayed {
    fn new(stream: TcpStream) -> Self {
        Relayed {
            stream,
            completed: false,
        }
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        if !self.completed {
            let _ = self.stream.set_zero_linger();
        }
    }
}
