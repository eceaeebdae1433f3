//! `scistream server`: run the S2CS control server and its data plane.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::builder::TypedValueParser;
use clap::Args;
use ipnet::IpNet;
use tokio::net::TcpListener;

use super::values::parse_seconds;
use super::GlobalArgs;
use crate::auth::{AuthSettings, Introspector, DEFAULT_CACHE_TTL};
use crate::config::{Config, DomainPattern, GlobusId, GroupRef, IdentityName, PolicyConfig};
use crate::policy::{introspection_details, Admins, Policy, OUTBOUND_CONNECTIONS};
use crate::relay::{Limits, DEFAULT_CONNECT_TIMEOUT};
use crate::scope::{ScopeId, DEFAULT_SCOPE};
use crate::secret::Secret;
use crate::server::{self, Access, ConnectionLimits, ServerOptions};
use crate::{config, paths, tls};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  scistream server --listener-ip 10.16.42.61 --port-range 5100-5200
  scistream server --no-tls --port 0        # plaintext, any free port (tests)")]
pub struct ServerArgs {
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
    #[arg(long, value_delimiter = ',', value_parser = parse_network, value_name = "CIDR")]
    allow_targets: Vec<IpNet>,

    /// The most relayed connections open at once, over all sessions; past it, new ones are
    /// reset [default: what the open-file limit allows, printed at start]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    max_connections: Option<u32>,

    /// The most control connections open at once; more are closed as soon as they connect
    #[arg(long, default_value_t = ConnectionLimits::default().max_total, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize), value_name = "N")]
    max_control_connections: usize,
    /// The most control connections open at once from one client IP address
    #[arg(long, default_value_t = ConnectionLimits::default().max_per_ip, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize), value_name = "N")]
    max_control_connections_per_ip: usize,
    /// Seconds a control connection may stay open with no call in progress (a req waiting
    /// for its hello is in progress)
    #[arg(long, default_value = "60", value_parser = parse_seconds, value_name = "SECS")]
    control_idle_timeout: Duration,
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

/// A network in CIDR notation, or one address.
fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a network (10.16.0.0/16) or an address"))
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

pub(crate) async fn run(global: &GlobalArgs, args: ServerArgs) -> Result<()> {
    if args.listener_ip.is_unspecified() {
        bail!(
            "--listener-ip {} cannot be advertised to clients: give this gateway's address \
             that the other side can reach, e.g. --listener-ip 10.16.42.61",
            args.listener_ip
        );
    }
    let relay_limits = relay_limits(
        raise_fd_limit(),
        args.port_range.len() + args.max_control_connections,
        args.max_connections.map(|n| n as usize),
    )?;
    let tls = server_tls(global, &args)?;
    let auth = server_access(global, &args).await?;
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}: pick another --port or --bind"))?;
    let metrics = match args.metrics {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("could not listen on --metrics {addr}: pick another address or port")
        })?),
        None => None,
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
        connections: ConnectionLimits {
            max_total: args.max_control_connections,
            max_per_ip: args.max_control_connections_per_ip,
            idle_timeout: args.control_idle_timeout,
        },
    };
    println!(
        "Relaying at most {} connections at once (2 fds each, and up to {} pipes of 2 while \
         bytes move)",
        relay_limits.max_connections, relay_limits.max_pipes
    );
    if !options.allow_targets.is_empty() {
        let networks: Vec<String> = options
            .allow_targets
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(allow_targets = %networks.join(","), "sessions may relay only to these networks");
    }
    if let Some(metrics) = &options.metrics {
        println!("Metrics on http://{}/metrics", metrics.local_addr()?);
    }
    println!("Server started on {}", listener.local_addr()?);
    server::serve(listener, options, shutdown_signal()).await
}

/// Fds kept out of the relay's budget for the control plane besides its connections: stdio,
/// the runtime, the control and metrics listeners, and the connections to the auth server and
/// the Groups API.
const CONTROL_PLANE_FDS: usize = 64 + OUTBOUND_CONNECTIONS;
/// By default one pipe (two fds) is budgeted per this many connections: only directions with
/// bytes in flight hold one, and past the budget a direction copies through user space.
const CONNECTIONS_PER_PIPE: usize = 16;

/// The relay's share of `fd_limit`: what is left after the control plane and `reserved` fds
/// (one per port of the range, each may become a listener, and one per control connection
/// `--max-control-connections` allows). A relayed connection takes two fds (its two
/// sockets); by default the connections and their pipes share that budget, and with an
/// explicit `max_connections` the pipes get what the connections leave.
fn relay_limits(fd_limit: u64, reserved: usize, max_connections: Option<usize>) -> Result<Limits> {
    let fd_limit = usize::try_from(fd_limit).unwrap_or(usize::MAX);
    let budget = fd_limit.saturating_sub(CONTROL_PLANE_FDS + reserved);
    // CONNECTIONS_PER_PIPE connections and their one pipe, in fds.
    let share = 2 * CONNECTIONS_PER_PIPE + 2;
    let fitting = budget / share * CONNECTIONS_PER_PIPE;
    if fitting == 0 && max_connections.is_none() {
        bail!(
            "the open-file limit {fd_limit} leaves no fds for relayed connections after \
             {CONTROL_PLANE_FDS} for the control plane and {reserved} for the --port-range \
             listeners and --max-control-connections: raise it (ulimit -n, or LimitNOFILE= \
             under systemd), or narrow --port-range or --max-control-connections"
        );
    }
    let max_connections = max_connections.unwrap_or(fitting);
    if 2 * max_connections > budget {
        tracing::warn!(
            "--max-connections {max_connections} needs {} fds but the open-file limit \
             {fd_limit} leaves {budget} for relayed connections: past about {}, new \
             connections are reset for want of fds; raise the limit (LimitNOFILE=) to relay \
             more",
            2 * max_connections,
            budget / 2
        );
    }
    Ok(Limits {
        max_connections,
        max_pipes: budget.saturating_sub(2 * max_connections) / 2,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    })
}

/// Takes the hard open-file limit the operator allows (the usual soft limit of 1024 would cap
/// a gateway near 400 connections) and returns the soft limit in effect.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: limit.rlim_max,
                ..limit
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return wanted.rlim_cur;
            }
            tracing::warn!(
                "could not raise the open-file limit above {}",
                limit.rlim_cur
            );
        }
    }
    limit.rlim_cur
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
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    names.push(args.listener_ip.to_string());
    if !args.bind.is_unspecified() {
        names.push(args.bind.to_string());
    }
    names.extend(hostname());
    names.sort();
    names.dedup();
    let (config, cert) =
        tls::generated_identity(&paths::config_dir(global.config.as_deref()), &names)?;
    println!(
        "TLS certificate: {} (clients: --server-cert {})",
        cert.display(),
        cert.display()
    );
    Ok(Some(config))
}

/// Token checking and the access policy, on iff a client secret is given. The credentials
/// are tried now, so a wrong secret stops the start instead of failing the first user's
/// request; so does a policy without authentication to apply it.
async fn server_access(global: &GlobalArgs, args: &ServerArgs) -> Result<Option<Access>> {
    let path = paths::config_file(global.config.as_deref());
    let config = config::file::load(&path)?;
    let rules = policy_rules(&config, &args.policy);
    let admins = Admins {
        identities: merged(&config.admin_identities, &args.admin_identity),
        groups: [config.admin_groups.as_slice(), &args.policy.admin_group].concat(),
    };
    let Some(secret) = client_secret(args)? else {
        if !rules.is_empty() || !admins.groups.is_empty() {
            bail!(
                "the access policy (policy: or admin_groups: in {}, or the --allow-*, \
                 --deny-identity, --authentication-policy and --admin-group flags) needs \
                 authentication, which is OFF without a client secret: give \
                 --client-secret-file or SCISTREAM_CLIENT_SECRET",
                path.display()
            );
        }
        if !args.admin_identity.is_empty() {
            tracing::warn!("--admin-identity has no effect: authentication is OFF");
        }
        tracing::warn!(
            "authentication is OFF: no client secret, so every call is accepted and sessions \
             are open to anyone who can reach this port (to list, redirect and release); give \
             --client-secret-file or SCISTREAM_CLIENT_SECRET to check tokens"
        );
        return Ok(None);
    };
    let settings = AuthSettings::load(&config)?;
    let introspector = Introspector::new(&settings, args.client_id.clone(), secret)?
        .with_cache_ttl(Duration::from_secs(args.auth_cache_secs))
        .with_details(introspection_details(&rules))
        .with_latency(server::introspection_latency());
    introspector
        .verify_credentials()
        .await
        .context("refusing to start without working token checks")?;
    tracing::info!(client_id = %args.client_id, auth_url = settings.base_url(), "authentication is ON");
    let introspector = Arc::new(introspector);
    let policy = Policy::load(&config, rules, admins.clone(), &introspector)?;
    log_policy(&policy, &admins);
    Ok(Some(Access {
        introspector,
        policy: Arc::new(policy),
    }))
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

fn merged(file: &[String], flags: &[String]) -> Vec<String> {
    let mut all = [file, flags].concat();
    all.sort();
    all.dedup();
    all
}

fn log_policy(policy: &Policy, admins: &Admins) {
    match policy.is_open() {
        true => tracing::info!(
            "no access policy: any identity with a valid token of this server's scope may use \
             this gateway (see policy: in the config file, or --allow-domain and --allow-group)"
        ),
        false => {
            tracing::info!(admits = %policy.describe(), "access policy: only these may use this gateway")
        }
    }
    if !admins.identities.is_empty() {
        tracing::info!(admins = %admins.identities.join(","), "admin identities see and release every session");
    }
    if !admins.groups.is_empty() {
        let groups: Vec<&str> = admins.groups.iter().map(GroupRef::label).collect();
        tracing::info!(admin_groups = %groups.join(","), "members of these groups see and release every session");
    }
}

fn client_secret(args: &ServerArgs) -> Result<Option<Secret>> {
    let Some(path) = &args.client_secret_file else {
        return Ok(args
            .client_secret
            .clone()
            .filter(|s| !s.expose().is_empty()));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read --client-secret-file {}", path.display()))?;
    if text.trim().is_empty() {
        bail!(
            "--client-secret-file {} is empty: put the client secret in it",
            path.display()
        );
    }
    Ok(Some(Secret::new(text.trim())))
}

/// This machine's host name, so that clients may also reach the server by name.
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buf[..end]).ok()?;
    (ok && !name.is_empty()).then(|| name.to_string())
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
    use super::*;

    #[test]
    fn the_default_fd_limit_of_these_machines_relays_over_9000_connections() {
        // The default --port-range (101 ports) and --max-control-connections.
        let reserved = 101 + ConnectionLimits::default().max_total;
        let limits = relay_limits(20_000, reserved, None).unwrap();
        assert!(limits.max_connections >= 9_000, "{limits:?}");
        let fds = 2 * (limits.max_connections + limits.max_pipes) + CONTROL_PLANE_FDS + reserved;
        assert!(fds <= 20_000, "{limits:?} needs {fds} fds");
        assert!(limits.max_pipes >= limits.max_connections / CONNECTIONS_PER_PIPE / 2);
    }

    #[test]
    fn explicit_max_connections_leave_the_rest_to_pipes() {
        let limits = relay_limits(2_048, 101, Some(400)).unwrap();
        assert_eq!(limits.max_connections, 400);
        assert_eq!(limits.max_pipes, (2_048 - 128 - 101 - 800) / 2);
        // Beyond the budget: allowed with a warning, and no fd is left for pipes.
        assert_eq!(relay_limits(320, 101, Some(1000)).unwrap().max_pipes, 0);
    }

    #[test]
    fn a_limit_that_leaves_nothing_for_connections_is_refused() {
        let error = relay_limits(200, 101, None).unwrap_err().to_string();
        assert!(error.contains("narrow --port-range"), "{error}");
    }
}
