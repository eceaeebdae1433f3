//! What `app send` writes on each stream and `app recv` checks: a header naming the stream, the
//! payload in length-prefixed frames, and a trailer with the payload's length and sha256.
//!
//! ```text
//! header   "SCISTRM1" | index: u32 | streams: u32
//! frame    len: u32 (1..=FRAME) | len bytes            (repeated)
//! trailer  0u32 | bytes: u64 | sha256: [u8; 32]
//! ack      1 byte, receiver -> sender, once the trailer matched what arrived
//! ```
//! All integers are big-endian. Both ends combine the per-stream results, in stream order, into
//! one checksum, so it is the same however the streams interleave.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAGIC: &[u8; 8] = b"SCISTRM1";
pub(crate) const HEADER_LEN: usize = 16;
/// The largest frame; also the one buffer each stream holds, which bounds memory.
pub(crate) const FRAME: usize = 1 << 20;
/// The most streams one transfer may have.
pub(crate) const MAX_STREAMS: u32 = 64;
pub(crate) const ACK: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) index: u32,
    pub(crate) streams: u32,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8..12].copy_from_slice(&self.index.to_be_bytes());
        bytes[12..].copy_from_slice(&self.streams.to_be_bytes());
        bytes
    }

    /// Checks that `bytes` start a stream of a transfer of at most [`MAX_STREAMS`] streams.
    pub(crate) fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, String> {
        if &bytes[..8] != MAGIC {
            return Err("it does not start like a `scistream app send` stream".into());
        }
        let field = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        let header = Header {
            index: field(8),
            streams: field(12),
        };
        if !(1..=MAX_STREAMS).contains(&header.streams) || header.index >= header.streams {
            return Err(format!(
                "its header names stream {} of {} (at most {MAX_STREAMS} streams)",
                header.index, header.streams
            ));
        }
        Ok(header)
    }
}

/// What one stream carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamSum {
    pub(crate) bytes: u64,
    pub(crate) sha256: [u8; 32],
}

/// Hashes a stream's payload as it passes.
#[derive(Default)]
pub(crate) struct Tally {
    hasher: Sha256,
    bytes: u64,
}

impl Tally {
    pub(crate) fn add(&mut self, payload: &[u8]) {
        self.hasher.update(payload);
        self.bytes += payload.len() as u64;
    }

    pub(crate) fn finish(self) -> StreamSum {
        StreamSum {
            bytes: self.bytes,
            sha256: self.hasher.finalize().into(),
        }
    }
}

/// Writes the end-of-payload marker and the sender's account of the stream.
pub(crate) async fn write_trailer<W: AsyncWriteExt + Unpin>(
    out: &mut W,
    sum: &StreamSum,
) -> std::io::Result<()> {
    let mut trailer = [0u8; 4 + 8 + 32];
    trailer[4..12].copy_from_slice(&sum.bytes.to_be_bytes());
    trailer[12..].copy_from_slice(&sum.sha256);
    out.write_all(&trailer).await
}

/// Reads the trailer's account (after its zero length has been read).
pub(crate) async fn read_trailer<R: AsyncReadExt + Unpin>(
    input: &mut R,
) -> std::io::Result<StreamSum> {
    let mut rest = [0u8; 8 + 32];
    input.read_exact(&mut rest).await?;
    Ok(StreamSum {
        bytes: u64::from_be_bytes(rest[..8].try_into().unwrap()),
        sha256: rest[8..].try_into().unwrap(),
    })
}

/// The transfer's checksum: sha256 over each stream's index, length and sha256, in index order.
pub(crate) fn checksum(sums: &[StreamSum]) -> String {
    let mut hasher = Sha256::new();
    for (index, sum) in (0u32..).zip(sums) {
        hasher.update(index.to_be_bytes());
        hasher.update(sum.bytes.to_be_bytes());
        hasher.update(sum.sha256);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_strangers() {
        let header = Header {
            index: 2,
            streams: 3,
        };
        assert_eq!(Header::decode(&header.encode()), Ok(header));
        assert!(Header::decode(b"GET / HTTP/1.1\r\n").is_err());
        for (index, streams) in [(3, 3), (0, 0), (0, MAX_STREAMS + 1)] {
            let bad = Header { index, streams }.encode();
            assert!(
                Header::decode(&bad).is_err(),
                "{index} of {streams} accepted"
            );
        }
    }

    #[test]
    fn checksum_depends_on_stream_order_and_content() {
        let sum = |payload: &[u8]| {
            let mut tally = Tally::default();
            tally.add(payload);
            tally.finish()
        };
        let (a, b) = (sum(b"first"), sum(b"second"));
        assert_eq!(checksum(&[a, b]), checksum(&[a, b]));
        assert_ne!(checksum(&[a, b]), checksum(&[b, a]));
        assert_ne!(checksum(&[a]), checksum(&[a, a]));
        assert_eq!(checksum(&[]).len(), 64);
    }
}
