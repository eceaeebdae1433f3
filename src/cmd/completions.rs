//! `scistream completions SHELL`: print the shell completion script generated from the CLI
//! definition (the same scripts are committed under completions/).

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
#[command(after_help = "Install for the current user, e.g.:
  scistream completions bash > ~/.local/share/bash-completion/completions/scistream
  scistream completions zsh > ~/.zfunc/_scistream     # with fpath+=(~/.zfunc) before compinit
  scistream completions fish > ~/.config/fish/completions/scistream.fish")]
pub struct CompletionsArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub(crate) shell: Shell,
}

pub(crate) fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(
        args.shell,
        &mut super::Cli::command(),
        "scistream",
        &mut stdout,
    );
    stdout.flush()?;
    Ok(())
}
