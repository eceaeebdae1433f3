//! `req prod` and `req cons`: the flags, the spinner and the printing around the client
//! library's session setup (`client::setup`), which does the protocol.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use ipnet::IpNet;

use super::hop::{this_command, FallbackArgs, HopArgs};
use super::GlobalArgs;
use crate::address::{self, Host, HostPort};
use crate::client::setup::{HopPolicy, Opened, Setup};
use crate::client::Gateway;
use crate::cmd::s2cs_args::S2csArgs;
use crate::cmd::values::{parse_duration, parse_rate_kbps, parse_uid};
use crate::scope::ScopeId;
use crate::session::Role;

/// The port a control server listens on unless told otherwise (`scistream server --port`).
const CONTROL_PORT: u16 = 5000;

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
    #[arg(long, value_delimiter = ',', value_parser = address::parse_network, value_name = "CIDR")]
    pub(super) allow_from: Vec<IpNet>,
    /// How long the session is to live before the server releases it: 90s, 30m, 12h, 7d
    /// [default: the server's --session-lifetime; the server cuts it to its
    /// --max-session-lifetime]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(super) lifetime: Option<Duration>,
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
        value_parser = Host::parse,
        value_name = "IP"
    )]
    remote_ip: Option<Host>,
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
    #[arg(value_delimiter = ',', required = true, value_parser = HostPort::parse, value_name = "PROD_LISTENERS")]
    prod_listeners: Vec<HostPort>,
    /// The PROD session's control server, asked for the session's hop credential (not used
    /// with --plaintext-hop) [default: the first PROD listener's host, port 5000]
    #[arg(long, value_parser = HostPort::parse, value_name = "HOST:PORT")]
    prod_s2cs: Option<HostPort>,
    /// Trust this certificate (PEM) for --prod-s2cs [default: as --server-cert]
    #[arg(long, value_name = "PEM", conflicts_with = "no_tls")]
    prod_server_cert: Option<PathBuf>,
    /// Scope whose token to send to --prod-s2cs [default: the one the config file maps it to]
    #[arg(long, value_name = "UUID")]
    prod_scope: Option<ScopeId>,
    #[command(flatten)]
    hop: HopArgs,
    #[command(flatten)]
    fallback: FallbackArgs,
}

impl ConsArgs {
    /// How to reach the PROD session's server: --prod-s2cs, or else the PROD listeners' host
    /// on the default control port (said to be a guess). TLS as for the CONS server unless told
    /// apart.
    fn prod_server(&self) -> (S2csArgs, Option<String>) {
        let (s2cs, guessed) = match &self.prod_s2cs {
            Some(s2cs) => (s2cs.clone(), None),
            None => {
                let s2cs = default_prod_s2cs(&self.prod_listeners[0]);
                let guess = format!(
                    "no --prod-s2cs was given, so the PROD session's control server was taken \
                     to be {s2cs} (the PROD listeners' host, port {CONTROL_PORT}): give \
                     --prod-s2cs HOST:PORT, or --plaintext-hop for a hop that needs none"
                );
                (s2cs, Some(guess))
            }
        };
        let server = S2csArgs {
            s2cs,
            server_cert: self
                .prod_server_cert
                .clone()
                .or_else(|| self.server.server_cert.clone()),
            no_tls: self.server.no_tls,
            scope: self.prod_scope.clone(),
            timeout: self.server.timeout,
        };
        (server, guessed)
    }

    /// The PROD session's gateway, connected; none for a plaintext hop, which needs none.
    async fn prod_gateway(&self, global: &GlobalArgs) -> Result<Option<Gateway>> {
        if self.hop.plaintext_hop {
            return Ok(None);
        }
        let (server, guessed) = self.prod_server();
        match (server.connect(global).await, guessed) {
            (Ok(gateway), _) => Ok(Some(gateway)),
            (Err(e), Some(guess)) => Err(e.context(guess)),
            (Err(e), None) => Err(e),
        }
    }
}

/// Where the PROD session's control server is when not told: on its listener's host, at the
/// default control port.
fn default_prod_s2cs(listener: &HostPort) -> HostPort {
    HostPort::new(listener.host.clone(), CONTROL_PORT)
}

/// The session to open on the command's server.
enum Half {
    /// A PROD session, with a hello naming the producer's addresses (none: its app controller
    /// sends the hello).
    Prod { producer: Vec<HostPort> },
    /// A CONS session relaying to the PROD session's listeners, over the hop whose credential
    /// `prod` gives.
    Cons {
        prod: Option<Box<Gateway>>,
        targets: Vec<HostPort>,
    },
}

impl Half {
    fn role(&self) -> Role {
        match self {
            Half::Prod { .. } => Role::Prod,
            Half::Cons { .. } => Role::Cons,
        }
    }

    /// Whether the command waits for a hello from someone else.
    fn awaits_hello(&self) -> bool {
        matches!(self, Half::Prod { producer } if producer.is_empty())
    }
}

pub(crate) async fn prod(global: &GlobalArgs, args: ProdArgs) -> Result<()> {
    let uid = args
        .uid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let producer = match &args.remote_ip {
        Some(ip) => producer(ip, &args.receiver_ports),
        None => Vec::new(),
    };
    let half = Half::Prod { producer };
    let policy = args.hop.policy(None);
    start(global, &args.server, &args.session, policy, &uid, half).await
}

pub(crate) async fn cons(global: &GlobalArgs, args: ConsArgs) -> Result<()> {
    let prod = args.prod_gateway(global).await?.map(Box::new);
    let targets = args.prod_listeners.clone();
    let half = Half::Cons { prod, targets };
    let policy = args.hop.policy(Some(&args.fallback));
    start(global, &args.server, &args.session, policy, &args.uid, half).await
}

/// Opens the session on `server` and prints the result, with a spinner while it waits.
async fn start(
    global: &GlobalArgs,
    server: &S2csArgs,
    session: &SessionArgs,
    policy: HopPolicy,
    uid: &str,
    half: Half,
) -> Result<()> {
    let role = half.role().as_str();
    let credentials = server.credentials(global).await?;
    let spinner = spinner(
        !session.json && !global.quiet && std::io::stderr().is_terminal(),
        format!("connecting to s2cs {}", server.s2cs),
    );
    let client = server.dial(global, &credentials).await?;
    let gateway = Gateway::new(client, &server.s2cs, credentials);
    if !session.json {
        spinner.suspend(|| print_header(uid, &[(&gateway, role)], session.show_token))?;
    }
    spinner.set_message(match half.awaits_hello() {
        true => format!("waiting for the hello of session {uid} from its app controller"),
        false => format!("setting up session {uid} on s2cs {}", server.s2cs),
    });
    let warn = |warning: &str| {
        if !global.quiet {
            spinner.suspend(|| eprintln!("warning: {warning}"));
        }
    };
    let command = this_command();
    let setup = session.setup(uid, policy, &command, &warn);
    let opened = match half {
        Half::Prod { producer } => setup.prod(&gateway, producer).await,
        Half::Cons { prod, targets } => setup.cons(&gateway, prod.as_deref(), targets).await,
    };
    spinner.finish_and_clear();
    print_opened(session.json, uid, &server.s2cs, role, &opened?)
}

/// The producer application's addresses, as the hello names them.
pub(super) fn producer(ip: &Host, ports: &[u16]) -> Vec<HostPort> {
    ports
        .iter()
        .map(|&p| HostPort::new(ip.clone(), p))
        .collect()
}

impl SessionArgs {
    /// The library's setup of a session with these flags.
    pub(super) fn setup<'a>(
        &'a self,
        uid: &'a str,
        hop: HopPolicy,
        command: &'a str,
        warn: &'a dyn Fn(&str),
    ) -> Setup<'a> {
        Setup {
            uid,
            num_conn: self.num_conn,
            rate: self.rate,
            lifetime: self.lifetime,
            allow_from: &self.allow_from,
            prod_allow_from: &[],
            hop,
            command,
            warn,
        }
    }
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

fn print_opened(json: bool, uid: &str, s2cs: &HostPort, role: &str, opened: &Opened) -> Result<()> {
    let routed = &opened.routed;
    if json {
        let value = serde_json::json!({
            "uid": uid, "s2cs": s2cs, "role": role,
            "listeners": routed.listeners, "targets": routed.targets,
            "hop": opened.hop_encryption().as_str(),
        });
        println!("{value}");
    } else {
        println!("Listeners: {}", address::joined(&routed.listeners));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prod_server_is_guessed_on_the_listeners_host_at_port_5000() {
        let guess =
            |listener: &str| default_prod_s2cs(&HostPort::parse(listener).unwrap()).to_string();
        assert_eq!(guess("10.16.42.61:5100"), "10.16.42.61:5000");
        assert_eq!(guess("gw1.example.org:5101"), "gw1.example.org:5000");
        assert_eq!(guess("[2001:db8::7]:5100"), "[2001:db8::7]:5000");
    }

    #[test]
    fn the_producer_is_named_with_its_ip_bracketed_when_ipv6() {
        let named = |ip: &str| address::joined(&producer(&Host::parse(ip).unwrap(), &[5074, 5075]));
        assert_eq!(named("10.0.0.5"), "10.0.0.5:5074,10.0.0.5:5075");
        assert_eq!(named("::1"), "[::1]:5074,[::1]:5075");
    }
}
