//! A pseudo-terminal, for checking what a command shows on a terminal and nowhere else.

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a child wrote to the terminal, read as it comes.
pub struct Terminal {
    chunks: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

/// Opens a pty: the terminal side to give a child (as its stderr, say), and the reader of
/// everything written to it. Drop every copy of the terminal side for the reader to end.
pub fn open() -> (File, Terminal) {
    let (mut controller, mut terminal) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into the provided ints; null name and termios are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened by openpty and are owned by nothing else.
    let (mut controller, terminal) =
        unsafe { (File::from_raw_fd(controller), File::from_raw_fd(terminal)) };
    let (tx, chunks) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once no process holds the terminal side any more.
        while let Ok(n @ 1..) = controller.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (
        terminal,
        Terminal {
            chunks,
            seen: Vec::new(),
        },
    )
}

impl Terminal {
    /// Reads until `text` has appeared; panics after a generous deadline.
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.text().contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(_) => panic!(
                    "{text:?} never appeared; the terminal shows {:?}",
                    self.text()
                ),
            }
        }
    }

    /// Everything written, once every writer has gone.
    pub fn rest(mut self) -> String {
        self.seen.extend(self.chunks.iter().flatten());
        self.text()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}
