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
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::parking::{Direction, InFlight};
use super::pipe::{Lease, Pipe, PipePool};
use super::rate::{Bucket, Buckets};
use super::{Counters, Traffic};

/// Set once splice has failed as unsupported, so later connections go straight to copying.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Size of the user-space buffer that stands in for a pipe: the kernel's default pipe size.
const BUFFER_SIZE: usize = 64 << 10;

/// Whether splice may work here: false once it failed as unsupported.
pub(super) fn usable() -> bool {
    !UNSUPPORTED.load(Ordering::Relaxed)
}

/// Both directions of one plain connection. Their state lives here, not in a future: a
/// cancelled [`Splice::run`] leaves each direction between two system calls, with its bytes in
/// flight in its carrier, so the connection can run again, or be parked and handed over.
pub(super) struct Splice<'a> {
    up: Transfer<'a>,
    down: Transfer<'a>,
}

impl<'a> Splice<'a> {
    pub(super) fn new(
        client: &'a TcpStream,
        server: &'a TcpStream,
        counters: &'a Counters,
        pipes: &'a PipePool,
        buckets: Option<&'a Buckets>,
    ) -> Self {
        let mut up = Transfer::new(client, server, pipes, &counters.to_target);
        let mut down = Transfer::new(server, client, pipes, &counters.from_target);
        up.bucket = buckets.map(|b| &b.to_target);
        down.bucket = buckets.map(|b| &b.from_target);
        Splice { up, down }
    }

    /// A connection handed over by the previous process, each direction where it stood.
    pub(super) fn resumed(
        mut self,
        to_target: Direction<OwnedFd>,
        from_target: Direction<OwnedFd>,
    ) -> Self {
        self.up.resume(to_target);
        self.down.resume(from_target);
        self
    }

    /// Runs both directions until both have ended, or the first error. Cancel-safe: see
    /// [`Splice`].
    pub(super) async fn run(&mut self) -> io::Result<()> {
        let (up, down) = (&mut self.up, &mut self.down);
        tokio::try_join!(up.run(), down.run()).map(drop)
    }

    /// Whether `result` says splice does not work on these sockets, before any byte moved:
    /// then the copy engine takes over without a gap, and later connections start with it.
    pub(super) fn unsupported(&self, result: &io::Result<()>) -> bool {
        let unsupported = matches!(result, Err(e) if is_unsupported(e));
        if unsupported && self.up.untouched() && self.down.untouched() {
            UNSUPPORTED.store(true, Ordering::Relaxed);
            tracing::debug!("splice unsupported on these sockets, copying instead");
            return true;
        }
        false
    }

    pub(super) fn traffic(&self) -> Traffic {
        Traffic {
            to_target: self.up.moved,
            from_target: self.down.moved,
        }
    }

    /// Where each direction stands now (to target, from target): valid between two runs.
    pub(super) fn parked(&self) -> (Direction<RawFd>, Direction<RawFd>) {
        (self.up.parked(), self.down.parked())
    }

    /// Lets go of the pipes of a connection handed to the next process: they are closed,
    /// never lent again here, since the next process goes on using them.
    pub(super) fn let_go(&mut self) {
        for transfer in [&mut self.up, &mut self.down] {
            if let Some(Carrier::Pipe(lease)) = transfer.carrier.take() {
                lease.discard();
            }
        }
    }
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
    /// What holds the bytes taken and not delivered yet; None while the direction waits for
    /// its source with nothing in flight.
    carrier: Option<Carrier<'a>>,
    /// Of the bytes last taken, those not delivered yet (the last `left` in the carrier).
    left: usize,
    /// The source's end was passed on.
    finished: bool,
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
            carrier: None,
            left: 0,
            finished: false,
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
    ///
    /// Every system call's effect is recorded in the fields before the next await, so a
    /// cancelled run leaves them true, and the next run (here or in the next process) goes on.
    async fn run(&mut self) -> io::Result<()> {
        while !self.finished {
            while self.left > 0 {
                self.drain().await?;
            }
            if self.fill().await? == 0 {
                shutdown_write(self.destination)?;
                self.finished = true;
            }
        }
        Ok(())
    }

    /// Nothing has left the source yet, so another engine can take over without a gap.
    fn untouched(&self) -> bool {
        self.taken == 0
    }

    /// Waits for the source, then takes its bytes into the carrier (a new one if the direction
    /// gave its own back while waiting); returns how many (0: its end).
    async fn fill(&mut self) -> io::Result<usize> {
        loop {
            self.allowance().await;
            let limit = self.bucket.map_or(usize::MAX, Bucket::grant);
            let (source, carrier) = (self.source, &mut self.carrier);
            poll_fn(|cx| {
                let ready = source.poll_read_ready(cx);
                if ready.is_pending() {
                    // Waiting with an empty carrier: an idle direction holds no pipe.
                    *carrier = None;
                }
                ready
            })
            .await?;
            let carrier = (self.carrier).get_or_insert_with(|| Carrier::take(self.pipes));
            let fd = source.as_raw_fd();
            match source.try_io(Interest::READABLE, || carrier.fill(fd, limit)) {
                Ok(taken) => {
                    if let Some(bucket) = self.bucket {
                        bucket.spend(taken);
                    }
                    self.taken += taken as u64;
                    self.left = taken;
                    return Ok(taken);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the bucket, if any, allows a burst, having given back the (empty) carrier
    /// while it did not.
    async fn allowance(&mut self) {
        let Some(bucket) = self.bucket else {
            return;
        };
        if bucket.delay().is_some() {
            self.carrier = None;
            bucket.ready().await;
        }
    }

    /// Passes on some of the `left` bytes in the carrier.
    async fn drain(&mut self) -> io::Result<()> {
        let destination = self.destination.as_raw_fd();
        let (left, carrier) = (self.left, &mut self.carrier);
        let Some(carrier) = carrier.as_mut() else {
            return Err(io::Error::other("bytes in flight without a carrier"));
        };
        let n = self
            .destination
            .async_io(Interest::WRITABLE, || carrier.drain(destination, left))
            .await?;
        if n == 0 {
            // Cannot happen with bytes in a carrier we hold; never spin on it.
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.left -= n;
        self.moved += n as u64;
        self.session_total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(())
    }

    fn parked(&self) -> Direction<RawFd> {
        let in_flight = match (&self.carrier, self.left) {
            (_, 0) | (None, _) => InFlight::Nothing,
            (Some(Carrier::Pipe(pipe)), bytes) => InFlight::Pipe {
                read: pipe.read_fd(),
                write: pipe.write_fd(),
                bytes,
            },
            (Some(Carrier::Buffer { bytes, end }), left) => {
                InFlight::Buffer(bytes[*end - left..*end].to_vec())
            }
        };
        Direction {
            finished: self.finished,
            moved: self.moved,
            in_flight,
        }
    }

    fn resume(&mut self, parked: Direction<OwnedFd>) {
        self.finished = parked.finished;
        self.moved = parked.moved;
        // Counted as taken: the bytes left the source in the previous process.
        self.taken = parked.moved;
        (self.carrier, self.left) = match parked.in_flight {
            InFlight::Nothing => (None, 0),
            InFlight::Pipe { read, write, bytes } => {
                let pipe = Pipe::adopt(read, write);
                (Some(Carrier::Pipe(self.pipes.adopt(pipe))), bytes)
            }
            InFlight::Buffer(pending) => {
                let mut bytes = vec![0; BUFFER_SIZE.max(pending.len())].into_boxed_slice();
                bytes[..pending.len()].copy_from_slice(&pending);
                let end = pending.len();
                (Some(Carrier::Buffer { bytes, end }), end)
            }
        };
        self.taken += self.left as u64;
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
