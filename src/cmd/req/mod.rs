//! `scistream req prod|cons|stream|release|list|status`: drive and inspect sessions on a control
//! server (S2UC).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::auth::{self, Credentials};
use crate::client::{Client, Deadlines, NoAnswer};
use crate::exit::Failure;
use crate::scope::{ScopeId, SCOPE_METADATA_KEY};
use crate::{endpoint, paths, tls};

mod hop;
mod open;
mod release;
mod sessions;
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
    Prod(open::ProdArgs),
    /// Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session's listeners
    #[command(after_help = "Example (UID and listeners as printed by `req prod`):
  scistream req cons --s2cs gw2.example.org:5000 --prod-s2cs gw1.example.org:5000 \\
    UID 10.16.42.61:5100,10.16.42.61:5101")]
    Cons(open::ConsArgs),
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

/// How to reach the control server.
#[derive(Debug, Args)]
pub(super) struct ServerAddr {
    /// Control server (S2CS) address
    #[arg(long, default_value = "localhost:5000", value_parser = endpoint::parse, value_name = "HOST:PORT")]
    pub(super) s2cs: String,
    /// Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]
    #[arg(long, alias = "server_cert", value_name = "PEM")]
    server_cert: Option<PathBuf>,
    /// Talk plaintext gRPC to a server started with --no-tls
    #[arg(long, conflicts_with = "server_cert")]
    no_tls: bool,
    /// Scope whose token to send [default: the one the config file maps this server to]
    #[arg(long, value_name = "UUID")]
    scope: Option<ScopeId>,
    /// Seconds to wait for the server: to connect, and for each call [default: 10 to connect,
    /// 210 for a req (the server's default hello timeout, 180, plus a margin), 30 for the others]
    #[arg(long, value_parser = super::server::parse_seconds, value_name = "SECS")]
    pub(super) timeout: Option<Duration>,
}

pub async fn run(global: &GlobalArgs, args: ReqArgs) -> Result<()> {
    match args.action {
        Action::Prod(a) => open::prod(global, a).await,
        Action::Cons(a) => open::cons(global, a).await,
        Action::Stream(a) => stream::run(global, a).await,
        Action::Release(a) => release::run(global, a).await,
        Action::List(a) => sessions::list(global, a).await,
        Action::Status(a) => sessions::status(global, a).await,
    }
}

/// Connects with the token of the scope chosen for this server (refreshed if it expired).
async fn connect(global: &GlobalArgs, server: &ServerAddr) -> Result<(Client, Credentials)> {
    let credentials = credentials(global, server).await?;
    let client = dial(global, server, &credentials).await?;
    Ok((client, credentials))
}

/// The token for this server, after printing any warning about it.
pub(super) async fn credentials(global: &GlobalArgs, server: &ServerAddr) -> Result<Credentials> {
    let config = paths::config_file(global.config.as_deref());
    let credentials = auth::credentials_for(&config, &server.s2cs, server.scope.as_ref()).await?;
    if let Some(warning) = &credentials.warning {
        eprintln!("warning: {warning}");
    }
    Ok(credentials)
}

/// Opens the channel (TCP, and TLS unless --no-tls) whose calls carry `credentials`' token.
pub(super) async fn dial(
    global: &GlobalArgs,
    server: &ServerAddr,
    credentials: &Credentials,
) -> Result<Client> {
    let tls = match server.no_tls {
        true => None,
        false => Some(tls::client_config(
            server.server_cert.as_deref(),
            &paths::config_dir(global.config.as_deref()),
        )?),
    };
    let deadlines = server
        .timeout
        .map_or_else(Deadlines::default, Deadlines::all);
    let token = credentials.access_token.clone();
    Client::connect_with(&server.s2cs, tls, token, deadlines).await
}

/// Turns a failed call into an error that says what to do, with the exit code's kind.
pub(super) fn call_failed(
    s2cs: &str,
    credentials: &Credentials,
    status: tonic::Status,
) -> anyhow::Error {
    let message = status.message().to_string();
    let refused = format!("s2cs {s2cs} refused the request: {message}");
    if NoAnswer::of(&status).is_some() {
        return Failure::Unreachable(format!(
            "{message}: the server may be overloaded, or not a scistream server; wait longer \
             with --timeout SECS"
        ))
        .into();
    }
    // A status the server sent has no source; one with a source is the channel breaking:
    // a plaintext client talking to a TLS server, or a server at its connection cap.
    if std::error::Error::source(&status).is_some() {
        return Failure::Unreachable(format!(
            "the connection to s2cs {s2cs} failed: {message} (a TLS server hangs up on a \
             plaintext client, and any server on a client past its limit of control \
             connections); use --no-tls exactly when the server was started with --no-tls (or \
             as s2cs --ssl=False); at the limit, try again later (its operator can raise \
             --max-control-connections and --max-control-connections-per-ip)"
        ))
        .into();
    }
    match status.code() {
        tonic::Code::Unauthenticated => {
            let wanted = status.metadata().get(SCOPE_METADATA_KEY);
            let wanted = wanted.and_then(|scope| scope.to_str().ok()?.parse().ok());
            Failure::AuthRequired(credentials.refusal(s2cs, &message, wanted)).into()
        }
        tonic::Code::NotFound => Failure::NotFound(format!("{message} (s2cs {s2cs})")).into(),
        tonic::Code::PermissionDenied => Failure::NotPermitted(format!(
            "{refused}; use the login of the identity that opened it, or ask the gateway's \
             operator (an admin identity can release it)"
        ))
        .into(),
        // Sent by the server itself: something it depends on (the auth server) is down.
        tonic::Code::Unavailable => Failure::Unreachable(format!(
            "s2cs {s2cs} cannot serve requests now: {message}; try again later, or tell the \
             gateway's operator"
        ))
        .into(),
        tonic::Code::InvalidArgument => Failure::Usage(refused).into(),
        tonic::Code::DeadlineExceeded => anyhow::anyhow!(
            "{refused}; start the producer's app controller (it sends the hello), or let \
             `req prod` send the hello itself with --remote-ip and --receiver-ports"
        ),
        _ => anyhow::anyhow!(refused),
    }
}
