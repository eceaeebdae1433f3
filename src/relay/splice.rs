//! The Linux engine: each direction moves bytes socket -> pipe -> socket with splice(2), so
//! they never enter user space. Driven by the readiness of the sockets' own tokio registrations.
//!
//! Pipes come from the server's [`PipePool`] only while bytes are in flight: a direction takes
//! one when its source has bytes and gives it back when it has to wait, so an idle connection
//! holds nothing but its two sockets. When the pool has no pipe to spare, a direction carries
//! its bytes through a small user-space buffer instead, so it never waits for another
//! connection's pipe.
//!
//! A session held to a rate takes from the source no more than its direction's [`Bucket`]
//! allows, and sleeps on a timer meanwhile (holding no pipe); an unlimited one never looks at a
//! bucket.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::pipe::{Lease, PipePool};
use super::rate::{Bucket, Buckets};
use super::{copy, Counters, Traffic};

/// Set once splice has failed as unsupported, so later connections go straight to copying.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Size of the user-space buffer that stands in for a pipe: the kernel's default pipe size.
const BUFFER_SIZE: usize = 64 << 10;

/// Same contract as [`copy::relay`], which it falls back to when splice is unavailable.
pub(super) async fn relay(
    client: &mut TcpStream,
    server: &mut TcpStream,
    counters: &Counters,
    pipes: &PipePool,
    buckets: Option<&Buckets>,
) -> (Traffic, io::Result<()>) {
    if !UNSUPPORTED.load(Ordering::Relaxed) {
        if let Some(spliced) = splice_both_ways(client, server, counters, pipes, buckets).await {
            return spliced;
        }
        UNSUPPORTED.store(true, Ordering::Relaxed);
        tracing::debug!("splice unsupported on these sockets, copying instead");
    }
    copy::relay(client, server, counters, copy::PLAIN, buckets).await
}

/// Runs both directions at once; `None` if splice proved unsupported before any byte moved.
async fn splice_both_ways(
    client: &TcpStream,
    server: &TcpStream,
    counters: &Counters,
    pipes: &PipePool,
    buckets: Option<&Buckets>,
) -> Option<(Traffic, io::Result<()>)> {
    let mut up = Transfer::new(client, server, pipes, &counters.to_target);
    let mut down = Transfer::new(server, client, pipes, &counters.from_target);
    up.bucket = buckets.map(|b| &b.to_target);
    down.bucket = buckets.map(|b| &b.from_target);
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

/// What holds a direction's bytes between its source and its destination.
enum Carrier<'a> {
    /// Spliced through: the bytes never enter user space.
    Pipe(Lease<'a>),
    /// Copied through user space while the pool has no pipe to spare; `end` bytes were read.
    Buffer { bytes: Box<[u8]>, end: usize },
}

impl<'a> Carrier<'a> {
    fn take(pipes: &'a PipePool) -> Self {
        pipes.take().map_or_else(
            || Carrier::Buffer {
                bytes: vec![0; BUFFER_SIZE].into_boxed_slice(),
                end: 0,
            },
            Carrier::Pipe,
        )
    }

    /// Takes what `source` has, as much as the carrier holds and at most `limit`; 0 at EOF.
    fn fill(&mut self, source: RawFd, limit: usize) -> io::Result<usize> {
        match self {
            Carrier::Pipe(pipe) => splice(source, pipe.write_fd(), pipe.capacity().min(limit)),
            Carrier::Buffer { bytes, end } => {
                let len = bytes.len().min(limit);
                *end = retry_interrupted(|| {
                    // SAFETY: the fd is open for the call and `bytes` (of at least `len` bytes)
                    // is ours to write.
                    unsafe { libc::recv(source, bytes.as_mut_ptr().cast(), len, 0) }
                })?;
                Ok(*end)
            }
        }
    }

    /// Passes on some of the last `left` bytes taken.
    fn drain(&mut self, destination: RawFd, left: usize) -> io::Result<usize> {
        match self {
            Carrier::Pipe(pipe) => splice(pipe.read_fd(), destination, left),
            Carrier::Buffer { bytes, end } => {
                let pending = &bytes[*end - left..*end];
                retry_interrupted(|| {
                    // SAFETY: the fd is open for the call and `pending` is valid for reads.
                    // MSG_NOSIGNAL: a reset peer is an error to report, not a SIGPIPE.
                    unsafe {
                        libc::send(
                            destination,
                            pending.as_ptr().cast(),
                            pending.len(),
                            libc::MSG_NOSIGNAL,
                        )
                    }
                })
            }
        }
    }
}

/// One direction of a connection: source socket -> carrier -> destination socket.
struct Transfer<'a> {
    source: &'a TcpStream,
    destination: &'a TcpStream,
    pipes: &'a PipePool,
    /// Bytes taken from the source.
    taken: u64,
    /// Bytes delivered to the destination, kept even when the transfer fails.
    moved: u64,
    session_total: &'a AtomicU64,
    /// The session's limit in this direction, if it has one.
    bucket: Option<&'a Bucket>,
}

impl<'a> Transfer<'a> {
    fn new(
        source: &'a TcpStream,
        destination: &'a TcpStream,
        pipes: &'a PipePool,
        session_total: &'a AtomicU64,
    ) -> Self {
        Transfer {
            source,
            destination,
            pipes,
            taken: 0,
            moved: 0,
            session_total,
            bucket: None,
        }
    }

    /// Runs until the source's EOF has been passed on, or the first error.
    ///
    /// Invariant: we read from the source only while the carrier is empty. splice(socket ->
    /// pipe) answers EAGAIN both when the socket has no data and when the pipe is full; with
    /// an empty pipe it can only mean the former, so clearing the source's readiness and
    /// waiting for it is right. Waiting on the source with bytes still in the pipe could stall
    /// forever: the peer may send nothing more until those bytes are delivered. The same
    /// invariant makes a pipe safe to give back whenever the direction waits for its source.
    async fn run(&mut self) -> io::Result<()> {
        let mut kept = None;
        loop {
            let (mut carrier, taken) = self.fill(kept.take()).await?;
            if taken == 0 {
                return shutdown_write(self.destination);
            }
            self.taken += taken as u64;
            let mut left = taken;
            while left > 0 {
                left -= self.drain(&mut carrier, left).await?;
            }
            kept = Some(carrier);
        }
    }

    /// Nothing has left the source yet, so another engine can take over without a gap.
    fn untouched(&self) -> bool {
        self.taken == 0
    }

    /// Waits for the source, then takes its bytes into `kept`, or into a new carrier if the
    /// direction gave its own back while waiting.
    async fn fill(&self, mut kept: Option<Carrier<'a>>) -> io::Result<(Carrier<'a>, usize)> {
        loop {
            let limit = self.allowance(&mut kept).await;
            poll_fn(|cx| {
                let ready = self.source.poll_read_ready(cx);
                if ready.is_pending() {
                    // Waiting with an empty carrier: an idle direction holds no pipe.
                    kept = None;
                }
                ready
            })
            .await?;
            let mut carrier = kept.take().unwrap_or_else(|| Carrier::take(self.pipes));
            let source = self.source.as_raw_fd();
            match self
                .source
                .try_io(Interest::READABLE, || carrier.fill(source, limit))
            {
                Ok(taken) => {
                    if let Some(bucket) = self.bucket {
                        bucket.spend(taken);
                    }
                    return Ok((carrier, taken));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => kept = Some(carrier),
                Err(e) => return Err(e),
            }
        }
    }

    /// The most the next fill may take: unbounded without a bucket; with one, a burst once the
    /// bucket allows it, having given back the (empty) carrier while it did not.
    async fn allowance(&self, kept: &mut Option<Carrier<'a>>) -> usize {
        let Some(bucket) = self.bucket else {
            return usize::MAX;
        };
        if bucket.delay().is_some() {
            *kept = None;
            bucket.ready().await;
        }
        bucket.grant()
    }

    async fn drain(&mut self, carrier: &mut Carrier<'_>, left: usize) -> io::Result<usize> {
        let destination = self.destination.as_raw_fd();
        let n = self
            .destination
            .async_io(Interest::WRITABLE, || carrier.drain(destination, left))
            .await?;
        if n == 0 {
            // Cannot happen with bytes in a carrier we hold; never spin on it.
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.moved += n as u64;
        self.session_total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One non-blocking splice(2) between a socket and a pipe; EAGAIN comes back as `WouldBlock`.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    retry_interrupted(|| {
        let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
        // SAFETY: both fds are open for the duration of the call (borrowed from live owners),
        // and null offsets are what sockets and pipes require.
        unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                flags,
            )
        }
    })
}

/// Runs a byte-moving system call until it is not interrupted; its count, or the error.
fn retry_interrupted(mut call: impl FnMut() -> libc::ssize_t) -> io::Result<usize> {
    loop {
        match usize::try_from(call()) {
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
