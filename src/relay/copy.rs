//! The portable engine: both directions copied through user-space buffers. Used where splice(2)
//! does not exist or does not work for these sockets, and for the encrypted hop, whose bytes
//! pass through rustls anyway.
//!
//! A direction holds a buffer only while it has bytes to move: one that waits for its source
//! gives its buffer back, so an idle connection holds none. A buffer starts at its [`Sizing`]'s
//! floor and doubles, up to the ceiling, while reads fill it (the source has more than it
//! holds), as far as a server-wide [`BufferBudget`] lends the growth. So a connection's memory
//! is what its traffic needs, and all connections together stay within the budget.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::rate::{Buckets, Pacer};
use super::{Counters, Traffic};

/// Buffers between plain sockets: what `tokio::io::copy_bidirectional` uses, never grown.
pub(super) const PLAIN: Sizing<'static> = Sizing {
    floor: 8 << 10,
    ceiling: 8 << 10,
    budget: None,
};

/// Bytes of copy buffers above their floors that the connections of a server may hold at once.
pub(crate) struct BufferBudget {
    lent: AtomicUsize,
    max: usize,
}

impl BufferBudget {
    pub(super) fn new(max: usize) -> Self {
        BufferBudget {
            lent: AtomicUsize::new(0),
            max,
        }
    }

    /// Bytes lent out now.
    #[cfg(test)]
    fn lent(&self) -> usize {
        self.lent.load(Ordering::Relaxed)
    }

    fn borrow(&self, bytes: usize) -> bool {
        self.lent
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |lent| {
                (lent + bytes <= self.max).then_some(lent + bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.lent.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// How large a direction's buffer may be.
#[derive(Clone, Copy)]
pub(super) struct Sizing<'a> {
    /// Every direction with bytes to move may hold this much.
    pub(super) floor: usize,
    /// The most one direction holds, when the budget lends the difference.
    pub(super) ceiling: usize,
    /// Lends what goes above the floor; None: buffers stay at the floor.
    pub(super) budget: Option<&'a BufferBudget>,
}

/// Same contract as the splice engine: half-close on EOF, error on reset, counters live. With
/// `buckets`, each direction reads no faster than its bucket allows.
pub(super) async fn relay<C, S>(
    client: &mut C,
    server: &mut S,
    counters: &Counters,
    sizing: Sizing<'_>,
    buckets: Option<&Buckets>,
) -> (Traffic, io::Result<()>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let pacer = |pick: fn(&Buckets) -> &super::rate::Bucket| buckets.map(|b| Pacer::new(pick(b)));
    let mut up = Direction::new(&counters.to_target, sizing, pacer(|b| &b.to_target));
    let mut down = Direction::new(&counters.from_target, sizing, pacer(|b| &b.from_target));
    let result = poll_fn(|cx| {
        let up_done = up.poll_copy(cx, Pin::new(&mut *client), Pin::new(&mut *server))?;
        let down_done = down.poll_copy(cx, Pin::new(&mut *server), Pin::new(&mut *client))?;
        ready!(up_done);
        ready!(down_done);
        Poll::Ready(Ok(()))
    })
    .await;
    let traffic = Traffic {
        to_target: up.moved,
        from_target: down.moved,
    };
    (traffic, result)
}

/// One direction: source -> buffer -> destination.
struct Direction<'a> {
    /// The bytes read and not all written yet; no allocation while the direction is idle.
    buf: Vec<u8>,
    /// How much of `buf` is written.
    written: usize,
    /// The size of the buffer held now (0: none), and what the next one should be.
    held: usize,
    wanted: usize,
    /// Of `held`, what the budget lent.
    borrowed: usize,
    sizing: Sizing<'a>,
    pacer: Option<Pacer<'a>>,
    read_done: bool,
    need_flush: bool,
    done: bool,
    moved: u64,
    session_total: &'a AtomicU64,
}

impl<'a> Direction<'a> {
    fn new(session_total: &'a AtomicU64, sizing: Sizing<'a>, pacer: Option<Pacer<'a>>) -> Self {
        Direction {
            buf: Vec::new(),
            written: 0,
            held: 0,
            wanted: sizing.floor,
            borrowed: 0,
            sizing,
            pacer,
            read_done: false,
            need_flush: false,
            done: false,
            moved: 0,
            session_total,
        }
    }

    /// Ready once the source's EOF has been passed on (the destination shut down for writes).
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut source: Pin<&mut R>,
        mut destination: Pin<&mut W>,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        while !self.done {
            if self.written == self.buf.len() {
                if self.read_done {
                    ready!(destination.as_mut().poll_shutdown(cx))?;
                    self.done = true;
                    break;
                }
                if self.poll_fill(cx, source.as_mut())?.is_pending() {
                    // Waiting for the source: hold no buffer meanwhile, and let what was
                    // written leave (a TLS writer keeps the end of a record until flushed).
                    self.release();
                    if self.need_flush {
                        ready!(destination.as_mut().poll_flush(cx))?;
                        self.need_flush = false;
                    }
                    return Poll::Pending;
                }
            }
            while self.written < self.buf.len() {
                let pending = &self.buf[self.written..];
                let n = ready!(destination.as_mut().poll_write(cx, pending))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
                self.moved += n as u64;
                self.session_total.fetch_add(n as u64, Ordering::Relaxed);
                self.need_flush = true;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads what the source has (and the bucket allows) into an empty buffer.
    fn poll_fill<R>(&mut self, cx: &mut Context<'_>, source: Pin<&mut R>) -> Poll<io::Result<()>>
    where
        R: AsyncRead + ?Sized,
    {
        let grant = match self.pacer.as_mut() {
            Some(pacer) => {
                ready!(pacer.poll_ready(cx));
                pacer.grant()
            }
            None => usize::MAX,
        };
        self.hold();
        let room = self.held.min(grant);
        let spare = &mut self.buf.spare_capacity_mut()[..room];
        let start = spare.as_ptr();
        let mut read = ReadBuf::uninit(spare);
        ready!(source.poll_read(cx, &mut read))?;
        let n = read.filled().len();
        if read.filled().as_ptr().cast() != start {
            return Poll::Ready(Err(io::Error::other("a reader replaced its buffer")));
        }
        // SAFETY: the reader initialized the first `n` bytes of the spare capacity, which the
        // check above shows is where they are.
        unsafe { self.buf.set_len(n) };
        self.written = 0;
        if let Some(pacer) = &self.pacer {
            pacer.spend(n);
        }
        match n {
            0 => self.read_done = true,
            n if n == self.held => self.wanted = (2 * self.held).min(self.sizing.ceiling),
            _ => {}
        }
        Poll::Ready(Ok(()))
    }

    /// Makes sure an empty buffer of the wanted size is held, or of the largest size the
    /// budget lends now (never below the floor).
    fn hold(&mut self) {
        self.buf.clear();
        if self.held == self.wanted {
            return;
        }
        self.release();
        let floor = self.sizing.floor;
        while self.wanted > floor && !self.borrow(self.wanted - floor) {
            self.wanted = (self.wanted / 2).max(floor);
        }
        self.buf = Vec::with_capacity(self.wanted);
        self.held = self.wanted;
    }

    fn borrow(&mut self, bytes: usize) -> bool {
        let lent = self.sizing.budget.is_some_and(|b| b.borrow(bytes));
        if lent {
            self.borrowed = bytes;
        }
        lent
    }

    /// Frees the buffer (empty or not: only when idle or finished) and what it borrowed.
    fn release(&mut self) {
        self.buf = Vec::new();
        self.written = 0;
        self.held = 0;
        if let Some(budget) = self.sizing.budget {
            budget.give_back(std::mem::take(&mut self.borrowed));
        }
    }
}

impl Drop for Direction<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::relay::loopback::connected_pair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The splice engine covers this path on Linux only when splice fails, so drive it directly:
    /// bytes cross both ways, EOF half-closes, and both counters match what moved.
    #[tokio::test]
    async fn copies_both_ways_and_counts() {
        let (mut app, mut client) = connected_pair().await;
        let (mut server, mut target) = connected_pair().await;
        let counters = Counters::default();
        let relayed = relay(&mut client, &mut server, &counters, PLAIN, None);
        let exchange = async {
            app.write_all(b"request").await.unwrap();
            app.shutdown().await.unwrap();
            let mut request = Vec::new();
            target.read_to_end(&mut request).await.unwrap();
            target.write_all(b"a longer response").await.unwrap();
            target.shutdown().await.unwrap();
            let mut response = Vec::new();
            app.read_to_end(&mut response).await.unwrap();
            (request, response)
        };
        let ((traffic, result), (request, response)) = tokio::join!(relayed, exchange);
        result.unwrap();
        assert_eq!(
            (&request[..], &response[..]),
            (&b"request"[..], &b"a longer response"[..])
        );
        assert_eq!((traffic.to_target, traffic.from_target), (7, 17));
        let stats = counters.snapshot();
        assert_eq!((stats.bytes_to_target, stats.bytes_from_target), (7, 17));
    }

    /// The loop of the encrypted hop and of the fallback holds a limited session to its rate.
    #[tokio::test(start_paused = true)]
    async fn a_limited_session_copies_no_faster_than_its_rate() {
        let (mut app, mut client) = connected_pair().await;
        let (mut server, mut target) = connected_pair().await;
        let counters = Counters::default();
        // 8 Mbit/s: 1 MB/s each way.
        let buckets = Buckets::new(crate::relay::BitRate::new(8_000_000).unwrap());
        let start = tokio::time::Instant::now();
        let relayed = relay(&mut client, &mut server, &counters, PLAIN, Some(&buckets));
        let exchange = async {
            let (mut request, mut response) = (Vec::new(), Vec::new());
            let to_target = async {
                app.write_all(&[1; 1_000_000]).await.unwrap();
                app.shutdown().await.unwrap();
                app.read_to_end(&mut response).await.unwrap();
            };
            let from_target = async {
                target.write_all(&[2; 500_000]).await.unwrap();
                target.shutdown().await.unwrap();
                target.read_to_end(&mut request).await.unwrap();
            };
            tokio::join!(to_target, from_target);
            (request.len(), response.len())
        };
        let ((_, result), moved) = tokio::join!(relayed, exchange);
        result.unwrap();
        assert_eq!(moved, (1_000_000, 500_000));
        // Less the two 16 KiB bursts the bucket may lend.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(960),
            "1 MB took {took:?} at 1 MB/s"
        );
    }

    const SIZING: Sizing<'static> = Sizing {
        floor: 16 << 10,
        ceiling: 256 << 10,
        budget: None,
    };

    /// A source with `ready` bytes at once, then nothing (pending) until told otherwise.
    struct Source {
        ready: usize,
    }

    impl AsyncRead for Source {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.ready == 0 {
                return Poll::Pending;
            }
            let n = self.ready.min(buf.remaining());
            buf.put_slice(&vec![7; n]);
            self.ready -= n;
            Poll::Ready(Ok(()))
        }
    }

    /// A destination that takes nothing: a producer that does not read.
    struct Stuck;

    impl AsyncWrite for Stuck {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    /// Takes everything at once.
    struct Drain;

    impl AsyncWrite for Drain {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn poll_once<W: AsyncWrite + Unpin>(
        direction: &mut Direction<'_>,
        source: &mut Source,
        to: &mut W,
    ) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let polled = direction.poll_copy(&mut cx, Pin::new(source), Pin::new(to));
        assert!(polled.is_pending());
    }

    #[test]
    fn an_idle_direction_holds_no_buffer() {
        let total = AtomicU64::new(0);
        let mut direction = Direction::new(&total, SIZING, None);
        poll_once(&mut direction, &mut Source { ready: 0 }, &mut Drain);
        assert_eq!(direction.buf.capacity(), 0);
        poll_once(&mut direction, &mut Source { ready: 100_000 }, &mut Drain);
        assert_eq!(total.load(Ordering::Relaxed), 100_000);
        assert_eq!(
            direction.buf.capacity(),
            0,
            "kept its buffer after the burst"
        );
    }

    /// Finding 12 of issue 17: a stuck destination held a 256 KiB buffer per direction,
    /// whatever the budget; now it holds the floor, plus what the budget lends.
    #[test]
    fn blocked_directions_hold_the_floor_plus_at_most_the_budget() {
        let budget = BufferBudget::new(512 << 10);
        let sizing = Sizing {
            budget: Some(&budget),
            ..SIZING
        };
        let total = AtomicU64::new(0);
        let mut directions: Vec<Direction<'_>> = (0..10)
            .map(|_| Direction::new(&total, sizing, None))
            .collect();
        for direction in &mut directions {
            // A source with more than any buffer holds: the buffer grows as far as allowed.
            for _ in 0..8 {
                poll_once(direction, &mut Source { ready: 1 << 20 }, &mut Drain);
            }
            poll_once(direction, &mut Source { ready: 1 << 20 }, &mut Stuck);
        }
        let held: usize = directions.iter().map(|d| d.buf.capacity()).sum();
        assert!(held <= 10 * (16 << 10) + (512 << 10), "{held} bytes held");
        assert!(budget.lent() <= budget.max);
        assert!(
            directions[0].buf.capacity() >= 256 << 10,
            "the first direction did not grow: {}",
            directions[0].buf.capacity()
        );
        drop(directions);
        assert_eq!(budget.lent(), 0, "dropped directions kept their loans");
    }

    #[test]
    fn without_a_budget_buffers_stay_at_the_floor() {
        let total = AtomicU64::new(0);
        let mut direction = Direction::new(&total, SIZING, None);
        for _ in 0..4 {
            poll_once(&mut direction, &mut Source { ready: 1 << 20 }, &mut Drain);
        }
        poll_once(&mut direction, &mut Source { ready: 1 << 20 }, &mut Stuck);
        assert!(
            direction.buf.capacity() < 32 << 10,
            "{}",
            direction.buf.capacity()
        );
    }
}
