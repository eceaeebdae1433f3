//! `scistream server`: run the S2CS control server and its data plane.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser;
use clap::{Args, Subcommand, ValueEnum};
use humantime::format_duration;
use ipnet::IpNet;
use tokio::net::TcpListener;

use super::pool::{cluster_options, run_drain, DrainArgs, NodeArgs};
use super::values::{parse_bit_rate, parse_duration, parse_seconds};
use super::GlobalArgs;
use crate::address;
use crate::auth::DEFAULT_CACHE_TTL;
use crate::config::{
    Config, DomainPattern, GlobusId, GroupRef, IdentityName, MaxRate, PolicyConfig, QuotaLimits,
};
use crate::handover::{notify, Successor, TAKE_OVER_ENV};
use crate::policy::Admins;
use crate::relay::{
    raise_fd_limit, BitRate, Limits, Shares, HOP_BUFFER_BUDGET, HOP_CONNECTION_MEMORY,
};
use crate::scope::{ScopeId, DEFAULT_SCOPE};
use crate::secret::Secret;
use crate::server::{
    self, Access, ConnectionLimits, Lifetimes, Quota, Quotas, RateOptions, RatePolicy,
    ServerOptions, Upgrades,
};
use crate::{config, paths, tls};

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  scistream server --listener-ip 10.16.42.61 --port-range 5100-5200
  scistream server --no-tls --port 0        # plaintext, any free port (tests)
  scistream server --listener-ip 10.16.42.61 --cluster http://10.16.42.5:2379 --node-name gw-1"
)]
pub struct ServerArgs {
    #[command(subcommand)]
    action: Option<ServerAction>,

    /// Control port clients connect to (0: any free port, printed at start)
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// Address the control port binds to
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    bind: IpAddr,
    /// Address the data listeners bind to and advertise to clients: the gateway's address
    /// that the other side can reach (0.0.0.0 cannot be advertised)
    #[arg(
        long,
        alias = "listener_ip",
        default_value = "127.0.0.1",
        value_name = "IP"
    )]
    listener_ip: IpAddr,
    /// Ports the data listeners are taken from, START-END inclusive
    #[arg(long, alias = "port_range", default_value = "5100-5200", value_parser = parse_port_range, value_name = "START-END")]
    port_range: RangeInclusive<u16>,
    /// Seconds a req waits for its hello before its ports are freed
    #[arg(long, default_value = "180", value_parser = parse_seconds, value_name = "SECS")]
    hello_timeout: Duration,
    /// The most listeners (num_conn) one request may ask for
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    max_conn: u16,
    /// TLS certificate (PEM) [default: a self-signed one generated once in the config directory]
    #[arg(long, alias = "server_crt", requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert
    #[arg(long, alias = "server_key", requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Serve plaintext gRPC: tokens would cross the network in the clear
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    no_tls: bool,
    /// Globus client id of this server: the scope clients must log in to
    #[arg(long, alias = "client_id", default_value = DEFAULT_SCOPE, value_name = "UUID")]
    client_id: ScopeId,
    /// Client secret of --client-id; it turns token checking on (without one, every call is
    /// accepted). Prefer --client-secret-file or the environment: arguments show in `ps`
    #[arg(
        long,
        alias = "client_secret",
        env = "SCISTREAM_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    client_secret: Option<Secret>,
    /// Read the client secret from this file (surrounding whitespace ignored); wins over
    /// --client-secret
    #[arg(long, value_name = "PATH")]
    client_secret_file: Option<PathBuf>,
    /// Seconds a positive token check is reused (0: never); a revoked token is refused at most
    /// this late. A rejected token is remembered for 10 s regardless
    #[arg(long, default_value_t = DEFAULT_CACHE_TTL.as_secs(), value_name = "SECS")]
    auth_cache_secs: u64,
    /// Serve Prometheus metrics on http://ADDR/metrics (plaintext: keep it on a private
    /// address, e.g. 127.0.0.1:9100)
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,

    /// An identity (the `sub` of its tokens) that sees and releases every session, not only
    /// its own; repeat for several. Adds to `admin_identities` in the config file
    #[arg(long, value_name = "SUB", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    admin_identity: Vec<String>,
    /// Who may use the gateway, besides the config file's `policy:`.
    #[command(flatten)]
    policy: Box<PolicyArgs>,
    /// Networks sessions may relay to, e.g. 10.16.0.0/16,192.0.2.7 [default: anywhere]; the
    /// server itself is never a target
    #[arg(long, value_delimiter = ',', value_parser = address::parse_network, value_name = "CIDR")]
    allow_targets: Vec<IpNet>,

    /// The most relayed connections open at once, over all sessions; past it, new ones are
    /// reset [default: what the open-file limit allows, printed at start]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_connections: Option<u32>,
    /// The most relayed connections open at once from one source address (an IPv6 /64 counts
    /// as one address), over all sessions; past it, its new ones are reset [default: half of
    /// --max-connections]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_connections_per_source: Option<u32>,
    /// The most relayed connections open at once in one session; past it, new ones are reset
    #[arg(long, default_value_t = Shares::default().per_session, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize), value_name = "N")]
    max_session_connections: usize,
    /// New relayed connections one session may open per second (as many at once after a
    /// quiet second); past it, they are reset. Stops two gateways made to relay into each
    /// other at once
    #[arg(long, default_value_t = Shares::default().session_rate, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_session_connection_rate: u32,
    /// Seconds a relayed connection may move no data either way before it is reset
    /// [default: never, so that quiet streams are not cut]
    #[arg(long, value_parser = parse_seconds, value_name = "SECS")]
    relay_idle_timeout: Option<Duration>,

    /// The most control connections open at once; past it, a new one takes the place of the
    /// oldest that has no call in progress and no authenticated call, or is closed at once
    #[arg(long, default_value_t = ConnectionLimits::default().max_total, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize), value_name = "N")]
    max_control_connections: usize,
    /// The most control connections open at once from one client IP address (from one /64,
    /// for IPv6)
    #[arg(long, default_value_t = ConnectionLimits::default().max_per_ip, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize), value_name = "N")]
    max_control_connections_per_ip: usize,
    /// Seconds a control connection may stay open with no call in progress (a req waiting
    /// for its hello is in progress)
    #[arg(long, default_value = "60", value_parser = parse_seconds, value_name = "SECS")]
    control_idle_timeout: Duration,

    /// Directory of the session store: every session is kept there and taken back when the
    /// server starts again (0700; it holds the PROD sessions' hop keys) [default: beside
    /// --config when one is given (DIR/state), else $STATE_DIRECTORY (systemd), else
    /// $XDG_STATE_HOME/scistream]
    #[arg(long, env = "SCISTREAM_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Start with no sessions: drop the ones the store holds (their listeners were closed when
    /// the last server stopped)
    #[arg(long, conflicts_with = "take_over")]
    forget_sessions: bool,
    /// Take over from the server running with this --state-dir, through its handover socket
    /// (STATE_DIR/handover.sock): its control and metrics listeners, its sessions with their
    /// listeners, and its plain relayed connections, which go on where they were; no
    /// listener closes. `systemctl reload` (SIGHUP) does this with the binary now on disk.
    /// --port, --bind and --metrics are the running server's. If the handover fails, the
    /// running server goes on serving and this one exits
    #[arg(long, env = TAKE_OVER_ENV, value_name = "SOCKET")]
    take_over: Option<PathBuf>,
    /// Seconds a server that handed its sessions over (a live upgrade) lets its encrypted
    /// connections, whose TLS state cannot move, run on before it resets them and exits
    #[arg(long, default_value = "600", value_parser = parse_seconds, value_name = "SECS")]
    drain_timeout: Duration,

    /// What a session's requested rate (kb/s) means: ignore it, limit the session to it (each
    /// direction, over its connections; rate 0: no limit), or reserve it out of --bandwidth and
    /// refuse sessions that do not fit
    #[arg(long, value_enum, default_value_t, value_name = "POLICY")]
    rate_policy: RatePolicy,
    /// The bandwidth --rate-policy reserve shares out: bits per second with a unit (40G, 500M)
    /// or kb/s (in a pool, this node's: each node promises its part of a session's rate)
    #[arg(long, value_parser = parse_bit_rate, value_name = "RATE")]
    bandwidth: Option<u64>,
    /// Networks that may connect to the listeners of sessions that name none of their own
    /// (req --allow-from), e.g. 10.16.0.0/16 [default: anywhere]; others are reset
    #[arg(long, value_delimiter = ',', value_parser = address::parse_network, value_name = "CIDR")]
    listener_allow_from: Vec<IpNet>,

    /// What one identity may hold, and how long sessions live.
    #[command(flatten)]
    shares: Box<FairShareArgs>,

    /// The pool of gateways this node joins, if any.
    #[command(flatten)]
    node: Box<NodeArgs>,
}

/// What `scistream server` does besides serving.
#[derive(Debug, Subcommand)]
pub enum ServerAction {
    /// Stop placing new sessions on a node of a pool while its sessions run on (--undo: place
    /// them there again); the mark is kept in etcd, across the node's restarts. On the node
    /// itself, SIGUSR1 does the same and SIGUSR2 undoes it
    Drain(Box<DrainArgs>),
}

/// Quotas and lifetimes (boxed in [`ServerArgs`]: they are many).
#[derive(Debug, Args)]
#[command(
    next_help_heading = "Fair shares: quotas per identity (per client address with authentication off), session lifetimes"
)]
pub struct FairShareArgs {
    /// The most sessions one identity holds at once; past it, its reqs are refused
    /// (RESOURCE_EXHAUSTED) until it releases one. Wins over `quotas.default.sessions` in the
    /// config file; `quotas.identities` and `quotas.groups` override it [default: 100]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    quota_sessions: Option<u32>,
    /// The most listeners (ports) one identity holds at once, over all of its sessions
    /// [default: 1000]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    quota_listeners: Option<u32>,
    /// The most relayed connections open at once over all of one identity's sessions (in a
    /// pool: on each node); past it, new ones are reset [default: 4096]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    quota_connections: Option<u32>,
    /// The highest rate one identity's session may ask for, where --rate-policy enforces
    /// rates: bits per second with a unit (10G) or kb/s [default: any]
    #[arg(long, value_parser = parse_max_rate, value_name = "RATE")]
    quota_max_rate: Option<MaxRate>,
    /// How long a session lives when its req asks for no lifetime (req --lifetime; the Python
    /// client never asks): 90s, 30m, 12h, 7d
    #[arg(long, default_value = "7d", value_parser = parse_duration, value_name = "DURATION")]
    session_lifetime: Duration,
    /// The longest lifetime a session gets: longer asks are cut to it
    #[arg(long, default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    max_session_lifetime: Duration,
    /// A relaying session with no relayed connection open for this long is released
    #[arg(long, default_value = "3d", value_parser = parse_duration, value_name = "DURATION")]
    session_idle_timeout: Duration,
    /// A session that got its hello but no update for this long is released (its setup
    /// failed halfway)
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    update_timeout: Duration,
}

fn parse_max_rate(value: &str) -> Result<MaxRate, String> {
    value.parse()
}

impl FairShareArgs {
    /// The quota of every identity: these flags over the file's `quotas.default`, over the
    /// built-in defaults; with the file's overrides.
    fn quotas(&self, config: &Config) -> Quotas {
        let flags = QuotaLimits {
            sessions: self.quota_sessions.and_then(std::num::NonZeroU32::new),
            listeners: self.quota_listeners.and_then(std::num::NonZeroU32::new),
            connections: self.quota_connections.and_then(std::num::NonZeroU32::new),
            max_rate: self.quota_max_rate,
        };
        let file = &config.quotas;
        Quotas::new(Quota::DEFAULT.with(&file.default).with(&flags), file)
    }

    fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            default: self.session_lifetime,
            max: self.max_session_lifetime,
            idle_timeout: self.session_idle_timeout,
            update_timeout: self.update_timeout,
        }
    }
}

/// The access policy's flags (boxed in [`ServerArgs`]: they are many).
#[derive(Debug, Args)]
#[command(next_help_heading = "Who may use this gateway (with authentication on)")]
pub struct PolicyArgs {
    /// Members of this Globus Group (its id, and a name for messages) are admins too;
    /// repeatable. Adds to `admin_groups` in the config file
    #[arg(long, value_name = "ID[=NAME]")]
    admin_group: Vec<GroupRef>,

    /// Admit identities whose username is in DOMAIN (anl.gov), or in its subdomains
    /// (*.anl.gov); repeatable. Adds to `policy.allow_domains` in the config file
    #[arg(long, value_delimiter = ',', value_name = "DOMAIN")]
    allow_domain: Vec<DomainPattern>,
    /// Admit members of this Globus Group (its id, and a name for refusals); repeatable. Adds
    /// to `policy.allow_groups` in the config file
    #[arg(long, value_name = "ID[=NAME]")]
    allow_group: Vec<GroupRef>,
    /// Admit this identity (its id or username); repeatable. Adds to
    /// `policy.allow_identities` in the config file
    #[arg(long, value_name = "ID|USERNAME")]
    allow_identity: Vec<IdentityName>,
    /// Refuse this identity (its id or username), whatever admits it; repeatable. Adds to
    /// `policy.deny_identities` in the config file
    #[arg(long, value_name = "ID|USERNAME")]
    deny_identity: Vec<IdentityName>,
    /// Let any identity linked to the token's satisfy --allow-domain and --allow-identity
    /// (policy.linked_identities)
    #[arg(long)]
    linked_identities: bool,
    /// Require logins that meet this Globus authentication policy (high assurance, MFA...);
    /// repeatable. Adds to `policy.authentication_policies` in the config file
    #[arg(long, value_name = "ID")]
    authentication_policy: Vec<GlobusId>,
}

/// `--rate-policy` and `--bandwidth`, checked together.
fn rate_options(args: &ServerArgs) -> Result<RateOptions> {
    let bandwidth = args.bandwidth.and_then(BitRate::new);
    match (args.rate_policy, bandwidth) {
        (RatePolicy::Reserve, None) => bail!(
            "--rate-policy reserve needs --bandwidth: the rate this gateway may promise to its \
             sessions in all, e.g. --bandwidth 40G"
        ),
        (RatePolicy::Reserve, Some(_)) => {}
        (_, Some(_)) => tracing::warn!("--bandwidth has no effect without --rate-policy reserve"),
        (_, None) => {}
    }
    Ok(RateOptions {
        policy: args.rate_policy,
        bandwidth,
    })
}

/// How much of the relay one source or session may take: the flags over the defaults.
fn relay_shares(args: &ServerArgs) -> Shares {
    Shares {
        per_source: args.max_connections_per_source.map(|n| n as usize),
        per_session: args.max_session_connections,
        session_rate: args.max_session_connection_rate,
        idle_timeout: args.relay_idle_timeout,
        ..Shares::default()
    }
}

fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (start, end) = s
        .split_once('-')
        .ok_or("expected START-END, e.g. 5100-5200")?;
    let start: u16 = start
        .trim()
        .parse()
        .map_err(|_| format!("{start:?} is not a port"))?;
    let end: u16 = end
        .trim()
        .parse()
        .map_err(|_| format!("{end:?} is not a port"))?;
    if start == 0 || start > end {
        return Err(format!("{s}: START must be 1 or more and not above END"));
    }
    Ok(start..=end)
}

pub(crate) async fn run(global: &GlobalArgs, mut args: ServerArgs) -> Result<()> {
    if let Some(ServerAction::Drain(drain)) = args.action.take() {
        return run_drain(global, *drain).await;
    }
    // Now, before anything: after a package upgrade, the path names the new binary.
    let successor = Successor::of_this_process();
    if args.listener_ip.is_unspecified() {
        bail!(
            "--listener-ip {} cannot be advertised to clients: give this gateway's address \
             that the other side can reach, e.g. --listener-ip 10.16.42.61",
            args.listener_ip
        );
    }
    let relay_shares = relay_shares(&args);
    let relay_limits = Limits::within_fds(
        raise_fd_limit(),
        args.port_range.len() + args.max_control_connections + relay_shares.proving,
        args.max_connections.map(|n| n as usize),
    )?;
    let rates = rate_options(&args)?;
    let tls = server_tls(global, &args)?;
    let secret = client_secret(&args)?;
    let path = paths::config_file(global.config.as_deref());
    // Only a server that checks tokens needs its config file (for the auth URL, the admins and
    // the policy): a broken file does not stop an open one, but a policy in it does.
    let (config, quotas, cluster) = match secret {
        Some(_) => {
            let config = config::file::load(&path)?;
            let quotas = args.shares.quotas(&config);
            let cluster = cluster_options(&args.node, &config.cluster)?;
            (Some(config), quotas, cluster)
        }
        None => {
            let file = open_server_config(&args, &path)?;
            let cluster = cluster_options(&args.node, &file.cluster)?;
            (None, args.shares.quotas(&file), cluster)
        }
    };
    let auth = server_access(&args, secret, config.as_ref()).await?;
    let (listener, metrics) = match &args.take_over {
        Some(_) => (None, None),
        None => (Some(bind(&args).await?), bind_metrics(args.metrics).await?),
    };
    let options = ServerOptions {
        listener_ip: args.listener_ip,
        port_range: args.port_range,
        hello_timeout: args.hello_timeout,
        max_conn: usize::from(args.max_conn),
        tls,
        auth,
        metrics,
        allow_targets: args.allow_targets,
        relay_limits,
        relay_shares,
        connections: ConnectionLimits {
            max_total: args.max_control_connections,
            max_per_ip: args.max_control_connections_per_ip,
            idle_timeout: args.control_idle_timeout,
            ..ConnectionLimits::default()
        },
        rates,
        listener_allow_from: args.listener_allow_from,
        quotas,
        lifetimes: args.shares.lifetimes(),
        state_dir: (args.state_dir.clone())
            .unwrap_or_else(|| paths::state_dir(global.config.as_deref())),
        forget_sessions: args.forget_sessions,
        cluster,
    };
    println!(
        "Relaying at most {} connections at once (2 fds each, and up to {} pipes of 2 while \
         bytes move), {} from one source address, {} in one session; an encrypted-hop \
         connection also holds up to {} KiB of buffers and TLS state, and their buffers grow \
         into {} MiB shared",
        relay_limits.max_connections,
        relay_limits.max_pipes,
        relay_shares.per_source_of(relay_limits.max_connections),
        relay_shares.per_session,
        HOP_CONNECTION_MEMORY >> 10,
        HOP_BUFFER_BUDGET >> 20
    );
    print_terms(&options);
    if !options.allow_targets.is_empty() {
        let networks = joined(&options.allow_targets);
        tracing::info!(allow_targets = %networks, "sessions may relay only to these networks");
    }
    if let Some(cluster) = &options.cluster {
        if options.forget_sessions {
            tracing::warn!("--forget-sessions has no effect in a pool: its sessions live in etcd");
        }
        println!(
            "Joining pool {} as node {} (etcd at {}; placement {})",
            cluster.pool,
            cluster.node,
            cluster.urls.join(","),
            cluster
                .placement
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string()),
        );
    }
    let ready = match (listener, &args.take_over) {
        (Some(listener), _) => server::start(listener, options).await?,
        (None, Some(socket)) => server::take_over(socket, options, args.metrics).await?,
        (None, None) => unreachable!("a server binds its listener unless it takes over"),
    };
    if successor.is_none() {
        tracing::warn!("this binary's path is unknown: reload (SIGHUP) cannot start the next one; use --take-over");
    }
    let upgrades = Upgrades {
        successor,
        drain_timeout: args.drain_timeout,
    };
    let ready = ready.with_upgrades(upgrades);
    if let Some(metrics) = ready.metrics_addr() {
        println!("Metrics on http://{metrics}/metrics");
    }
    println!("Server started on {}", ready.local_addr()?);
    notify::serving(args.take_over.is_some());
    ready.serve(shutdown_signal()).await
}

/// The control listener, on --bind and --port.
async fn bind(args: &ServerArgs) -> Result<TcpListener> {
    let addr = SocketAddr::new(args.bind, args.port);
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}: pick another --port or --bind"))
}

async fn bind_metrics(addr: Option<SocketAddr>) -> Result<Option<TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("could not listen on --metrics {addr}: pick another address or port")
    })?;
    Ok(Some(listener))
}

/// Says what sessions are held to, beyond the capacity.
fn print_terms(options: &ServerOptions) {
    print_fair_shares(options);
    match (options.rates.policy, options.rates.bandwidth) {
        (RatePolicy::Reserve, Some(bandwidth)) => println!(
            "Reserving each session's rate out of {bandwidth}; sessions that do not fit are \
             refused (--rate-policy reserve)"
        ),
        (RatePolicy::Limit, _) => {
            println!("Holding each session to its rate (--rate-policy limit)")
        }
        _ => {}
    }
    if !options.listener_allow_from.is_empty() {
        println!(
            "Listeners admit only {} unless a session names its own networks",
            joined(&options.listener_allow_from)
        );
    }
}

/// Says the quotas and lifetimes.
fn print_fair_shares(options: &ServerOptions) {
    let quota = options.quotas.default_quota();
    let whose = match options.auth {
        Some(_) => "identity",
        None => "client address (authentication is off)",
    };
    let (identities, groups) = options.quotas.overrides();
    let overrides = match identities + groups {
        0 => String::new(),
        _ => format!("; {identities} identities and {groups} groups have quotas of their own"),
    };
    println!("Quotas per {whose}: {quota} (--quota-*){overrides}");
    let ports = options.port_range.len();
    if quota.listeners >= ports {
        println!(
            "One user may hold all {ports} ports of --port-range: on a gateway that several \
             users share, set --quota-listeners below that"
        );
    }
    if quota.max_rate.is_some() && options.rates.policy == RatePolicy::Ignore {
        tracing::warn!("--quota-max-rate (or a max_rate quota) has no effect with --rate-policy ignore: rates are not enforced");
    }
    let lifetimes = &options.lifetimes;
    let default = lifetimes.default.min(lifetimes.max);
    println!(
        "Sessions live {} unless their req asks otherwise (at most {}); released after {} with \
         no relayed connection open (--session-idle-timeout), or {} after their hello if no \
         update comes (--update-timeout)",
        format_duration(default),
        format_duration(lifetimes.max),
        format_duration(lifetimes.idle_timeout),
        format_duration(lifetimes.update_timeout)
    );
}

fn joined(networks: &[IpNet]) -> String {
    let shown: Vec<String> = networks.iter().map(ToString::to_string).collect();
    shown.join(",")
}

fn server_tls(
    global: &GlobalArgs,
    args: &ServerArgs,
) -> Result<Option<tonic::transport::ServerTlsConfig>> {
    if args.no_tls {
        tracing::warn!(
            "TLS is OFF (--no-tls): tokens and session data cross the network in plaintext"
        );
        return Ok(None);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return tls::load_identity(cert, key).map(Some);
    }
    let names = server::certificate_names(args.listener_ip, args.bind);
    let (config, cert) =
        tls::generated_identity(&paths::config_dir(global.config.as_deref()), &names)?;
    println!(
        "TLS certificate: {} (clients: --server-cert {})",
        cert.display(),
        cert.display()
    );
    Ok(Some(config))
}

/// The config file of a server with authentication off, read for its `quotas.default` and its
/// `cluster:` only:
/// one that cannot be read holds nothing that applies (an open server starts, with a warning).
/// A policy, or quotas for identities or groups, stop a server that could not apply them: with
/// authentication off every call is accepted and no identity is known, so they would be
/// silently ignored.
fn open_server_config(args: &ServerArgs, path: &std::path::Path) -> Result<Config> {
    let file = config::file::load(path).unwrap_or_else(|e| {
        tracing::warn!(
            "{e:#}; its quotas: do not apply (authentication is off, so nothing else in it does)"
        );
        Config::default()
    });
    if file.quotas.has_overrides() {
        bail!(
            "quotas: in {} names identities or groups, which need authentication to be told \
             apart, and it is OFF without a client secret: give --client-secret-file or \
             SCISTREAM_CLIENT_SECRET, or keep only quotas.default",
            path.display()
        );
    }
    let rules = policy_rules(&file, &args.policy);
    if !rules.is_empty() || !file.admin_groups.is_empty() || !args.policy.admin_group.is_empty() {
        bail!(
            "the access policy (policy: or admin_groups: in {}, or the --allow-*, \
             --deny-identity, --authentication-policy and --admin-group flags) needs \
             authentication, which is OFF without a client secret: give \
             --client-secret-file or SCISTREAM_CLIENT_SECRET",
            path.display()
        );
    }
    Ok(file)
}

/// Token checking and the access policy, on iff a client secret is given (and the config file
/// then read).
async fn server_access(
    args: &ServerArgs,
    secret: Option<Secret>,
    config: Option<&Config>,
) -> Result<Option<Access>> {
    let (Some(secret), Some(config)) = (secret, config) else {
        if !args.admin_identity.is_empty() {
            tracing::warn!("--admin-identity has no effect: authentication is OFF");
        }
        tracing::warn!(
            "authentication is OFF: no client secret, so every call is accepted and sessions \
             are open to anyone who can reach this port (to list, redirect and release); their \
             streams are exposed too (a session redirected by a stranger relays to the \
             stranger), and so is each session's hop credential to any host that shares the \
             address its req came from (behind one NAT, on one login node); give \
             --client-secret-file or SCISTREAM_CLIENT_SECRET to check tokens"
        );
        return Ok(None);
    };
    let admins = Admins {
        identities: server::admin_identities(config, &args.admin_identity),
        groups: [config.admin_groups.as_slice(), &args.policy.admin_group].concat(),
    };
    let rules = policy_rules(config, &args.policy);
    let cache_ttl = Duration::from_secs(args.auth_cache_secs);
    let credentials = (args.client_id.clone(), secret);
    let access = server::access(config, credentials, cache_ttl, rules, admins);
    Ok(Some(access.await?))
}

/// The file's `policy:` with the flags' rules added.
fn policy_rules(config: &Config, args: &PolicyArgs) -> PolicyConfig {
    let file = &config.policy;
    PolicyConfig {
        allow_identities: [file.allow_identities.as_slice(), &args.allow_identity].concat(),
        deny_identities: [file.deny_identities.as_slice(), &args.deny_identity].concat(),
        allow_domains: [file.allow_domains.as_slice(), &args.allow_domain].concat(),
        linked_identities: file.linked_identities || args.linked_identities,
        allow_groups: [file.allow_groups.as_slice(), &args.allow_group].concat(),
        authentication_policies: [
            file.authentication_policies.as_slice(),
            &args.authentication_policy,
        ]
        .concat(),
        membership_cache_secs: file.membership_cache_secs,
    }
}

fn client_secret(args: &ServerArgs) -> Result<Option<Secret>> {
    let Some(path) = &args.client_secret_file else {
        return Ok(args
            .client_secret
            .clone()
            .filter(|s| !s.expose().is_empty()));
    };
    let text = config::read_trusted(path, "--client-secret-file")?.with_context(|| {
        format!(
            "could not read --client-secret-file {}: no such file",
            path.display()
        )
    })?;
    if text.trim().is_empty() {
        bail!(
            "--client-secret-file {} is empty: put the client secret in it",
            path.display()
        );
    }
    Ok(Some(Secret::new(text.trim())))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received: releasing sessions and stopping");
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Wrapped {
        #[command(flatten)]
        shares: FairShareArgs,
    }

    #[test]
    fn the_quota_flags_say_the_defaults_the_server_applies() {
        let command = Wrapped::command();
        let help = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_help().unwrap().to_string()
        };
        let default = Quota::DEFAULT;
        for (id, value) in [
            ("quota_sessions", default.sessions),
            ("quota_listeners", default.listeners),
            ("quota_connections", default.connections),
        ] {
            let said = help(id);
            assert!(
                said.ends_with(&format!("[default: {value}]")),
                "{id}: {said}"
            );
        }
        let parsed = Wrapped::parse_from(["server"]);
        assert_eq!(parsed.shares.lifetimes(), Lifetimes::DEFAULT);
        let quotas = parsed.shares.quotas(&Config::default());
        assert_eq!(quotas.default_quota(), Quota::DEFAULT);
    }

    #[test]
    fn the_flags_win_over_the_files_default_quota() {
        let config =
            Config::from_str("quotas:\n  default: {sessions: 8, listeners: 32}\n").unwrap();
        let parsed = Wrapped::parse_from(["server", "--quota-sessions", "3"]);
        let quota = parsed.shares.quotas(&config).default_quota();
        assert_eq!((quota.sessions, quota.listeners), (3, 32));
    }
}
