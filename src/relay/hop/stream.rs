//! One TLS leg of the hop, shaped for throughput: rustls hands over at most one record (16 KiB)
//! per read, which would cost one write to the plain socket per record. Here reads of plaintext
//! go on while records are ready, so that the plain side moves large chunks. (Reading the
//! socket through a large buffer too saves reads but costs a copy, which measured worse.)

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TLS stream whose reads fill the caller's buffer with every record already received.
pub(crate) struct HopStream<T> {
    tls: T,
    /// An error met after some plaintext was handed over, kept for the next read.
    deferred: Option<io::Error>,
}

impl<T> HopStream<T> {
    pub(crate) fn new(tls: T) -> Self {
        HopStream {
            tls,
            deferred: None,
        }
    }
}

/// Below this much room left, another record would not fit: hand over what is there.
const RECORD: usize = 16 * 1024;

impl<T: AsyncRead + Unpin> AsyncRead for HopStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.deferred.take() {
            return Poll::Ready(Err(error));
        }
        let start = buf.filled().len();
        loop {
            let before = buf.filled().len();
            let polled = Pin::new(&mut self.tls).poll_read(cx, buf);
            let handed_over = buf.filled().len() > start;
            match polled {
                // End of stream, or the buffer is full enough.
                Poll::Ready(Ok(())) if buf.filled().len() == before || buf.remaining() < RECORD => {
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) if handed_over => {
                    self.deferred = Some(error);
                    return Poll::Ready(Ok(()));
                }
                // The waker stays registered; waking a task that already ran is harmless.
                Poll::Pending if handed_over => return Poll::Ready(Ok(())),
                other => return other,
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HopStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use tokio::io::AsyncReadExt;

    /// Hands out one scripted result per read, like rustls one record at a time.
    struct Records(VecDeque<io::Result<Vec<u8>>>);

    impl AsyncRead for Records {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(match self.0.pop_front() {
                Some(Ok(record)) => {
                    buf.put_slice(&record);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => Ok(()),
            })
        }
    }

    #[tokio::test]
    async fn records_ready_together_are_read_together_and_an_error_comes_after_them() {
        let records = VecDeque::from([
            Ok(b"first ".to_vec()),
            Ok(b"second".to_vec()),
            Err(io::Error::new(io::ErrorKind::InvalidData, "bad record")),
        ]);
        let mut stream = HopStream::new(Records(records));
        let mut buf = vec![0; 64 * 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"first second");
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
