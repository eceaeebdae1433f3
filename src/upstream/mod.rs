//! Upstream's program names (scistream-proto 1.2): invoked as `s2cs`, `s2uc` or `appctrl` (a
//! symlink, so argv[0]), the binary accepts their command lines with their defaults and runs
//! the native commands they translate into.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use anyhow::Result;
use clap::Parser;

use crate::cmd::Cli;

pub mod appctrl;
pub mod s2cs;
pub mod s2uc;

/// The upstream programs, each a symlink to this binary (`scistream install-links`).
pub(crate) const PROGRAMS: [&str; 3] = ["s2cs", "s2uc", "appctrl"];

/// The upstream program that `argv0` names, if it names one.
pub fn program(argv0: &OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?;
    PROGRAMS.into_iter().find(|program| name == *program)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_argv0s_file_name() {
        assert_eq!(program(OsStr::new("/usr/local/bin/s2cs")), Some("s2cs"));
        assert_eq!(program(OsStr::new("s2uc")), Some("s2uc"));
        assert_eq!(program(OsStr::new("./appctrl")), Some("appctrl"));
        assert_eq!(program(OsStr::new("/usr/bin/scistream")), None);
        assert_eq!(program(OsStr::new("/opt/s2cs/scistream")), None);
    }
}
