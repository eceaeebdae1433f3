//! How long a relayed connection has moved no data, read from the kernel's own record of when
//! each socket last sent and received data (`TCP_INFO`): the loops that move the bytes keep no
//! clock for it, and keepalive probes and bare ACKs do not count as use.

use std::os::fd::RawFd;
use std::time::Duration;

/// Resolves once none of `sockets` has sent or received data for `timeout`. The sockets must
/// stay open while this runs.
#[cfg(target_os = "linux")]
pub(super) async fn quiet(sockets: [RawFd; 2], timeout: Duration) {
    let started = tokio::time::Instant::now();
    loop {
        let quiet = (sockets.iter())
            .map(|&fd| quiet_for(fd))
            .fold(started.elapsed(), Duration::min);
        if quiet >= timeout {
            return;
        }
        tokio::time::sleep(timeout - quiet).await;
    }
}

/// Elsewhere the kernel keeps no such record: connections are never found quiet.
#[cfg(not(target_os = "linux"))]
pub(super) async fn quiet(_sockets: [RawFd; 2], _timeout: Duration) {
    std::future::pending().await
}

/// Since when `socket` has neither sent nor received data; zero if the kernel cannot say.
#[cfg(target_os = "linux")]
fn quiet_for(socket: RawFd) -> Duration {
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which we own; a closed or
    // reused fd makes it fail or answer for another socket, never write elsewhere.
    let got = unsafe {
        libc::getsockopt(
            socket,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    if got != 0 {
        return Duration::ZERO;
    }
    let quiet_ms = info.tcpi_last_data_sent.min(info.tcpi_last_data_recv);
    Duration::from_millis(quiet_ms.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::fd::AsRawFd;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Bounds, not timings: a pair that has just exchanged data has been quiet for no longer
    /// than the test ran (give or take a kernel tick), and a pair left alone is found quiet.
    #[tokio::test]
    async fn a_pair_is_quiet_only_once_it_stops_moving_data() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let started = std::time::Instant::now();
        let dialled = TcpStream::connect(listener.local_addr().unwrap());
        let (dialled, accepted) = tokio::join!(dialled, listener.accept());
        let (mut a, mut b) = (dialled.unwrap(), accepted.unwrap().0);
        a.write_all(b"ping").await.unwrap();
        b.read_exact(&mut [0; 4]).await.unwrap();
        let fds = [a.as_raw_fd(), b.as_raw_fd()];
        let tick = Duration::from_millis(20);
        assert!(fds
            .iter()
            .all(|&fd| quiet_for(fd) <= started.elapsed() + tick));
        quiet(fds, Duration::from_millis(50)).await;
        assert!(fds
            .iter()
            .all(|&fd| quiet_for(fd) >= Duration::from_millis(50)));
    }
}
