//! The kernel pipes that splice directions move their bytes through, and the pool that lends
//! them out only while bytes are in flight.

use std::io;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Capacity asked for each pipe: large enough that one splice moves a good share of a socket
/// buffer on a fast link.
const WANTED_CAPACITY: usize = 1 << 20;
/// Below this we stop asking and keep what the kernel gave by default.
const SMALLEST_ASK: usize = 64 << 10;

/// A non-blocking, close-on-exec pipe; both ends close on drop.
pub(super) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    pub(super) fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let capacity = enlarge(&write)?;
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    /// A pipe handed over by the previous process, with whatever it holds.
    pub(super) fn adopt(read: OwnedFd, write: OwnedFd) -> Pipe {
        let capacity = fcntl(&write, libc::F_GETPIPE_SZ, 0).unwrap_or(SMALLEST_ASK);
        Pipe {
            read,
            write,
            capacity,
        }
    }

    pub(super) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    pub(super) fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    /// Bytes the pipe can hold, as the kernel sized it.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether no byte waits in the pipe (false if that cannot be told).
    fn is_empty(&self) -> bool {
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int into the one we pass.
        let asked = unsafe { libc::ioctl(self.read.as_raw_fd(), libc::FIONREAD, &mut waiting) };
        asked == 0 && waiting == 0
    }
}

/// Idle pipes a pool keeps for the next burst of bytes; beyond these, returned pipes close.
const IDLE_KEPT: usize = 32;

/// The pipes of one server's connections. A direction takes one when bytes arrive and gives
/// it back when it has to wait for more, so an idle connection holds no pipe. At most `max`
/// are open at once, idle or leased: the fd budget counts them.
pub(super) struct PipePool {
    idle: Mutex<Vec<Pipe>>,
    open: AtomicUsize,
    max: usize,
}

impl PipePool {
    pub(super) fn new(max: usize) -> Self {
        PipePool {
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            max,
        }
    }

    /// An empty pipe, unless `max` are open or the system has none to give.
    pub(super) fn take(&self) -> Option<Lease<'_>> {
        let pipe = match self.lock().pop() {
            Some(pipe) => pipe,
            None => self.open_one()?,
        };
        Some(Lease {
            pipe: ManuallyDrop::new(pipe),
            pool: self,
        })
    }

    /// Lends `pipe` (handed over by the previous process, bytes in it) as if taken from the
    /// pool; it counts as open even past `max`, as it was open before.
    pub(super) fn adopt(&self, pipe: Pipe) -> Lease<'_> {
        self.open.fetch_add(1, Ordering::Relaxed);
        Lease {
            pipe: ManuallyDrop::new(pipe),
            pool: self,
        }
    }

    /// Closes the idle pipes, so a server without connections holds none.
    pub(super) fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.lock());
        self.open.fetch_sub(idle.len(), Ordering::Relaxed);
    }

    fn open_one(&self) -> Option<Pipe> {
        self.open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        Pipe::new()
            .inspect_err(|e| {
                self.open.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!("no pipe ({e}): copying through user space meanwhile");
            })
            .ok()
    }

    fn give_back(&self, pipe: Pipe) {
        // Bytes left in a pipe (its connection was cut mid-transfer) must never reach another
        // connection: such a pipe is closed, not pooled.
        if pipe.is_empty() {
            let mut idle = self.lock();
            if idle.len() < IDLE_KEPT {
                idle.push(pipe);
                return;
            }
        }
        drop(pipe);
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Pipe>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pipe taken from a [`PipePool`]; it goes back when dropped.
pub(super) struct Lease<'a> {
    pipe: ManuallyDrop<Pipe>,
    pool: &'a PipePool,
}

impl Lease<'_> {
    /// Closes the pipe instead of giving it back: another process uses it now.
    pub(super) fn discard(mut self) {
        // SAFETY: the pipe is taken once, here, and the lease is forgotten, never dropped.
        let pipe = unsafe { ManuallyDrop::take(&mut self.pipe) };
        self.pool.open.fetch_sub(1, Ordering::Relaxed);
        std::mem::forget(self);
        drop(pipe);
    }
}

impl Deref for Lease<'_> {
    type Target = Pipe;

    fn deref(&self) -> &Pipe {
        &self.pipe
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // SAFETY: the pipe is taken once, here, and the lease is never used again.
        let pipe = unsafe { ManuallyDrop::take(&mut self.pipe) };
        self.pool.give_back(pipe);
    }
}

/// Asks for [`WANTED_CAPACITY`], halving on EPERM (above /proc/sys/fs/pipe-max-size, or the
/// user is over /proc/sys/fs/pipe-user-pages-soft), and returns the capacity finally in effect.
fn enlarge(pipe: &OwnedFd) -> io::Result<usize> {
    let mut ask = WANTED_CAPACITY;
    while ask >= SMALLEST_ASK {
        match fcntl(pipe, libc::F_SETPIPE_SZ, ask) {
            Ok(capacity) => return Ok(capacity),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => ask /= 2,
            Err(_) => break,
        }
    }
    fcntl(pipe, libc::F_GETPIPE_SZ, 0)
}

fn fcntl(fd: &OwnedFd, command: libc::c_int, arg: usize) -> io::Result<usize> {
    let arg =
        libc::c_int::try_from(arg).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the pipe-size commands take an int and touch no memory of ours.
    let result = unsafe { libc::fcntl(fd.as_raw_fd(), command, arg) };
    usize::try_from(result).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_gets_the_wanted_capacity_or_a_smaller_usable_one() {
        let capacity = Pipe::new().unwrap().capacity();
        assert!(
            capacity.is_power_of_two() && capacity >= 4096,
            "capacity {capacity}"
        );
        assert!(capacity <= WANTED_CAPACITY, "capacity {capacity}");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root is exempt from both pipe limits, so nothing may shrink the pipe.
            assert_eq!(capacity, WANTED_CAPACITY);
        }
    }

    fn write_into(pipe: &Pipe, bytes: &[u8]) {
        // SAFETY: the fd is open and `bytes` is valid for reads.
        let n = unsafe { libc::write(pipe.write_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(usize::try_from(n).unwrap(), bytes.len());
    }

    #[test]
    fn an_empty_pipe_is_lent_again_and_the_pool_stays_within_its_bound() {
        let pool = PipePool::new(2);
        let first = pool.take().unwrap().read_fd();
        let (a, b) = (pool.take().unwrap(), pool.take().unwrap());
        assert_eq!(a.read_fd(), first, "the returned pipe is lent again");
        assert_ne!(b.read_fd(), first);
        assert!(pool.take().is_none(), "a third pipe beyond the bound of 2");
        drop(a);
        assert!(pool.take().is_some());
    }

    #[test]
    fn a_pipe_with_bytes_left_is_closed_not_lent() {
        let pool = PipePool::new(1);
        let cut = pool.take().unwrap();
        write_into(&cut, b"another connection's bytes");
        drop(cut);
        assert_eq!(pool.open.load(Ordering::Relaxed), 0, "the pipe was kept");
        let next = pool.take().expect("the closed pipe no longer counts");
        assert!(next.is_empty());
    }

    #[test]
    fn idle_pipes_close_on_request() {
        let pool = PipePool::new(1);
        drop(pool.take().unwrap());
        pool.close_idle();
        assert_eq!(pool.open.load(Ordering::Relaxed), 0);
        assert!(pool.take().is_some());
    }
}
