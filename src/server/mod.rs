//! S2CS, the control server: a gRPC `Control` service over the session table.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests run servers on
//! port 0 in-process and `scistream server` passes the real port and SIGINT/SIGTERM.
//!
//! A call passes, in order: [`connections`] (its connection's caps and idle clock), [`replies`]
//! (every reply counted once, and marked when authentication is off), [`authorize`] (the
//! token), then [`service`], which builds its [`call::Call`] and runs the handler of
//! [`control`] named after the RPC over the session table ([`sessions`]).

mod authorize;
mod bandwidth;
mod call;
mod connections;
mod control;
mod error;
mod lifetimes;
mod metrics;
mod peer;
mod pool;
mod ports;
mod quotas;
mod replies;
mod rpc;
mod service;
mod sessions;
mod startup;
mod table;
mod throttle;
mod upgrade;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tonic::transport::ServerTlsConfig;

pub use authorize::{token_from_headers, Access};
pub use bandwidth::{RateOptions, RatePolicy};
pub use connections::ConnectionLimits;
pub use lifetimes::Lifetimes;
pub use quotas::{Quota, Quotas};
pub(crate) use sessions::Sessions;
pub(crate) use startup::{access, admin_identities, certificate_names};
use table::Table;

use crate::cluster::ClusterOptions;
use crate::handover::Successor;
use crate::limits::{MAX_REPLY_BYTES, MAX_REQUEST_BYTES};
use crate::pb::control_server::ControlServer;
use crate::relay::{Capacity, Limits, Shares, TargetPolicy};
use crate::store::Store;

/// How long in-flight calls get to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often the server pings a quiet HTTP/2 connection, and how long it waits for the answer
/// before closing it: a client that vanished (a `req` waiting for its hello included) is noticed
/// without waiting for TCP to give up.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Calls one connection may have in progress at once (further calls wait in the client). Each
/// costs some kilobytes of HTTP/2 and gRPC state, and h2 closes a connection on which too many
/// small frames wait unread: a burst of thousands of calls on one connection would do both.
const MAX_CALLS_PER_CONNECTION: u32 = 128;

pub struct ServerOptions {
    /// The address data listeners bind to and advertise.
    pub listener_ip: IpAddr,
    pub port_range: RangeInclusive<u16>,
    pub hello_timeout: Duration,
    /// The most listeners one req may ask for.
    pub max_conn: usize,
    /// None: plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// Checks every call's token and applies the access policy (which also names the admin
    /// identities and groups, who see and release every session); None: authentication is off
    /// and every call is accepted. `/metrics` shows the latency histogram [`access`] gives its
    /// introspector.
    pub auth: Option<Access>,
    /// Where to serve Prometheus metrics on `/metrics`; None: nowhere.
    pub metrics: Option<TcpListener>,

    /// The networks sessions may relay to (`--allow-targets`); empty: any.
    pub allow_targets: Vec<ipnet::IpNet>,
    /// What the data plane may hold at once, over all sessions (from the fd budget).
    pub relay_limits: Limits,
    /// How much of it one source or session may take, and the relay's idle timeout.
    pub relay_shares: Shares,
    /// Caps on open control connections and their idle timeout.
    pub connections: ConnectionLimits,
    /// What `Request.rate` means here (`--rate-policy`, `--bandwidth`).
    pub rates: RateOptions,
    /// Who may connect to the listeners of sessions that name no networks of their own
    /// (`--listener-allow-from`); empty: anyone.
    pub listener_allow_from: Vec<ipnet::IpNet>,
    /// What one identity (one client network with authentication off) may hold at once.
    pub quotas: Quotas,
    /// How long sessions live, and may sit unused, before the server releases them.
    pub lifetimes: Lifetimes,
    /// Where the session store lives (`--state-dir`): sessions there come back at start.
    pub state_dir: PathBuf,
    /// Start empty, dropping the stored sessions (`--forget-sessions`).
    pub forget_sessions: bool,
    /// The pool of gateways whose registry in etcd holds the sessions instead of the store
    /// (`--cluster`); None: a lone server.
    pub cluster: Option<ClusterOptions>,
}

/// Serves the control service on `listener` until `shutdown` completes, then stops every
/// session's relay (closing its listeners and connections). Sessions stay in the store in
/// `state_dir`, and the next start takes them back. [`start`] then [`Ready::serve`], in one.
pub async fn serve(
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    start(listener, options).await?.serve(shutdown).await
}

/// How long a server that handed its sessions over lets its encrypted connections drain, by
/// default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// What a server does in a live upgrade.
pub(crate) struct Upgrades {
    /// What SIGHUP starts to take over; None: SIGHUP is not handled.
    pub(crate) successor: Option<Successor>,
    /// How long, after handing over, the connections that stay (the encrypted ones) may run.
    pub(crate) drain_timeout: Duration,
}

impl Default for Upgrades {
    fn default() -> Self {
        Upgrades {
            successor: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// A server whose stored sessions are back, relaying, before it takes its first call.
pub struct Ready {
    listener: TcpListener,
    options: ServerOptions,
    metrics: Arc<metrics::Metrics>,
    policy: Arc<TargetPolicy>,
    capacity: Arc<Capacity>,
    /// The session table the calls work on: `lone`'s sessions, or the pool's.
    table: Table,
    /// A lone server's sessions, store and live upgrades; None on a node of a pool.
    lone: Option<Lone>,
    upgrades: Upgrades,
}

/// What only a lone server has: its own sessions, their store, and the doors through which a
/// new process takes them over.
struct Lone {
    sessions: Arc<Sessions>,
    store: Store,
    doors: upgrade::Doors,
}

/// Opens the session store and takes its sessions back: a server that says it started has
/// them listening again.
pub async fn start(listener: TcpListener, options: ServerOptions) -> Result<Ready> {
    if let Some(cluster) = options.cluster.clone() {
        return Ready::join(listener, options, cluster).await;
    }
    let (store, stored) = Store::open(&options.state_dir, options.forget_sessions)?;
    let (ready, sessions) = Ready::new(listener, options, store);
    let restored = sessions.restore(stored).await?;
    ready.metrics.record_restored(&restored);
    tracing::info!(event = "restored", sessions = restored.sessions,
        lost_listeners = restored.lost_listeners, released = restored.released,
        state_dir = %ready.options.state_dir.display(), "sessions taken back from the store");
    Ok(ready)
}

/// Takes over from the server running with the same `--state-dir`, through its handover
/// socket `socket`: its control and metrics listeners (`options.metrics` must be None; when
/// it had none, `metrics` is bound), its sessions, their listeners and plain connections,
/// which relay on from where they stood. A failure leaves that server serving.
pub(crate) async fn take_over(
    socket: &Path,
    mut options: ServerOptions,
    metrics: Option<SocketAddr>,
) -> Result<Ready> {
    if options.cluster.is_some() {
        anyhow::bail!(
            "--take-over is not available on a node of a pool (--cluster) yet: stop the node \
             and start it again; its sessions wait in etcd, and it takes its listeners back"
        );
    }
    let adoption = upgrade::take_over(socket, &options.state_dir).await?;
    options.metrics = match (adoption.metrics, metrics) {
        (Some(handed), _) => Some(handed),
        (None, Some(addr)) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("could not listen on --metrics {addr}: pick another address or port")
        })?),
        (None, None) => None,
    };
    let (ready, adopted) = Ready::new(adoption.control, options, adoption.store);
    let sessions = adoption.sessions.len();
    let connections = adopted.adopt(adoption.sessions);
    ready.metrics.record_taken_over(adoption.handovers);
    tracing::info!(event = "took_over", sessions, connections,
        state_dir = %ready.options.state_dir.display(), "sessions and connections taken over from the previous process");
    Ok(ready)
}

/// The policy on relay targets (which never include this server's own services) and the
/// data plane's capacity of a server on `listener`.
fn policy_and_capacity(
    listener: &TcpListener,
    options: &ServerOptions,
) -> (Arc<TargetPolicy>, Arc<Capacity>) {
    let services = [Some(listener), options.metrics.as_ref()];
    let services = services
        .into_iter()
        .flatten()
        .filter_map(|l| l.local_addr().ok());
    let allowed = options.allow_targets.clone();
    let policy = Arc::new(TargetPolicy::new(allowed, services.collect()));
    let capacity = Capacity::shared(options.relay_limits, options.relay_shares);
    (policy, capacity)
}

impl Ready {
    /// A node of a pool: joined, its share of the pool's sessions relaying again.
    async fn join(
        listener: TcpListener,
        options: ServerOptions,
        cluster: ClusterOptions,
    ) -> Result<Ready> {
        let (policy, capacity) = policy_and_capacity(&listener, &options);
        let setup = pool::PoolSetup {
            cluster,
            listener_ip: options.listener_ip,
            port_range: options.port_range.clone(),
            control: listener.local_addr()?,
            hello_timeout: options.hello_timeout,
            rates: options.rates,
            listener_allow_from: options.listener_allow_from.clone(),
            policy: policy.clone(),
            capacity: capacity.clone(),
            quotas: options.quotas.clone(),
            lifetimes: options.lifetimes,
        };
        let table = Table::Pool(pool::Pool::join(setup).await?);
        Ok(Ready {
            listener,
            options,
            metrics: Arc::new(metrics::Metrics::default()),
            policy,
            capacity,
            table,
            lone: None,
            upgrades: Upgrades::default(),
        })
    }

    /// A lone server with its store, and its sessions (to restore or adopt).
    fn new(listener: TcpListener, options: ServerOptions, store: Store) -> (Ready, Arc<Sessions>) {
        let doors = upgrade::Doors::open(&options.state_dir);
        let (policy, capacity) = policy_and_capacity(&listener, &options);
        let sessions = Sessions::new(
            options.listener_ip,
            options.port_range.clone(),
            options.hello_timeout,
            policy.clone(),
            capacity.clone(),
            store.clone(),
        );
        let sessions = sessions
            .with_terms(options.rates, options.listener_allow_from.clone())
            .with_fair_shares(options.quotas.clone(), options.lifetimes);
        let sessions = Arc::new(sessions);
        let lone = Lone {
            sessions: sessions.clone(),
            store,
            doors,
        };
        let ready = Ready {
            listener,
            options,
            metrics: Arc::new(metrics::Metrics::default()),
            policy,
            capacity,
            table: Table::Local(sessions.clone()),
            lone: Some(lone),
            upgrades: Upgrades::default(),
        };
        (ready, sessions)
    }

    /// How this server takes part in live upgrades.
    pub(crate) fn with_upgrades(mut self, upgrades: Upgrades) -> Ready {
        match (&mut self.lone, &upgrades.successor) {
            (Some(lone), Some(_)) => lone.doors.hear_reloads(),
            (None, _) => refuse_reloads(),
            (Some(_), None) => {}
        }
        self.upgrades = upgrades;
        self
    }

    /// Where the control service listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.options
            .metrics
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }
}

impl Ready {
    /// Serves until `shutdown` completes (see [`serve`]), or until a new process has taken
    /// over through the handover socket in the state directory: then it stops taking calls,
    /// lets the connections that stayed (the encrypted ones) drain, up to the drain timeout,
    /// and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Ready {
            listener,
            options,
            metrics,
            policy,
            capacity,
            table,
            lone,
            upgrades,
        } = self;
        let _expiring = table.expire_in_background();
        let service = service::Service {
            control: control::Control {
                sessions: table.clone(),
                max_conn: options.max_conn,
                policy,
            },
        };
        let source = metrics::Source {
            metrics: metrics.clone(),
            sessions: table.clone(),
            capacity,
            introspection_latency: (options.auth.as_ref())
                .and_then(|a| a.introspector.latency().cloned()),
        };
        let (accepting, gate) = tokio::sync::watch::channel(true);
        // A pool's node takes no live upgrade: its gate stays open.
        let (handovers, lone, _open) = match lone {
            Some(Lone {
                sessions,
                store,
                doors,
            }) => {
                let handovers = upgrade::Handovers {
                    state_dir: options.state_dir.clone(),
                    sessions: sessions.clone(),
                    store: store.clone(),
                    metrics: metrics.clone(),
                    accepting,
                    control: listener.as_raw_fd(),
                    metrics_listener: options.metrics.as_ref().map(AsRawFd::as_raw_fd),
                    successor: upgrades.successor,
                    doors,
                };
                (Some(handovers), Some((sessions, store)), None)
            }
            None => (None, None, Some(accepting)),
        };
        let handed = async {
            match handovers {
                Some(handovers) => handovers.run().await,
                None => std::future::pending().await,
            }
        };
        let endpoint = options
            .metrics
            .map(|listener| metrics::spawn(listener, source));
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .max_concurrent_streams(MAX_CALLS_PER_CONNECTION);
        if let Some(tls) = options.tls {
            builder = builder.tls_config(tls).context("could not configure TLS")?;
        }
        // Sessions are released before the server drains its calls: a req still waiting for its
        // hello then ends at once instead of holding shutdown for the whole hello timeout.
        let stopping = tokio::sync::Notify::new();
        let handed_over = std::sync::atomic::AtomicBool::new(false);
        let stop = async {
            tokio::select! {
                () = shutdown => stop_relays(&table).await,
                () = handed => {
                    handed_over.store(true, std::sync::atomic::Ordering::Relaxed);
                    // The next process serves /metrics now.
                    drop(endpoint);
                }
            }
            stopping.notify_one();
        };
        // A client that keeps its connection open must not hold the server up forever.
        let drained_or_late = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::warn!("clients still connected after {SHUTDOWN_GRACE:?}: stopping anyway");
        };
        let incoming = connections::incoming(listener, options.connections, gate);
        let auth_off = options.auth.is_none();
        let replies_metrics = metrics.clone();
        let server = builder
            .layer(tower::layer::layer_fn(connections::TrackCalls))
            .layer(tower::layer::layer_fn(move |inner| replies::Replies {
                inner,
                metrics: replies_metrics.clone(),
                auth_off,
            }))
            .layer(tower::filter::AsyncFilterLayer::new(
                authorize::Authorize::new(options.auth.map(Arc::new), metrics),
            ))
            .add_service(
                ControlServer::new(service)
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_REPLY_BYTES),
            )
            .serve_with_incoming_shutdown(incoming, stop);
        let served = tokio::select! {
            served = server => served.context("control server failed"),
            () = drained_or_late => Ok(()),
        };
        if let Some((sessions, store)) = lone {
            if handed_over.load(std::sync::atomic::Ordering::Relaxed) {
                let draining = sessions.drain(upgrades.drain_timeout).await;
                tracing::info!(
                    draining,
                    "handed over: the connections that stayed here have ended; exiting"
                );
            }
            // Written out and let go of, so that the next process can open it at once.
            store.close();
        }
        served
    }
}

/// A node of a pool takes no live upgrade: a SIGHUP (systemd's reload) is logged and does not
/// end it.
fn refuse_reloads() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => drop(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::warn!(
                    "reload (SIGHUP) ignored: a node of a pool takes no live upgrade yet; \
                     restart it instead, and it takes its listeners back from etcd"
                );
            }
        })),
        Err(e) => tracing::warn!("could not handle SIGHUP ({e}): a reload would stop this node"),
    }
}

/// Stops every session's relay at shutdown; the sessions stay stored.
async fn stop_relays(sessions: &Table) {
    match sessions.stop_all().await {
        Ok(stopped) => tracing::info!(stopped,
            "shutting down: every session's relay stopped; the sessions stay stored for the next start"),
        Err(e) => tracing::error!("shutting down: the sessions' last counters were not stored: {e}"),
    }
}
