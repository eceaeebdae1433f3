//! The Linux engine: each direction moves bytes socket -> pipe -> socket with splice(2), so
//! they never enter user space. Driven by the readiness of the sockets' own tokio registrations.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::pipe::Pipe;
use super::{copy, Counters, Traffic};

/// Set once splice has failed as unsupported, so later connections go straight to copying.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Same contract as [`copy::relay`], which it falls back to when splice is unavailable.
pub(super) async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    counters: &Counters,
) -> (Traffic, io::Result<()>) {
    if let Some(pipes) = pipes() {
        if let Some(spliced) = splice_both_ways(client, server, counters, pipes).await {
            return spliced;
        }
        UNSUPPORTED.store(true, Ordering::Relaxed);
        tracing::debug!("splice unsupported on these sockets, copying instead");
    }
    copy::relay(client, server, counters).await
}

/// The two pipes of a connection, unless splice is known not to work or no pipe can be had.
fn pipes() -> Option<(Pipe, Pipe)> {
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return None;
    }
    match Pipe::new().and_then(|up| Ok((up, Pipe::new()?))) {
        Ok(pipes) => Some(pipes),
        Err(e) => {
            tracing::debug!("no pipe for splice, copying instead: {e}");
            None
        }
    }
}

/// Runs both directions at once; `None` if splice proved unsupported before any byte moved.
async fn splice_both_ways(
    client: &TcpStream,
    server: &TcpStream,
    counters: &Counters,
    (up_pipe, down_pipe): (Pipe, Pipe),
) -> Option<(Traffic, io::Result<()>)> {
    let mut up = Transfer::new(client, server, up_pipe, &counters.to_target);
    let mut down = Transfer::new(server, client, down_pipe, &counters.from_target);
    let result = tokio::try_join!(up.run(), down.run()).map(drop);
    let unsupported = matches!(&result, Err(e) if is_unsupported(e));
    if unsupported && up.untouched() && down.untouched() {
        return None;
    }
    let traffic = Traffic {
        to_target: up.moved,
        from_target: down.moved,
    };
    Some((traffic, result))
}

fn is_unsupported(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

/// Where one direction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The pipe is empty; the next bytes come from the source.
    Fill,
    /// This many bytes sit in the pipe, waiting for the destination.
    Drain(usize),
    /// The source sent EOF and the pipe is empty: pass the EOF on.
    HalfClose,
}

/// One direction of a connection: source socket -> pipe -> destination socket.
struct Transfer<'a> {
    source: &'a TcpStream,
    destination: &'a TcpStream,
    pipe: Pipe,
    step: Step,
    /// Bytes delivered to the destination, kept even when the transfer fails.
    moved: u64,
    session_total: &'a AtomicU64,
}

impl<'a> Transfer<'a> {
    fn new(
        source: &'a TcpStream,
        destination: &'a TcpStream,
        pipe: Pipe,
        session_total: &'a AtomicU64,
    ) -> Self {
        Transfer {
            source,
            destination,
            pipe,
            step: Step::Fill,
            moved: 0,
            session_total,
        }
    }

    /// Runs until the source's EOF has been passed on, or the first error.
    ///
    /// Invariant: we read from the source only while the pipe is empty. splice(socket -> pipe)
    /// answers EAGAIN both when the socket has no data and when the pipe is full; with an
    /// empty pipe it can only mean the former, so clearing the source's readiness and waiting
    /// for it is right. Waiting on the source with bytes still in the pipe could stall forever:
    /// the peer may send nothing more until those bytes are delivered.
    async fn run(&mut self) -> io::Result<()> {
        loop {
            self.step = match self.step {
                Step::Fill => match self.fill().await? {
                    0 => Step::HalfClose,
                    n => Step::Drain(n),
                },
                Step::Drain(in_pipe) => match in_pipe - self.drain(in_pipe).await? {
                    0 => Step::Fill,
                    left => Step::Drain(left),
                },
                Step::HalfClose => return shutdown_write(self.destination),
            }
        }
    }

    /// Nothing has left the source yet, so another engine can take over without a gap.
    fn untouched(&self) -> bool {
        self.step == Step::Fill && self.moved == 0
    }

    async fn fill(&self) -> io::Result<usize> {
        let (from, to, len) = (
            self.source.as_raw_fd(),
            self.pipe.write_fd(),
            self.pipe.capacity(),
        );
        self.source
            .async_io(Interest::READABLE, || splice(from, to, len))
            .await
    }

    async fn drain(&mut self, in_pipe: usize) -> io::Result<usize> {
        let (from, to) = (self.pipe.read_fd(), self.destination.as_raw_fd());
        let n = self
            .destination
            .async_io(Interest::WRITABLE, || splice(from, to, in_pipe))
            .await?;
        if n == 0 {
            // Cannot happen with bytes in a pipe we hold both ends of; never spin on it.
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.moved += n as u64;
        self.session_total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One non-blocking splice(2) between a socket and a pipe; EAGAIN comes back as `WouldBlock`.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
        // SAFETY: both fds are open for the duration of the call (borrowed from live owners),
        // and null offsets are what sockets and pipes require.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                flags,
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => continue,
                e => return Err(e),
            },
        }
    }
}

/// Half-closes `stream`: the peer reads EOF while the other direction stays open.
fn shutdown_write(stream: &TcpStream) -> io::Result<()> {
    // SAFETY: the fd is open for the duration of the call (borrowed from `stream`).
    if unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_WR) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
