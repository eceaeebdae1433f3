//! The pool flags of `scistream server` (`--cluster` and beside it), with the config file's
//! `cluster:` under them, and `scistream server drain`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use super::GlobalArgs;
use crate::cluster::{drain, ClusterOptions, Keys, Placement};
use crate::config::{ClusterConfig, EtcdUrl, PoolName};
use crate::etcd::EtcdTls;
use crate::{config, paths};

/// How long a node's registration outlives its last renewal, unless told.
const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The pool of a node that names none.
const DEFAULT_POOL: &str = "default";

/// Where a pool's etcd is and how to reach it.
#[derive(Debug, Args)]
#[command(next_help_heading = "A pool of gateways (sessions shared through etcd)")]
pub struct ClusterArgs {
    /// Join a pool of gateway nodes whose sessions live in etcd at these client URLs
    /// (http://HOST:2379, or https:// with --cluster-ca), instead of in --state-dir; adds to
    /// `cluster.urls` in the config file
    #[arg(long, value_delimiter = ',', value_name = "URL")]
    cluster: Vec<EtcdUrl>,
    /// The pool's name: several pools may share one etcd [default: cluster.pool in the config
    /// file, else "default"]
    #[arg(long, value_name = "NAME")]
    pool: Option<PoolName>,
    /// CA certificate (PEM) that signed etcd's certificate, for https:// URLs [default: the
    /// system's CAs]
    #[arg(long, value_name = "PEM")]
    cluster_ca: Option<PathBuf>,
    /// Client certificate (PEM) this node shows etcd
    #[arg(long, requires = "cluster_key", value_name = "PEM")]
    cluster_cert: Option<PathBuf>,
    /// Private key (PEM) of --cluster-cert
    #[arg(long, requires = "cluster_cert", value_name = "PEM")]
    cluster_key: Option<PathBuf>,
}

/// A node's own pool settings (`scistream server`), besides [`ClusterArgs`].
#[derive(Debug, Args)]
#[command(next_help_heading = "A pool of gateways (sessions shared through etcd)")]
pub struct NodeArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// This node's name in the pool, unique in it [default: cluster.node_name in the config
    /// file, else the host name]
    #[arg(long, value_name = "NAME")]
    node_name: Option<PoolName>,
    /// Seconds the node's registration outlives its last renewal: a node that stops shows
    /// its listeners lost after at most this long [default: cluster.lease_secs, else 10]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=config::MAX_LEASE_SECS), value_name = "SECS")]
    cluster_lease: Option<u64>,
    /// Where a req's listeners go: spread over the pool's live nodes, least loaded first, or
    /// all on the node that got the req (one address per session) [default: cluster.placement,
    /// else spread]
    #[arg(long, value_enum, value_name = "WHERE")]
    placement: Option<Placement>,
}

/// `scistream server drain`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  scistream server drain --cluster http://10.16.42.5:2379 gw-3
  scistream server drain --undo gw-3     # with cluster: in the config file")]
pub struct DrainArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Place new sessions on the node again
    #[arg(long)]
    undo: bool,
    /// The node (its --node-name) [default: cluster.node_name in the config file, else this
    /// host's name]
    #[arg(value_name = "NODE")]
    node: Option<PoolName>,
}

impl NodeArgs {
    /// Whether any pool flag was given.
    fn given(&self) -> bool {
        let c = &self.cluster;
        !c.cluster.is_empty()
            || c.pool.is_some()
            || c.cluster_ca.is_some()
            || c.cluster_cert.is_some()
            || self.node_name.is_some()
            || self.cluster_lease.is_some()
            || self.placement.is_some()
    }
}

/// The pool the server joins: the flags over the file's `cluster:`; None: a lone server.
pub(crate) fn cluster_options(
    args: &NodeArgs,
    file: &ClusterConfig,
) -> Result<Option<ClusterOptions>> {
    let urls = urls(&args.cluster, file);
    if urls.is_empty() {
        if args.given() {
            bail!(
                "the pool flags (--node-name, --pool, --cluster-*, --placement) need --cluster \
                 URL (or cluster.urls in the config file): the etcd that holds the pool"
            );
        }
        return Ok(None);
    }
    let placement = match (args.placement, &file.placement) {
        (Some(placement), _) => placement,
        (None, Some(name)) => Placement::from_str(name, true).map_err(anyhow::Error::msg)?,
        (None, None) => Placement::default(),
    };
    Ok(Some(ClusterOptions {
        tls: tls(&args.cluster, file, &urls)?,
        pool: pool(&args.cluster, file),
        node: node_name(args.node_name.as_ref(), file)?,
        lease: (args.cluster_lease.or(file.lease_secs)).map_or(DEFAULT_LEASE, Duration::from_secs),
        placement,
        urls,
    }))
}

fn urls(args: &ClusterArgs, file: &ClusterConfig) -> Vec<String> {
    let given = match args.cluster.is_empty() {
        true => &file.urls,
        false => &args.cluster,
    };
    given.iter().map(|u| u.as_str().to_string()).collect()
}

fn pool(args: &ClusterArgs, file: &ClusterConfig) -> String {
    let pool = args.pool.as_ref().or(file.pool.as_ref());
    pool.map_or(DEFAULT_POOL, PoolName::as_str).to_string()
}

/// The node's name: given, or the file's, or the host's.
fn node_name(given: Option<&PoolName>, file: &ClusterConfig) -> Result<String> {
    if let Some(name) = given.or(file.node_name.as_ref()) {
        return Ok(name.as_str().to_string());
    }
    let host = gethostname::gethostname().into_string().unwrap_or_default();
    let host = host.split('.').next().unwrap_or_default();
    let name: PoolName = host.parse().map_err(|e| {
        anyhow::anyhow!("this host's name {host:?} cannot name a node ({e}): give --node-name")
    })?;
    Ok(name.as_str().to_string())
}

/// TLS to etcd: for https:// URLs, with the CA and client certificate given.
fn tls(args: &ClusterArgs, file: &ClusterConfig, urls: &[String]) -> Result<Option<EtcdTls>> {
    let ca = args.cluster_ca.clone().or(file.ca.clone());
    let identity = match (&args.cluster_cert, &args.cluster_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => file.cert.clone().zip(file.key.clone()),
    };
    let https = urls.iter().filter(|u| u.starts_with("https://")).count();
    match (https, ca.is_some() || identity.is_some()) {
        (0, false) => Ok(None),
        (0, true) => bail!(
            "--cluster-ca and --cluster-cert are for etcd over TLS: give https:// URLs to \
             --cluster"
        ),
        (n, _) if n < urls.len() => bail!(
            "--cluster mixes http:// and https:// URLs: an etcd cluster speaks one or the other"
        ),
        _ => Ok(Some(EtcdTls { ca, identity })),
    }
}

/// `scistream server drain`: marks the node in etcd, and says what it means.
pub(crate) async fn run_drain(global: &GlobalArgs, args: DrainArgs) -> Result<()> {
    let path = paths::config_file(global.config.as_deref());
    let file = config::file::load(&path)?.cluster;
    let urls = urls(&args.cluster, &file);
    if urls.is_empty() {
        bail!(
            "drain needs --cluster URL (or cluster.urls in {}): the etcd that holds the pool",
            path.display()
        );
    }
    let pool = pool(&args.cluster, &file);
    let node = node_name(args.node.as_ref(), &file)?;
    let etcd = ClusterOptions {
        tls: tls(&args.cluster, &file, &urls)?,
        pool: pool.clone(),
        node: node.clone(),
        lease: DEFAULT_LEASE,
        placement: Placement::default(),
        urls,
    }
    .etcd()?;
    let drained = drain(&etcd, &Keys::new(&pool), &node, args.undo)
        .await
        .with_context(|| format!("could not mark node {node} of pool {pool}"))?;
    let running = match drained.live {
        true => "",
        false => " (it is not running now)",
    };
    match args.undo {
        false => println!(
            "Node {node} of pool {pool} drains{running}: no new session is placed on it; its \
             {} sessions run on until released. Undo with: scistream server drain --undo {node}",
            drained.sessions
        ),
        true => println!("Node {node} of pool {pool} takes new sessions again{running}"),
    }
    Ok(())
}
