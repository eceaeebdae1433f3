use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = scistream::cmd::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            scistream::exit::code_for(&err)
        }
    }
}
