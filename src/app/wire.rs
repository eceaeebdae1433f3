//! What `app send` writes on each stream and `app recv` checks: a header naming the stream, the
//! payload in length-prefixed frames, and a trailer with the payload's length and sha256.
//!
//! ```text
//! header   "SCISTRM1" | index: u32 | streams: u32
//!          or, in a run with a token: "SCISTRMT" | index: u32 | streams: u32 | proof: [u8; 32]
//! frame    len: u32 (1..=FRAME) | len bytes            (repeated)
//! trailer  0u32 | bytes: u64 | sha256: [u8; 32]
//! ack      1 byte, receiver -> sender, once the trailer matched what arrived
//! ```
//! In a run with a token, a receiver that opens the connections first sends "SCISTRMR" |
//! proof, so that a listening sender takes only its connections. The proof is a sha256 of the
//! token: the token itself never crosses. All integers are big-endian. Both ends combine the
//! per-stream results, in stream order, into one checksum, so it is the same however the
//! streams interleave.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAGIC: &[u8; 8] = b"SCISTRM1";
/// The header of a stream of a run with a token: the proof follows it.
const MAGIC_WITH_PROOF: &[u8; 8] = b"SCISTRMT";
/// What a connecting receiver of a run with a token sends before anything else.
const RECEIVER_MAGIC: &[u8; 8] = b"SCISTRMR";
pub(crate) const HEADER_LEN: usize = 16;
pub(crate) const PROOF_LEN: usize = 32;
/// A connecting receiver's greeting in a run with a token: its magic and the proof.
pub(crate) const GREETING_LEN: usize = 8 + PROOF_LEN;
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

/// A token both ends of one run are given (`--run-token`): a connection that does not prove
/// it is not taken as one of the run's, however well-formed.
#[derive(Clone)]
pub(crate) struct RunToken {
    proof: [u8; PROOF_LEN],
}

impl RunToken {
    pub(crate) fn new(token: &str) -> RunToken {
        let mut hasher = Sha256::new();
        hasher.update(b"scistream app run token\0");
        hasher.update(token.as_bytes());
        RunToken {
            proof: hasher.finalize().into(),
        }
    }

    /// Whether a stream that came with `proof` (or without one) belongs to a run of `token`
    /// (or of none); if not, why.
    pub(crate) fn admits(
        token: Option<&RunToken>,
        proof: Option<&[u8; PROOF_LEN]>,
    ) -> Result<(), String> {
        match (token, proof) {
            (None, None) => Ok(()),
            (Some(token), Some(proof)) if bool::from(token.proof.ct_eq(proof)) => Ok(()),
            (Some(_), Some(_)) => Err("it proves another --run-token than this end's".into()),
            (Some(_), None) => Err("it has no --run-token, and this end has one".into()),
            (None, Some(_)) => {
                Err("it has a --run-token: give this end the same --run-token".into())
            }
        }
    }

    /// The greeting a connecting receiver sends.
    pub(crate) fn greeting(&self) -> [u8; GREETING_LEN] {
        let mut bytes = [0; GREETING_LEN];
        bytes[..8].copy_from_slice(RECEIVER_MAGIC);
        bytes[8..].copy_from_slice(&self.proof);
        bytes
    }

    /// Checks a connecting receiver's greeting.
    pub(crate) fn check_greeting(&self, bytes: &[u8; GREETING_LEN]) -> Result<(), String> {
        if &bytes[..8] != RECEIVER_MAGIC {
            return Err(
                "it does not start like a `scistream app recv --run-token` connection".into(),
            );
        }
        let proof = bytes[8..]
            .try_into()
            .expect("GREETING_LEN is magic + proof");
        RunToken::admits(Some(self), Some(proof))
    }
}

impl Header {
    /// The header as sent: with the proof of `token` in a run with one.
    pub(crate) fn encode(&self, token: Option<&RunToken>) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + PROOF_LEN);
        bytes.extend_from_slice(if token.is_some() {
            MAGIC_WITH_PROOF
        } else {
            MAGIC
        });
        bytes.extend_from_slice(&self.index.to_be_bytes());
        bytes.extend_from_slice(&self.streams.to_be_bytes());
        if let Some(token) = token {
            bytes.extend_from_slice(&token.proof);
        }
        bytes
    }

    /// Checks that `bytes` start a stream of a transfer of at most [`MAX_STREAMS`] streams;
    /// says too whether a proof of a run token follows.
    pub(crate) fn decode(bytes: &[u8; HEADER_LEN]) -> Result<(Header, bool), String> {
        let proved = &bytes[..8] == MAGIC_WITH_PROOF;
        if &bytes[..8] != MAGIC && !proved {
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
        Ok((header, proved))
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
        let plain: [u8; HEADER_LEN] = header.encode(None).try_into().unwrap();
        assert_eq!(Header::decode(&plain), Ok((header, false)));
        assert!(Header::decode(b"GET / HTTP/1.1\r\n").is_err());
        for (index, streams) in [(3, 3), (0, 0), (0, MAX_STREAMS + 1)] {
            let bad = Header { index, streams }.encode(None);
            assert!(
                Header::decode(&bad[..].try_into().unwrap()).is_err(),
                "{index} of {streams} accepted"
            );
        }
    }

    #[test]
    fn a_run_token_is_proved_not_sent_and_only_its_own_proof_passes() {
        let (ours, theirs) = (RunToken::new("ours"), RunToken::new("theirs"));
        let header = Header {
            index: 0,
            streams: 1,
        };
        let sent = header.encode(Some(&ours));
        assert_eq!(sent.len(), HEADER_LEN + PROOF_LEN);
        assert!(!sent.windows(4).any(|w| w == b"ours"));
        let (head, proof) = sent.split_at(HEADER_LEN);
        assert_eq!(Header::decode(head.try_into().unwrap()), Ok((header, true)));
        let proof: &[u8; PROOF_LEN] = proof.try_into().unwrap();
        assert!(RunToken::admits(Some(&ours), Some(proof)).is_ok());
        assert!(RunToken::admits(Some(&theirs), Some(proof)).is_err());
        assert!(RunToken::admits(None, Some(proof)).is_err());
        assert!(RunToken::admits(Some(&ours), None).is_err());
        assert!(RunToken::admits(None, None).is_ok());
        assert!(ours.check_greeting(&ours.greeting()).is_ok());
        assert!(theirs.check_greeting(&ours.greeting()).is_err());
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
