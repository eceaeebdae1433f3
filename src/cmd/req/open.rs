//! `req prod` and `req cons`: open a session (req + hello + update) and print its listeners.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

use super::{call_failed, credentials, dial, GlobalArgs, ServerAddr};
use crate::client::OpenedSession;
use crate::{endpoint, pb};

#[derive(Debug, Args)]
struct SessionArgs {
    /// Number of listeners (parallel connections) the session opens
    #[arg(long, alias = "num_conn", default_value_t = 5, value_parser = clap::value_parser!(i32).range(1..), value_name = "N")]
    num_conn: i32,
    /// Requested rate, passed to the server as-is (recorded and logged; not enforced)
    #[arg(long, default_value_t = 10000)]
    rate: i32,
    /// Print one JSON object (uid, s2cs, role, listeners, targets) instead of text
    #[arg(long)]
    json: bool,
    /// Show the whole access token in the header instead of its first characters
    #[arg(long)]
    show_token: bool,
}

#[derive(Debug, Args)]
pub struct ProdArgs {
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
    /// Session uid to use instead of a fresh one: one an app controller was already given
    #[arg(long, value_name = "UID")]
    uid: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConsArgs {
    #[command(flatten)]
    server: ServerAddr,
    #[command(flatten)]
    session: SessionArgs,
    /// The session uid printed by `req prod`
    uid: String,
    /// The PROD session's listeners, comma-separated host:port
    #[arg(value_delimiter = ',', required = true, value_parser = endpoint::parse, value_name = "PROD_LISTENERS")]
    prod_listeners: Vec<String>,
}

pub async fn prod(global: &GlobalArgs, args: ProdArgs) -> Result<()> {
    let uid = args
        .uid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let hello_list: Vec<String> = match &args.remote_ip {
        Some(ip) => args
            .receiver_ports
            .iter()
            .map(|p| format!("{ip}:{p}"))
            .collect(),
        None => Vec::new(),
    };
    open(global, &args.server, &args.session, uid, "PROD", hello_list).await
}

pub async fn cons(global: &GlobalArgs, args: ConsArgs) -> Result<()> {
    let targets = args.prod_listeners;
    open(
        global,
        &args.server,
        &args.session,
        args.uid,
        "CONS",
        targets,
    )
    .await
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
    let credentials = credentials(global, server).await?;
    let spinner = spinner(
        !session.json && !global.quiet && std::io::stderr().is_terminal(),
        format!("connecting to s2cs {}", server.s2cs),
    );
    let client = dial(global, server, &credentials).await?;
    let token_shown = credentials.shown_token(session.show_token);
    if !session.json {
        spinner.suspend(|| -> std::io::Result<()> {
            let mut out = std::io::stdout().lock();
            writeln!(out, "uid; s2cs; access_token; role")?;
            writeln!(out, "{uid} {} {token_shown} {role}", server.s2cs)?;
            writeln!(out, "waiting for hello message")?;
            writeln!(out, "started client request")?;
            out.flush()
        })?;
    }
    spinner.set_message(match hello_list.is_empty() {
        true => format!("waiting for the hello of session {uid} from its app controller"),
        false => format!("setting up session {uid} on s2cs {}", server.s2cs),
    });
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
        .map_err(|s| call_failed(&server.s2cs, &credentials, s))?;
    spinner.finish_and_clear();
    print_opened(session.json, &uid, &server.s2cs, role, &opened)
}

/// A spinner on stderr with what the command waits for and for how long; hidden unless
/// `shown`, and wiped off the terminal when the wait ends, however it ends.
fn spinner(shown: bool, message: String) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
        .expect("the spinner template is valid");
    let spinner = ProgressBar::new_spinner()
        .with_style(style)
        .with_message(message)
        .with_finish(ProgressFinish::AndClear);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
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
