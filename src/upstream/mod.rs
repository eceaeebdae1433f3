//! Upstream's program names (scistream-proto 1.2): invoked as `s2cs`, `s2uc` or `appctrl` (a
//! symlink, so argv[0]), the binary accepts their command lines with their defaults and runs
//! the native commands they translate into.

use std::ffi::OsString;

use anyhow::Result;
use clap::Parser;

use crate::cmd::Cli;

pub mod appctrl;
pub mod s2cs;
pub mod s2uc;

/// Upstream's boolean flag values (`--ssl=False`, `--mock True`), as Python spells them.
fn python_bool() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// Runs the native command line (`scistream ARGS...`) that an upstream one translated into.
fn run_native<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let argv = std::iter::once(OsString::from("scistream")).chain(args.into_iter().map(Into::into));
    // A value upstream's parser let through but ours refuses: clap's message, exit code 2.
    Cli::try_parse_from(argv).unwrap_or_else(|e| e.exit()).run()
}
