//! The app controller's traffic test (`app send` / `app recv`), which checks a session end to
//! end with no other tool. The hello that registers a producer's ports is the client's
//! (`client::hello`).

use std::time::Duration;

use serde::Serialize;

pub(crate) mod recv;
pub(crate) mod send;
mod wire;

pub(crate) use wire::{RunToken, MAX_STREAMS};

/// What one end of a transfer saw; both ends print the same `checksum` for the same bytes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
    pub(crate) gbit_per_s: f64,
    pub(crate) streams: u32,
    pub(crate) checksum: String,
}

impl Report {
    fn new(sums: &[wire::StreamSum], elapsed: Duration) -> Report {
        let bytes = sums.iter().map(|s| s.bytes).sum();
        let seconds = elapsed.as_secs_f64();
        Report {
            bytes,
            seconds,
            gbit_per_s: if seconds > 0.0 {
                bytes as f64 * 8.0 / seconds / 1e9
            } else {
                0.0
            },
            streams: sums.len() as u32,
            checksum: wire::checksum(sums),
        }
    }

    /// Two lines for people: `verb` ("sent", "received"), amount, time and rate; the checksum.
    pub(crate) fn text(&self, verb: &str) -> String {
        let plural = if self.streams == 1 { "" } else { "s" };
        format!(
            "{verb} {} bytes ({:.1} MiB) in {:.2} s: {:.2} Gbit/s over {} stream{plural}\nchecksum: {}",
            self.bytes,
            self.bytes as f64 / (1 << 20) as f64,
            self.seconds,
            self.gbit_per_s,
            self.streams,
            self.checksum
        )
    }
}
