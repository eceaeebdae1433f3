//! The kernel pipe that one splice direction moves its bytes through.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
}
