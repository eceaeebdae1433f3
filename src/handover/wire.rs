//! The handover socket: a Unix SOCK_SEQPACKET socket over which one server process hands its
//! open sockets and pipes to the next. A message is a JSON document and a list of fds; it goes as
//! frames that each carry at most [`FDS_PER_FRAME`] fds (the kernel takes up to 253 per
//! message) and [`BYTES_PER_FRAME`] bytes, after a first frame that says how much follows.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

const FDS_PER_FRAME: usize = 250;
const BYTES_PER_FRAME: usize = 32 * 1024;
/// The largest message accepted: a manifest of many thousands of connections fits.
const MAX_MESSAGE_BYTES: usize = 256 << 20;
const MAX_MESSAGE_FDS: usize = 1 << 20;

/// One end of a handover connection; blocking, with a deadline on every read and write.
pub(crate) struct Channel(OwnedFd);

/// Listens for the next server process on `path` (replacing a stale socket file there);
/// non-blocking, for [`Channel::accept`] once it is readable.
pub(crate) fn listen(path: &Path) -> io::Result<OwnedFd> {
    let _ = std::fs::remove_file(path);
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let socket = rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, flags, None)?;
    rustix::net::bind(&socket, &SocketAddrUnix::new(path)?)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    rustix::net::listen(&socket, 1)?;
    Ok(socket)
}

impl Channel {
    /// Takes the next process waiting on a socket from [`listen`] (`WouldBlock` if none);
    /// the channel itself blocks, up to `deadline` per read or write.
    pub(crate) fn accept(listener: &OwnedFd, deadline: Duration) -> io::Result<Channel> {
        let socket = rustix::net::accept_with(listener, SocketFlags::CLOEXEC)?;
        Channel::with_deadline(socket, deadline)
    }

    /// Connects to the running server's handover socket at `path`.
    pub(crate) fn connect(path: &Path, deadline: Duration) -> io::Result<Channel> {
        let socket = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::connect(&socket, &SocketAddrUnix::new(path)?)?;
        Channel::with_deadline(socket, deadline)
    }

    fn with_deadline(socket: OwnedFd, deadline: Duration) -> io::Result<Channel> {
        rustix::net::sockopt::set_socket_timeout(
            &socket,
            rustix::net::sockopt::Timeout::Recv,
            Some(deadline),
        )?;
        rustix::net::sockopt::set_socket_timeout(
            &socket,
            rustix::net::sockopt::Timeout::Send,
            Some(deadline),
        )?;
        Ok(Channel(socket))
    }

    /// Sends `message` with `fds` (duplicated into the receiver; ours stay open).
    pub(crate) fn send<T: Serialize>(&self, message: &T, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let bytes = serde_json::to_vec(message)?;
        let header = [
            (bytes.len() as u64).to_le_bytes(),
            (fds.len() as u64).to_le_bytes(),
        ]
        .concat();
        self.send_frame(&header, &[])?;
        let mut chunks = bytes.chunks(BYTES_PER_FRAME);
        let mut fd_chunks = fds.chunks(FDS_PER_FRAME);
        loop {
            let (data, fds) = (chunks.next(), fd_chunks.next());
            if data.is_none() && fds.is_none() {
                return Ok(());
            }
            self.send_frame(data.unwrap_or_default(), fds.unwrap_or_default())?;
        }
    }

    fn send_frame(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_FRAME))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("too many fds for one frame"));
        }
        // A seqpacket frame with no byte carries no fds either: always send at least one.
        let data = if data.is_empty() { &[0u8][..] } else { data };
        let sent = rustix::net::sendmsg(
            &self.0,
            &[io::IoSlice::new(data)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        match sent == data.len() {
            true => Ok(()),
            false => Err(io::Error::other("a handover frame was cut short")),
        }
    }

    /// Receives one message and its fds.
    pub(crate) fn recv<T: DeserializeOwned>(&self) -> io::Result<(T, Vec<OwnedFd>)> {
        let (header, _) = self.recv_frame()?;
        let field = |i: usize| {
            header
                .get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .and_then(|n| usize::try_from(n).ok())
        };
        let (Some(len), Some(fd_count)) = (field(0), field(1)) else {
            return Err(invalid("a handover message without its header"));
        };
        if len > MAX_MESSAGE_BYTES || fd_count > MAX_MESSAGE_FDS {
            return Err(invalid("a handover message too large"));
        }
        let (mut bytes, mut fds) = (Vec::with_capacity(len), Vec::with_capacity(fd_count));
        while bytes.len() < len || fds.len() < fd_count {
            let (data, more) = self.recv_frame()?;
            if bytes.len() < len {
                bytes.extend_from_slice(&data);
            }
            fds.extend(more);
        }
        if bytes.len() != len || fds.len() != fd_count {
            return Err(invalid("a handover message whose frames do not add up"));
        }
        let message = serde_json::from_slice(&bytes).map_err(|e| invalid(&e.to_string()))?;
        Ok((message, fds))
    }

    fn recv_frame(&self) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
        let mut data = vec![0u8; BYTES_PER_FRAME];
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_FRAME))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            &self.0,
            &mut [io::IoSliceMut::new(&mut data)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        if received.bytes == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if received.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
            return Err(invalid("a handover frame lost some of its fds"));
        }
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = message {
                fds.extend(rights);
            }
        }
        data.truncate(received.bytes);
        Ok((data, fds))
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;

    fn pair() -> (Channel, Channel) {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let deadline = Duration::from_secs(30);
        (
            Channel::with_deadline(a, deadline).unwrap(),
            Channel::with_deadline(b, deadline).unwrap(),
        )
    }

    #[test]
    fn a_message_arrives_with_working_fds_even_past_one_frame() {
        let (old, new) = pair();
        let streams: Vec<(UnixStream, UnixStream)> =
            (0..600).map(|_| UnixStream::pair().unwrap()).collect();
        let fds: Vec<BorrowedFd<'_>> = streams.iter().map(|(a, _)| a.as_fd()).collect();
        let manifest: Vec<String> = (0..5000).map(|i| format!("connection {i}")).collect();
        let sender = std::thread::scope(|s| {
            let sending = s.spawn(|| old.send(&manifest, &fds));
            let received: (Vec<String>, Vec<OwnedFd>) = new.recv().unwrap();
            sending.join().unwrap().unwrap();
            received
        });
        let (got, got_fds) = sender;
        assert_eq!(got, manifest);
        assert_eq!(got_fds.len(), 600);
        // The received fd is the same socket: what goes in one end comes out of its peer.
        let mut passed = UnixStream::from(got_fds.into_iter().nth(599).unwrap());
        passed.write_all(b"still open").unwrap();
        let mut peer = &streams[599].1;
        let mut buf = [0u8; 10];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still open");
    }

    #[test]
    fn a_peer_that_hangs_up_is_an_error_not_a_hang() {
        let (old, new) = pair();
        drop(old);
        let result: io::Result<(u32, Vec<OwnedFd>)> = new.recv();
        assert!(result.is_err());
    }
}
