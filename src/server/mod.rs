//! S2CS, the control server: a gRPC `Control` service over the session table.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests run servers on
//! port 0 in-process and `scistream server` passes the real port and SIGINT/SIGTERM.

mod authorize;
mod control;
mod error;
mod metrics;
mod peer;
mod ports;
mod sessions;

use std::future::Future;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::ServerTlsConfig;

pub use error::Error;
pub use sessions::{Sessions, Totals};

use crate::auth::Introspector;
use crate::pb::control_server::ControlServer;
use crate::relay::{Capacity, Limits};

/// How long in-flight calls get to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub struct ServerOptions {
    /// The address data listeners bind to and advertise.
    pub listener_ip: IpAddr,
    pub port_range: RangeInclusive<u16>,
    pub hello_timeout: Duration,
    /// The most listeners one req may ask for.
    pub max_conn: usize,
    /// None: plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// Checks every call's token; None: authentication is off and every call is accepted.
    pub auth: Option<Arc<Introspector>>,
    /// Where to serve Prometheus metrics on `/metrics`; None: nowhere.
    pub metrics: Option<TcpListener>,

    /// Identities (token `sub`s) that see and release every session, not only their own.
    pub admin_identities: Vec<String>,
    /// What the data plane may hold at once, over all sessions (from the fd budget).
    pub relay_limits: Limits,
}

/// Serves the control service on `listener` until `shutdown` completes, then releases every
/// session (closing its listeners and connections).
pub async fn serve(
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let capacity = Capacity::new(options.relay_limits);
    let sessions = Arc::new(Sessions::new(
        options.listener_ip,
        options.port_range,
        options.hello_timeout,
        capacity.clone(),
    ));
    let metrics = Arc::new(metrics::Metrics::default());
    let control = control::Control {
        sessions: sessions.clone(),
        max_conn: options.max_conn,
        metrics: metrics.clone(),
        admins: options.admin_identities.into_iter().collect(),
    };
    let source = metrics::Source {
        metrics: metrics.clone(),
        sessions: sessions.clone(),
        introspector: options.auth.clone(),
        capacity,
    };
    let _endpoint = options
        .metrics
        .map(|listener| metrics::spawn(listener, source));
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = options.tls {
        builder = builder.tls_config(tls).context("could not configure TLS")?;
    }
    // Sessions are released before the server drains its calls: a req still waiting for its
    // hello then ends at once instead of holding shutdown for the whole hello timeout.
    let stopping = tokio::sync::Notify::new();
    let stop = async {
        shutdown.await;
        let released = sessions.release_all().await;
        tracing::info!(released, "shutting down: released every session");
        stopping.notify_one();
    };
    // A client that keeps its connection open must not hold the server up forever.
    let drained_or_late = async {
        stopping.notified().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        tracing::warn!("clients still connected after {SHUTDOWN_GRACE:?}: stopping anyway");
    };
    // Small control messages must not wait for delayed ACKs (Nagle).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = builder
        .layer(tower::filter::AsyncFilterLayer::new(authorize::Authorize {
            introspector: options.auth,
            metrics,
        }))
        .add_service(ControlServer::new(control))
        .serve_with_incoming_shutdown(incoming, stop);
    tokio::select! {
        served = server => served.context("control server failed"),
        () = drained_or_late => Ok(()),
    }
}
