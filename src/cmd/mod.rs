//! The command line: one subcommand per file, and the one dispatch `match`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

pub mod app;
pub mod check_auth;
pub mod completions;
pub mod install_links;
pub mod login;
pub mod logout;
pub mod pool;
pub mod req;
mod s2cs_args;
pub mod server;
pub(crate) mod values;

#[derive(Debug, Parser)]
#[command(
    name = "scistream",
    version,
    about = "Stream memory-to-memory between facilities through SciStream gateway nodes",
    after_help = crate::exit::TABLE
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Configuration file with scopes, tokens and the server-to-scope map
    /// [default: $XDG_CONFIG_HOME/scistream/config.yaml]
    #[arg(long, global = true, env = "SCISTREAM_CONFIG", value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// More log output (-v: debug, -vv: trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Log lines as text, or as one JSON object per line for log shippers
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the control server (S2CS) and its data plane on a gateway node
    Server(server::ServerArgs),
    /// Drive and inspect sessions on a server (S2UC): prod, cons, release, list, status
    Req(req::ReqArgs),
    /// App controller: send a session's hello; test a session end to end (send, recv)
    App(app::AppArgs),
    /// Log in to a scope with Globus Auth and store its tokens
    Login(login::LoginArgs),
    /// Revoke and forget the stored tokens
    Logout(logout::LogoutArgs),
    /// Show the stored access tokens
    CheckAuth(check_auth::CheckAuthArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    Completions(completions::CompletionsArgs),
    /// Create the symlinks s2cs, s2uc and appctrl, which speak upstream's command lines
    InstallLinks(install_links::InstallLinksArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        let global = &self.global;
        crate::logging::init(global.verbose, global.quiet, global.log_format);
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async move {
            match self.command {
                Command::Server(args) => server::run(&self.global, args).await,
                Command::Req(args) => req::run(&self.global, args).await,
                Command::App(args) => app::run(&self.global, args).await,
                Command::Login(args) => login::run(&self.global, args).await,
                Command::Logout(args) => logout::run(&self.global, args).await,
                Command::CheckAuth(args) => check_auth::run(&self.global, args).await,
                Command::Completions(args) => completions::run(args),
                Command::InstallLinks(args) => install_links::run(args),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
