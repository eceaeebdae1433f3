//! `--metrics ADDR`: the server's counters, served in the Prometheus text format on `/metrics`.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Code;

use super::sessions::Sessions;
use crate::auth::Introspector;
use crate::prometheus::{self, Exposition};
use crate::relay::{Capacity, Rejection};

/// The RPC names a request can be counted under; anything else is "unknown", so a client
/// cannot grow the label set.
const RPCS: [&str; 8] = [
    "req",
    "hello",
    "update",
    "release",
    "list",
    "status",
    "hop",
    "update_hop",
];

/// Counters the control service and the authorize filter feed.
#[derive(Default)]
pub struct Metrics {
    /// (rpc, status code) -> calls.
    requests: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// reason -> refused calls.
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn record_call(&self, rpc: &'static str, code: Code) {
        *lock(&self.requests)
            .entry((rpc, code_name(code)))
            .or_default() += 1;
    }

    pub fn record_auth_failure(&self, reason: &'static str) {
        *lock(&self.auth_failures).entry(reason).or_default() += 1;
    }
}

/// The RPC a gRPC path (`/scistream.Control/req`) names.
pub fn rpc_of(path: &str) -> &'static str {
    let method = path.rsplit('/').next().unwrap_or_default();
    RPCS.into_iter()
        .find(|rpc| *rpc == method)
        .unwrap_or("unknown")
}

/// gRPC's own spelling of the codes (`OK`, `InvalidArgument`...), as other exporters label them.
fn code_name(code: Code) -> String {
    match code {
        Code::Ok => "OK".into(),
        other => format!("{other:?}"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay meaningful even if a panic interrupted an increment.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything one scrape reads.
#[derive(Clone)]
pub struct Source {
    pub metrics: Arc<Metrics>,
    pub sessions: Arc<Sessions>,
    pub introspector: Option<Arc<Introspector>>,
    pub capacity: Arc<Capacity>,
}

impl Source {
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        self.render_sessions(&mut out);
        self.render_capacity(&mut out);
        self.render_calls(&mut out);
        if let Some(introspector) = &self.introspector {
            out.histogram(
                "scistream_introspection_duration_seconds",
                "Time of each token introspection call to the auth server.",
                introspector.latency(),
            );
        }
        out.finish()
    }

    fn render_sessions(&self, out: &mut Exposition) {
        let totals = self.sessions.totals();
        let relay = totals.relay;
        out.family("scistream_sessions", "gauge", "Sessions in the table.")
            .sample(
                "scistream_sessions",
                &[("role", "PROD")],
                totals.prod_sessions,
            )
            .sample(
                "scistream_sessions",
                &[("role", "CONS")],
                totals.cons_sessions,
            )
            .family("scistream_listeners", "gauge", "Bound data listeners.")
            .sample("scistream_listeners", &[], totals.listeners)
            .family(
                "scistream_early_hellos",
                "gauge",
                "Hellos waiting for their req.",
            )
            .sample("scistream_early_hellos", &[], totals.early_hellos)
            .family(
                "scistream_connections_active",
                "gauge",
                "Relayed connections open now.",
            )
            .sample(
                "scistream_connections_active",
                &[],
                relay.connections_active,
            )
            .family(
                "scistream_connections_total",
                "counter",
                "Relayed connections accepted.",
            )
            .sample("scistream_connections_total", &[], relay.connections_total)
            .family(
                "scistream_relayed_bytes_total",
                "counter",
                "Bytes relayed, to the targets and back from them.",
            )
            .sample(
                "scistream_relayed_bytes_total",
                &[("direction", "to_target")],
                relay.bytes_to_target,
            )
            .sample(
                "scistream_relayed_bytes_total",
                &[("direction", "from_target")],
                relay.bytes_from_target,
            );
    }

    fn render_capacity(&self, out: &mut Exposition) {
        let limit = self.capacity.limits().max_connections;
        out.family(
            "scistream_connections_limit",
            "gauge",
            "Relayed connections the server holds at once (--max-connections).",
        )
        .sample("scistream_connections_limit", &[], limit)
        .family(
            "scistream_connections_rejected_total",
            "counter",
            "Connections reset as soon as accepted, by reason: connection_limit, fd_limit.",
        );
        for reason in Rejection::ALL {
            out.sample(
                "scistream_connections_rejected_total",
                &[("reason", reason.as_str())],
                self.capacity.rejected(reason),
            );
        }
        out.family(
            "scistream_hop_rejected_total",
            "counter",
            "Connections to encrypted PROD listeners refused: no TLS, or not the session's secret.",
        )
        .sample(
            "scistream_hop_rejected_total",
            &[],
            self.capacity.hop_rejections(),
        );
    }

    fn render_calls(&self, out: &mut Exposition) {
        out.family(
            "scistream_requests_total",
            "counter",
            "Control calls answered, by RPC and gRPC status code.",
        );
        for ((rpc, code), calls) in lock(&self.metrics.requests).iter() {
            out.sample(
                "scistream_requests_total",
                &[("rpc", rpc), ("code", code)],
                calls,
            );
        }
        out.family(
            "scistream_auth_failures_total",
            "counter",
            "Calls refused by the token check, by reason.",
        );
        for (reason, calls) in lock(&self.metrics.auth_failures).iter() {
            out.sample(
                "scistream_auth_failures_total",
                &[("reason", reason)],
                calls,
            );
        }
    }
}

/// The running `/metrics` endpoint; it stops when this is dropped, so it never outlives the
/// server, however the server stops.
pub struct Endpoint(JoinHandle<std::io::Result<()>>);

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `GET /metrics` on `listener`.
pub fn spawn(listener: TcpListener, source: Source) -> Endpoint {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = source.render();
            async move { ([(CONTENT_TYPE, prometheus::CONTENT_TYPE)], body) }
        }),
    );
    Endpoint(tokio::spawn(axum::serve(listener, app).into_future()))
}
