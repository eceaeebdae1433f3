//! `--metrics ADDR`: the server's metrics, served in the OpenMetrics text format on `/metrics`.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{text, DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Code;

use super::rpc::{self, Rpc};
use super::sessions::Restored;
use super::table::Table;
use crate::relay::{Capacity, Rejection};
use crate::session::Expiry;

/// What `/metrics` answers with (Prometheus asks for it and reads it).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets (seconds) of the introspection latency: an HTTPS round trip to the auth server.
const INTROSPECTION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram for the introspector to time its calls to the auth server in
/// (`Introspector::with_latency`); `/metrics` shows the one the server's introspector has.
pub(crate) fn introspection_latency() -> Histogram {
    Histogram::new(INTROSPECTION_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    rpc: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthFailure {
    reason: &'static str,
}

/// Counters the control service and the authorize filter feed.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: Family<Call, Counter>,
    auth_failures: Family<AuthFailure, Counter>,
    restored: Counter,
    listeners_lost: Counter,
    handovers: Counter,
    handovers_failed: Counter,
}

impl Metrics {
    /// Counts a call to `rpc` (None: its path names no RPC) that ended with `code`.
    pub(crate) fn record_call(&self, rpc: Option<Rpc>, code: Code) {
        let call = Call {
            rpc: rpc::label(rpc),
            code: code_name(code),
        };
        self.requests.get_or_create(&call).inc();
    }

    /// How many calls to `rpc` ended with `code` so far.
    #[cfg(test)]
    pub(crate) fn calls_counted(&self, rpc: Option<Rpc>, code: Code) -> u64 {
        let call = Call {
            rpc: rpc::label(rpc),
            code: code_name(code),
        };
        self.requests.get_or_create(&call).get()
    }

    /// Counts what a start took back from the session store.
    pub(crate) fn record_restored(&self, restored: &Restored) {
        self.restored.inc_by(restored.sessions as u64);
        self.listeners_lost.inc_by(restored.lost_listeners as u64);
    }

    /// Counts the handovers that brought this process its sessions: the previous process's
    /// `before`, and the one that brought them here.
    pub(crate) fn record_taken_over(&self, before: u64) {
        self.handovers.inc_by(before + 1);
    }

    /// Handovers this process completed so far (the next process counts on from them).
    pub(crate) fn handovers(&self) -> u64 {
        self.handovers.get()
    }

    pub(crate) fn record_handover_failed(&self) {
        self.handovers_failed.inc();
    }

    pub(crate) fn record_auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&AuthFailure { reason })
            .inc();
    }
}

/// gRPC's own spelling of the codes (`OK`, `InvalidArgument`...), as other exporters label them.
fn code_name(code: Code) -> String {
    match code {
        Code::Ok => "OK".into(),
        other => format!("{other:?}"),
    }
}

/// Everything `/metrics` shows.
pub(crate) struct Source {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) sessions: Table,
    pub(crate) capacity: Arc<Capacity>,
    /// The introspector's histogram; None: authentication is off.
    pub(crate) introspection_latency: Option<Histogram>,
}

impl Source {
    /// The metrics kept as they happen, and the tables' state, read at each scrape. (The
    /// registry adds the `_total` of counters, and a period to each help.)
    fn registry(self) -> Registry {
        let mut registry = Registry::default();
        registry.register(
            "scistream_requests",
            "Control calls answered, by RPC and gRPC status code",
            self.metrics.requests.clone(),
        );
        registry.register(
            "scistream_auth_failures",
            "Calls refused by the token check, by reason",
            self.metrics.auth_failures.clone(),
        );
        registry.register(
            "scistream_sessions_restored",
            "Sessions taken back from the session store at start",
            self.metrics.restored.clone(),
        );
        registry.register(
            "scistream_listeners_lost",
            "Listeners of restored sessions that could not be bound again",
            self.metrics.listeners_lost.clone(),
        );
        registry.register(
            "scistream_handovers",
            "Live upgrades that handed this gateway's sessions to a new process, counted on \
             from process to process",
            self.metrics.handovers.clone(),
        );
        registry.register(
            "scistream_handovers_failed",
            "Live upgrades that failed, after which this process went on serving",
            self.metrics.handovers_failed.clone(),
        );
        if let Some(latency) = self.introspection_latency {
            registry.register(
                "scistream_introspection_duration_seconds",
                "Time of each token introspection call to the auth server",
                latency,
            );
        }
        registry.register_collector(Box::new(Tables {
            sessions: self.sessions,
            capacity: self.capacity,
        }));
        registry
    }
}

/// The session table and the relay's capacity, read at each scrape.
struct Tables {
    sessions: Table,
    capacity: Arc<Capacity>,
}

/// A collector must be `Debug`; the tables are too large to print.
impl fmt::Debug for Tables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tables").finish_non_exhaustive()
    }
}

impl Collector for Tables {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let totals = self.sessions.totals();
        let relay = totals.relay;
        let capacity = &self.capacity;
        family(
            &mut out,
            "scistream_sessions",
            "Sessions in the table.",
            "role",
            [
                ("PROD", totals.prod_sessions),
                ("CONS", totals.cons_sessions),
            ]
            .map(|(role, n)| (role, ConstGauge::new(n))),
        )?;
        one(
            &mut out,
            "scistream_listeners",
            "Bound data listeners.",
            ConstGauge::new(totals.listeners),
        )?;
        family(
            &mut out,
            "scistream_sessions_expired",
            "Sessions the server released because their time was up, by reason: lifetime, idle_timeout, update_timeout.",
            "reason",
            Expiry::ALL.map(|by| (by.as_str(), ConstCounter::new(totals.expired[by as usize]))),
        )?;
        one(
            &mut out,
            "scistream_early_hellos",
            "Hellos waiting for their req.",
            ConstGauge::new(totals.early_hellos),
        )?;
        one(
            &mut out,
            "scistream_connections_active",
            "Relayed connections open now.",
            ConstGauge::new(relay.connections_active),
        )?;
        one(
            &mut out,
            "scistream_connections",
            "Relayed connections accepted.",
            ConstCounter::new(relay.connections_total),
        )?;
        family(
            &mut out,
            "scistream_relayed_bytes",
            "Bytes relayed, to the targets and back from them.",
            "direction",
            [
                ("to_target", relay.bytes_to_target),
                ("from_target", relay.bytes_from_target),
            ]
            .map(|(direction, n)| (direction, ConstCounter::new(n))),
        )?;
        one(
            &mut out,
            "scistream_connections_limit",
            "Relayed connections the server holds at once (--max-connections).",
            ConstGauge::new(capacity.limits().max_connections),
        )?;
        family(
            &mut out,
            "scistream_connections_rejected",
            "Connections reset as soon as accepted (at encrypted PROD listeners: as soon as proven), by reason: connection_limit, fd_limit, source, source_limit, session_limit, session_rate, proving_limit, quota.",
            "reason",
            Rejection::ALL.map(|reason| {
                (
                    reason.as_str(),
                    ConstCounter::new(capacity.rejected(reason)),
                )
            }),
        )?;
        one(
            &mut out,
            "scistream_hop_rejected",
            "Connections to encrypted PROD listeners refused: no TLS, or not the session's secret.",
            ConstCounter::new(capacity.hop_rejections()),
        )?;
        one(
            &mut out,
            "scistream_connections_idle_closed",
            "Relayed connections reset for moving no data for --relay-idle-timeout.",
            ConstCounter::new(capacity.idle_closures()),
        )
    }
}

/// A metric with one sample and no labels.
fn one<M: EncodeMetric + TypedMetric>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: M,
) -> fmt::Result {
    metric.encode(out.encode_descriptor(name, help, None, M::TYPE)?)
}

/// A metric with one sample per value of one label.
fn family<M: EncodeMetric + TypedMetric, const N: usize>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: [(&str, M); N],
) -> fmt::Result {
    let mut encoder = out.encode_descriptor(name, help, None, M::TYPE)?;
    for (value, metric) in samples {
        metric.encode(encoder.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

fn render(registry: &Registry) -> String {
    let mut body = String::new();
    text::encode(&mut body, registry).expect("a String takes any text");
    body
}

/// The running `/metrics` endpoint; it stops when this is dropped, so it never outlives the
/// server, however the server stops.
pub(crate) struct Endpoint(JoinHandle<std::io::Result<()>>);

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `GET /metrics` on `listener`.
pub(crate) fn spawn(listener: TcpListener, source: Source) -> Endpoint {
    let registry = Arc::new(source.registry());
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = render(&registry);
            async move { ([(CONTENT_TYPE, OPENMETRICS)], body) }
        }),
    );
    Endpoint(tokio::spawn(axum::serve(listener, app).into_future()))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::relay::{Limits, TargetPolicy};

    fn source(introspection_latency: Option<Histogram>) -> Source {
        let capacity = Capacity::new(Limits {
            max_connections: 7,
            max_pipes: 2,
            connect_timeout: Duration::from_secs(1),
        });
        let sessions = crate::server::Sessions::new(
            Ipv4Addr::LOCALHOST.into(),
            1..=1,
            Duration::from_secs(30),
            TargetPolicy::anywhere(),
            capacity.clone(),
            crate::store::Store::in_memory(),
        );
        Source {
            metrics: Arc::default(),
            sessions: Table::Local(Arc::new(sessions)),
            capacity,
            introspection_latency,
        }
    }

    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(
                text.lines().any(|l| l == *line),
                "{line:?} missing in\n{text}"
            );
        }
    }

    #[test]
    fn counters_gauges_and_labels_keep_their_names() {
        let source = source(None);
        source.metrics.record_call(Some(Rpc::UpdateHop), Code::Ok);
        source.metrics.record_call(None, Code::Unauthenticated);
        source.metrics.record_auth_failure("missing_token");
        let text = render(&source.registry());
        assert_lines(
            &text,
            &[
                "# TYPE scistream_requests counter",
                "scistream_requests_total{rpc=\"update_hop\",code=\"OK\"} 1",
                "scistream_requests_total{rpc=\"unknown\",code=\"Unauthenticated\"} 1",
                "scistream_auth_failures_total{reason=\"missing_token\"} 1",
                "scistream_sessions{role=\"PROD\"} 0",
                "scistream_sessions{role=\"CONS\"} 0",
                "scistream_connections_total 0",
                "scistream_connections_limit 7",
                "scistream_relayed_bytes_total{direction=\"from_target\"} 0",
                "scistream_connections_rejected_total{reason=\"fd_limit\"} 0",
                "scistream_connections_rejected_total{reason=\"source_limit\"} 0",
                "scistream_connections_rejected_total{reason=\"proving_limit\"} 0",
                "scistream_connections_rejected_total{reason=\"quota\"} 0",
                "scistream_sessions_expired_total{reason=\"idle_timeout\"} 0",
                "scistream_hop_rejected_total 0",
                "scistream_connections_idle_closed_total 0",
            ],
        );
        assert!(!text.contains("introspection"), "{text}");
        assert!(text.ends_with("\n# EOF\n"), "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inf_counts_everything() {
        let histogram = introspection_latency();
        for ms in [5, 50, 60, 2000] {
            histogram.observe(Duration::from_millis(ms).as_secs_f64());
        }
        let text = render(&source(Some(histogram)).registry());
        assert_lines(
            &text,
            &[
                "# TYPE scistream_introspection_duration_seconds histogram",
                "scistream_introspection_duration_seconds_bucket{le=\"0.005\"} 1",
                "scistream_introspection_duration_seconds_bucket{le=\"0.01\"} 1",
                "scistream_introspection_duration_seconds_bucket{le=\"0.1\"} 3",
                "scistream_introspection_duration_seconds_bucket{le=\"+Inf\"} 4",
                "scistream_introspection_duration_seconds_count 4",
            ],
        );
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("scistream_introspection_duration_seconds_sum "))
            .expect("a sum");
        assert!((sum.parse::<f64>().unwrap() - 2.115).abs() < 1e-9, "{sum}");
    }
}
