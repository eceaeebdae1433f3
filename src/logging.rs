//! Log output on stderr: `-q` errors only, default info, `-v` debug, `-vv` trace; RUST_LOG wins.
//! Text for people (colored only on a terminal, and never with NO_COLOR), or one JSON object per
//! line for log shippers.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people; colored on a terminal unless NO_COLOR is set
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level
    Json,
}

pub(crate) fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose, quiet))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colored()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The flags set scistream's own level; libraries (hyper, h2, rustls) stay at warn, since
/// their debug output is noise and their trace output could show request headers (tokens).
fn filter(verbose: u8, quiet: bool) -> EnvFilter {
    let directives = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,scistream=info",
        (false, 1) => "warn,scistream=debug",
        _ => "warn,scistream=trace",
    };
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives))
}

fn colored() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
/// Floods (refused, evicted or rejected connections) are logged at most this often, with how
/// many there were: a flood of connections must not become a flood of log lines.
pub(crate) const THROTTLE_INTERVAL: Duration = Duration::from_secs(10);

/// Counts events and says when one is due in the log, with how many there were since the last.
#[derive(Default)]
pub(crate) struct Throttle {
    unlogged: u64,
    last: Option<Instant>,
}

impl Throttle {
    /// Counts one event; returns how many to report if a log line is due now.
    pub(crate) fn count(&mut self) -> Option<u64> {
        self.count_at(Instant::now())
    }

    pub(crate) fn count_at(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        if (self.last).is_some_and(|at| now.saturating_duration_since(at) < THROTTLE_INTERVAL) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_logs_the_first_event_then_the_count_once_per_interval() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.count_at(start), Some(1));
        let soon = start + Duration::from_secs(1);
        assert!((0..1_499).all(|_| throttle.count_at(soon).is_none()));
        assert_eq!(throttle.count_at(start + THROTTLE_INTERVAL), Some(1_500));
    }
}
