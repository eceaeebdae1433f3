use std::path::Path;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let program = std::env::args_os().next().unwrap_or_default();
    let result = match Path::new(&program).file_name() {
        Some(name) if name == "appctrl" => scistream::upstream::appctrl::run(std::env::args_os()),
        _ => scistream::cmd::Cli::parse().run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            scistream::exit::code_for(&err)
        }
    }
}
