//! `req prod` and `req cons`: start a session (req + hello + hop + update) and print its
//! listeners.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use ipnet::IpNet;

use super::hop::{self, HopArgs};
use super::GlobalArgs;
use crate::client::Gateway;
use crate::client::Routed;
use crate::cmd::s2cs_args::S2csArgs;
use crate::cmd::values::{parse_rate_kbps, parse_uid};
use crate::scope::ScopeId;
use crate::{endpoint, pb};

#[derive(Clone, Debug, Args)]
pub(super) struct SessionArgs {
    /// Number of listeners (parallel connections) the session opens
    #[arg(long, alias = "num_conn", default_value_t = 5, value_parser = clap::value_parser!(i32).range(1..), value_name = "N")]
    pub(super) num_conn: i32,
    /// Requested rate of each direction: kb/s, or bits per second with a unit (500M, 2G); 0:
    /// no limit. The server's --rate-policy decides whether it is ignored, enforced or reserved
    #[arg(long, default_value = "10000", value_parser = parse_rate_kbps, value_name = "RATE")]
    pub(super) rate: i32,
    /// Only these networks may connect to the session's listeners (others are reset), e.g.
    /// 10.20.0.0/16,192.0.2.7 [default: the server's --listener-allow-from, else anywhere]
    #[arg(long, value_delimiter = ',', value_parser = endpoint::parse_network, value_name = "CIDR")]
    pub(super) allow_from: Vec<IpNet>,
    /// Print one JSON object (uid, s2cs, role, listeners, targets, hop) instead of text
    #[arg(long)]
    pub(super) json: bool,
    /// Show the whole access token in the header instead of its first characters
    #[arg(long)]
    pub(super) show_token: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ProdArgs {
    #[command(flatten)]
    server: S2csArgs,
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
    #[arg(long, value_parser = parse_uid, value_name = "UID")]
    uid: Option<String>,
    #[command(flatten)]
    hop: HopArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ConsArgs {
    #[command(flatten)]
    server: S2csArgs,
    #[command(flatten)]
    session: SessionArgs,
    /// The session uid printed by `req prod`
    #[arg(value_parser = parse_uid)]
    uid: String,
    /// The PROD session's listeners, comma-separated host:port
    #[arg(value_delimiter = ',', required = true, value_parser = endpoint::parse, value_name = "PROD_LISTENERS")]
    prod_listeners: Vec<String>,
    /// The PROD session's control server, asked for the session's hop credential (required
    /// unless --plaintext-hop)
    #[arg(
        long,
        value_name = "HOST:PORT",
        required_unless_present = "plaintext_hop"
    )]
    prod_s2cs: Option<String>,
    /// Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]
    #[arg(long, value_name = "PEM", conflicts_with = "no_tls")]
    prod_server_cert: Option<PathBuf>,
    /// Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]
    #[arg(long, value_name = "UUID")]
    prod_scope: Option<ScopeId>,
    #[command(flatten)]
    hop: HopArgs,
}

impl ConsArgs {
    /// How to reach the PROD session's server; TLS as for the CONS server unless told apart.
    fn prod_server(&self) -> Option<S2csArgs> {
        Some(S2csArgs {
            s2cs: self.prod_s2cs.clone()?,
            server_cert: self
                .prod_server_cert
                .clone()
                .or_else(|| self.server.server_cert.clone()),
            no_tls: self.server.no_tls,
            scope: self.prod_scope.clone(),
            timeout: self.server.timeout,
        })
    }
}

/// What the session's hop needs once its req and hello are done.
pub(super) enum HopPlan<'a> {
    /// This is the PROD session: encrypt its hop, unless told not to.
    Prod(&'a HopArgs),
    /// This is the CONS session, for a PROD session whose hop credential (if any) is known.
    Cons {
        credential: Option<pb::HopCredential>,
        prod: Option<&'a Gateway>,
        args: &'a HopArgs,
    },
}

pub(crate) async fn prod(global: &GlobalArgs, args: ProdArgs) -> Result<()> {
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
    let plan = HopPlan::Prod(&args.hop);
    start(
        global,
        &args.server,
        &args.session,
        uid,
        "PROD",
        hello_list,
        plan,
    )
    .await
}

pub(crate) async fn cons(global: &GlobalArgs, args: ConsArgs) -> Result<()> {
    let prod = match args.prod_server() {
        Some(server) if !args.hop.plaintext_hop => Some(server.connect(global).await?),
        _ => None,
    };
    let credential = match &prod {
        Some(prod) => hop::arm(prod, &args.uid, &args.hop).await?,
        None => None,
    };
    let plan = HopPlan::Cons {
        credential,
        prod: prod.as_ref(),
        args: &args.hop,
    };
    let targets = args.prod_listeners.clone();
    let uid = args.uid.clone();
    start(
        global,
        &args.server,
        &args.session,
        uid,
        "CONS",
        targets,
        plan,
    )
    .await
}

/// Runs req (+ hello when `hello_list` is not empty) + the hop + update and prints the result.
async fn start(
    global: &GlobalArgs,
    server: &S2csArgs,
    session: &SessionArgs,
    uid: String,
    role: &str,
    hello_list: Vec<String>,
    plan: HopPlan<'_>,
) -> Result<()> {
    let credentials = server.credentials(global).await?;
    let spinner = spinner(
        !session.json && !global.quiet && std::io::stderr().is_terminal(),
        format!("connecting to s2cs {}", server.s2cs),
    );
    let client = server.dial(global, &credentials).await?;
    let gateway = Gateway::new(client, &server.s2cs, credentials);
    if !session.json {
        spinner.suspend(|| print_header(&uid, &[(&gateway, role)], session.show_token))?;
    }
    spinner.set_message(match hello_list.is_empty() {
        true => format!("waiting for the hello of session {uid} from its app controller"),
        false => format!("setting up session {uid} on s2cs {}", server.s2cs),
    });
    let started = set_up(&gateway, session, &uid, role, hello_list, plan).await;
    spinner.finish_and_clear();
    print_started(session.json, &uid, &server.s2cs, role, &started?)
}

/// The Python client's header: the uid, then one line per server the command talks to.
pub(super) fn print_header(
    uid: &str,
    servers: &[(&Gateway, &str)],
    show_token: bool,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "uid; s2cs; access_token; role")?;
    for (gateway, role) in servers {
        let token = gateway.shown_token(show_token);
        writeln!(out, "{uid} {} {token} {role}", gateway.s2cs)?;
    }
    writeln!(out, "waiting for hello message")?;
    writeln!(out, "started client request")?;
    out.flush()
}

/// A session set up on one gateway, and the credential of its hop when that is encrypted.
pub(super) struct Started {
    pub(super) session: Routed,
    pub(super) hop: Option<pb::HopCredential>,
}

/// Runs req (+ hello when `hello_list` is not empty) + the hop + update on `gateway`. A session
/// that fails after its req is released.
pub(super) async fn set_up(
    gateway: &Gateway,
    session: &SessionArgs,
    uid: &str,
    role: &str,
    hello_list: Vec<String>,
    plan: HopPlan<'_>,
) -> Result<Started> {
    let req = pb::Request {
        uid: uid.to_string(),
        role: role.into(),
        num_conn: session.num_conn,
        rate: session.rate,
        allow_from: session.allow_from.iter().map(ToString::to_string).collect(),
    };
    // The hello names the producer's side; the Python client sends it with role PROD for both roles.
    let hello = (!hello_list.is_empty()).then(|| pb::Hello {
        uid: uid.to_string(),
        prod_listeners: hello_list,
        role: "PROD".into(),
    });
    let started = gateway.client.start(req, hello).await;
    let started = started.map_err(|s| gateway.failed(s))?;
    let finished = finish(gateway, uid, started.prod_listeners, plan).await;
    if finished.is_err() {
        gateway.release_after_failure(uid).await;
    }
    finished
}

/// The hop and the update of a session whose req (and hello) went through.
async fn finish(
    gateway: &Gateway,
    uid: &str,
    targets: Vec<String>,
    plan: HopPlan<'_>,
) -> Result<Started> {
    match plan {
        HopPlan::Prod(args) => {
            let hop = hop::arm(gateway, uid, args).await?;
            let updated = gateway.client.update(uid, "PROD", targets, None).await;
            let session = updated.map_err(|s| gateway.failed(s))?;
            Ok(Started { session, hop })
        }
        HopPlan::Cons {
            credential,
            prod,
            args,
        } => hop::update_cons(gateway, prod, uid, targets, credential, args).await,
    }
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

fn print_started(json: bool, uid: &str, s2cs: &str, role: &str, started: &Started) -> Result<()> {
    let hop = hop::describe(started.hop.is_some());
    let started = &started.session;
    if json {
        let value = serde_json::json!({
            "uid": uid, "s2cs": s2cs, "role": role,
            "listeners": started.listeners, "targets": started.targets, "hop": hop,
        });
        println!("{value}");
    } else {
        println!("Listeners: {}", started.listeners.join(","));
    }
    Ok(())
}
