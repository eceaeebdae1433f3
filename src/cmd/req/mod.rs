//! `scistream req prod|cons|stream|release|list|status`: drive and inspect sessions on a control
//! server (S2UC).

use anyhow::Result;
use clap::{Args, Subcommand};

use super::GlobalArgs;

mod hop;
mod release;
mod sessions;
mod start;
mod stream;

#[derive(Debug, Args)]
pub struct ReqArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Open a PROD session: listeners on the producer-side gateway, relayed to the producer's ports
    #[command(after_help = "Example:
  scistream req prod --s2cs gw1.example.org:5000 --remote-ip 10.0.0.5 --receiver-ports 5074,5075")]
    Prod(start::ProdArgs),
    /// Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session's listeners
    #[command(after_help = "Example (UID and listeners as printed by `req prod`):
  scistream req cons --s2cs gw2.example.org:5000 --prod-s2cs gw1.example.org:5000 \\
    UID 10.16.42.61:5100,10.16.42.61:5101")]
    Cons(start::ConsArgs),
    /// Open a whole stream: the PROD session on one gateway, then the CONS session on another,
    /// relaying to it over the encrypted hop; prints the uid and the CONS listeners
    #[command(after_help = "Example:
  scistream req stream --prod-s2cs gw1.example.org:5000 --cons-s2cs gw2.example.org:5000 \\
    --remote-ip 10.0.0.5 --receiver-ports 5074,5075")]
    Stream(stream::StreamArgs),
    /// Release a session: close its listeners and connections and free its ports
    Release(release::ReleaseArgs),
    /// List the sessions a server holds: role, state, age, connections, bytes, listeners, targets
    List(sessions::ListArgs),
    /// Show one session: its listeners and their targets, connections and bytes relayed
    Status(sessions::StatusArgs),
}

pub(crate) async fn run(global: &GlobalArgs, args: ReqArgs) -> Result<()> {
    match args.action {
        Action::Prod(a) => start::prod(global, a).await,
        Action::Cons(a) => start::cons(global, a).await,
        Action::Stream(a) => stream::run(global, a).await,
        Action::Release(a) => release::run(global, a).await,
        Action::List(a) => sessions::list(global, a).await,
        Action::Status(a) => sessions::status(global, a).await,
    }
}
