use std::ffi::OsString;

use clap::Parser;
use scistream::program;
use scistream::upstream::{appctrl, s2cs, s2uc};

fn main() -> std::process::ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Invoked by an upstream program name (a symlink): that program's command line.
    let result = match args.first().and_then(|argv0| program::upstream(argv0)) {
        Some("s2cs") => s2cs::run(args),
        Some("s2uc") => s2uc::run(args),
        Some("appctrl") => appctrl::run(args),
        _ => scistream::cmd::Cli::parse_from(args).run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            scistream::exit::code_for(&err)
        }
    }
}
