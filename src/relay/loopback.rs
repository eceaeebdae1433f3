//! Loopback sockets for the relay's unit tests.

use tokio::net::{TcpListener, TcpStream};

/// The two ends of one loopback TCP connection: the dialled one, then the accepted one.
pub(super) async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dialled = TcpStream::connect(listener.local_addr().unwrap());
    let (dialled, accepted) = tokio::join!(dialled, listener.accept());
    (dialled.unwrap(), accepted.unwrap().0)
}
