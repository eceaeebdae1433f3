//! `scistream req prod|cons|release`: drive sessions on a control server (S2UC).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::client::{Client, OpenedSession};
use crate::exit::Failure;
use crate::{endpoint, paths, pb, tls};

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
    Prod(ProdArgs),
    /// Open a CONS session: listeners on the consumer-side gateway, relayed to a PROD session's listeners
    #[command(after_help = "Example (UID and listeners as printed by `req prod`):
  scistream req cons --s2cs gw2.example.org:5000 UID 10.16.42.61:5100,10.16.42.61:5101")]
    Cons(ConsArgs),
    /// Release a session: close its listeners and connections and free its ports
    Release(ReleaseArgs),
}

/// How to reach the control server.
#[derive(Debug, Args)]
struct ServerAddr {
    /// Control server (S2CS) address
    #[arg(long, default_value = "localhost:5000", value_name = "HOST:PORT")]
    s2cs: String,
    /// Trust this server certificate (PEM) [default: the one a local server generated, else the system roots]
    #[arg(long, alias = "server_cert", value_name = "PEM")]
    server_cert: Option<PathBuf>,
    /// Talk plaintext gRPC to a server started with --no-tls
    #[arg(long, conflicts_with = "server_cert")]
    no_tls: bool,
}

#[derive(Debug, Args)]
struct SessionArgs {
    /// Number of listeners (parallel connections) the session opens
    #[arg(long, alias = "num_conn", default_value_t = 5, value_name = "N")]
    num_conn: i32,
    /// Requested rate, passed to the server as-is (recorded and logged; not enforced)
    #[arg(long, default_value_t = 10000)]
    rate: i32,
    /// Print one JSON object (uid, s2cs, role, listeners, targets) instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ProdArgs {
    #[command(flatten)]
    server: ServerAddr,
    #[command(flatten)]
    session: SessionArgs,
    /// Address of the producer application (sent in the hello with --receiver-ports)
    #[arg(
        long,
        alias = "remote_ip",
        requires = "receiver_ports",
        value_name = "IP"
    )]
    remote_ip: Option<String>,
    /// The producer application's ports: this command then sends the hello itself; without them
    /// it waits for an app controller's hello
    #[arg(
        long,
        alias = "receiver_ports",
        requires = "remote_ip",
        value_delimiter = ',',
        value_name = "P1,P2,..."
    )]
    receiver_ports: Vec<u16>,
}

#[derive(Debug, Args)]
struct ConsArgs {
    #[command(flatten)]
    server: ServerAddr,
    #[command(flatten)]
    session: SessionArgs,
    /// The session uid printed by `req prod`
    uid: String,
    /// The PROD session's listeners, comma-separated host:port
    #[arg(value_delimiter = ',', required = true, value_name = "PROD_LISTENERS")]
    prod_listeners: Vec<String>,
}

#[derive(Debug, Args)]
struct ReleaseArgs {
    #[command(flatten)]
    server: ServerAddr,
    /// The session uid to release
    uid: String,
}

pub async fn run(global: &GlobalArgs, args: ReqArgs) -> Result<()> {
    match args.action {
        Action::Prod(a) => {
            let uid = uuid::Uuid::new_v4().to_string();
            let hello_list: Vec<String> = match &a.remote_ip {
                Some(ip) => a
                    .receiver_ports
                    .iter()
                    .map(|p| format!("{ip}:{p}"))
                    .collect(),
                None => Vec::new(),
            };
            open(global, &a.server, &a.session, uid, "PROD", hello_list).await
        }
        Action::Cons(a) => {
            let targets = endpoint::parse_list("PROD_LISTENERS", &a.prod_listeners)
                .map_err(|e| anyhow::anyhow!(e))?;
            open(global, &a.server, &a.session, a.uid, "CONS", targets).await
        }
        Action::Release(a) => {
            let client = connect(global, &a.server).await?;
            client
                .release(&a.uid)
                .await
                .map_err(|s| call_failed(&a.server.s2cs, s))?;
            println!("Release completed");
            Ok(())
        }
    }
}

async fn connect(global: &GlobalArgs, server: &ServerAddr) -> Result<Client> {
    let tls = match server.no_tls {
        true => None,
        false => Some(tls::client_config(
            server.server_cert.as_deref(),
            &paths::config_dir(global.config.as_deref()),
        )?),
    };
    Client::connect(&server.s2cs, tls, None).await
}

/// Runs req (+ hello when `hello_list` is not empty) + update and prints the result.
async fn open(
    global: &GlobalArgs,
    server: &ServerAddr,
    session: &SessionArgs,
    uid: String,
    role: &str,
    hello_list: Vec<String>,
) -> Result<()> {
    let client = connect(global, server).await?;
    let token_shown = "INVALID_TOKEN";
    if !session.json {
        println!("uid; s2cs; access_token; role");
        println!("{uid} {} {token_shown} {role}", server.s2cs);
        println!("waiting for hello message");
        println!("started client request");
        std::io::stdout().flush()?;
    }
    let req = pb::Request {
        uid: uid.clone(),
        role: role.into(),
        num_conn: session.num_conn,
        rate: session.rate,
    };
    // The hello names the producer's side; the Python client sends it with role PROD for both roles.
    let hello = (!hello_list.is_empty()).then(|| pb::Hello {
        uid: uid.clone(),
        prod_listeners: hello_list,
        role: "PROD".into(),
    });
    let opened = client
        .open(req, hello)
        .await
        .map_err(|s| call_failed(&server.s2cs, s))?;
    print_opened(session.json, &uid, &server.s2cs, role, &opened)
}

fn print_opened(
    json: bool,
    uid: &str,
    s2cs: &str,
    role: &str,
    opened: &OpenedSession,
) -> Result<()> {
    if json {
        let value = serde_json::json!({
            "uid": uid, "s2cs": s2cs, "role": role,
            "listeners": opened.listeners, "targets": opened.targets,
        });
        println!("{value}");
    } else {
        println!("Listeners: {}", opened.listeners.join(","));
    }
    Ok(())
}

/// Turns a failed call into an error that says what to do.
fn call_failed(s2cs: &str, status: tonic::Status) -> anyhow::Error {
    let message = status.message().to_string();
    match status.code() {
        tonic::Code::NotFound => Failure::NotFound(format!("{message} (s2cs {s2cs})")).into(),
        tonic::Code::Unavailable => Failure::Unreachable(format!(
            "s2cs {s2cs} is unavailable: {message}; is `scistream server` running there?"
        ))
        .into(),
        _ => anyhow::Error::new(status).context(format!("s2cs {s2cs} refused the request")),
    }
}
