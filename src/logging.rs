//! Log output on stderr: `-q` errors only, default info, `-v` debug, `-vv` trace; RUST_LOG wins.
//! Text for people (colored only on a terminal, and never with NO_COLOR), or one JSON object per
//! line for log shippers.

use std::io::IsTerminal;

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
