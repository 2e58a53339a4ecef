//! The node's metrics: every figure `GET /metrics` shows, in one place, and the
//! Prometheus text they are written as (built with the `prometheus-client` crate).
//!
//! Every name starts with `chat_`:
//!
//! | name | type | labels | what |
//! | --- | --- | --- | --- |
//! | `chat_connections_open` | gauge | | TCP connections open |
//! | `chat_http_connections_open` | gauge | | connections open on the HTTP port (`--http-port`): pages, scrapes and WebSocket chat clients |
//! | `chat_connections_logged_in` | gauge | | logged-in connections on this node |
//! | `chat_connections_accepted_total` | counter | | connections accepted |
//! | `chat_connections_rejected_total` | counter | | connections turned away (`server_full`) |
//! | `chat_frames_received_total` | counter | | frames decoded from clients |
//! | `chat_frames_sent_total` | counter | | frames queued for clients (responses and pushes) |
//! | `chat_received_bytes_total` | counter | | bytes read from clients |
//! | `chat_sent_bytes_total` | counter | | bytes written to clients |
//! | `chat_worker_queued_events` | gauge | | events waiting for (or held by) a worker |
//! | `chat_requests_total` | counter | `op` | requests by operation (`unknown`: not a request of a known op) |
//! | `chat_request_errors_total` | counter | `code` | error answers by code, however late they are given |
//! | `chat_messages_committed_total` | counter | | messages newly stored by this node's writer |
//! | `chat_commit_batch_size` | histogram | | messages per committed batch |
//! | `chat_commit_duration_seconds` | histogram | | time of a successful batch commit |
//! | `chat_writer_queue_depth` | gauge | | messages waiting for the writer |
//! | `chat_store_errors_total` | counter | `kind` (`unavailable`, `other`) | failed store calls |
//! | `chat_store_up` | gauge | | 1 while the store answers the health probe |
//! | `chat_redis_up` | gauge | | 1 while Redis answers (cluster mode only) |
//! | `chat_redis_errors_total` | counter | | failed Redis calls |
//! | `chat_cluster_pushes_published_total` | counter | | pushes published for other nodes |
//! | `chat_cluster_pushes_lost_total` | counter | | pushes that could not be published (then swept) |
//! | `chat_cluster_pushes_received_total` | counter | | pushes received from other nodes |
//! | `chat_gap_filled_messages_total` | counter | | messages read from the store to fill gaps |
//! | `chat_uptime_seconds` | gauge | | seconds since the node started |
//! | `chat_node_info` | gauge (always 1) | `node`, `cluster`, `version` | who this node is |
//!
//! Counting is cheap and never takes a lock: a counter is one relaxed atomic add (the
//! per-op and per-code counters are created up front and indexed, so no label map is
//! looked up per request), and the commit histograms ([`AtomicHistogram`]) are atomics
//! too. Figures other parts of the node keep already (the engine's
//! [`reactor::Counters`], the hub's logged-in count, the writer's queue, the cluster's
//! counters, the health state) are read only when `/metrics` is asked for, through the
//! sources given to [`Metrics`] once they exist (`watch_*`); until then they read 0.
//!
//! Store errors are counted process-wide (`crate::store_errors`): the conversion of a
//! store error into a client's answer (`cmd/store_error.rs`) has no application at
//! hand, and a process runs one store.
//!
//! May touch: nothing but its own atomics; it reads the sources it was given.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use proto::Op;

use crate::cluster::Cluster;
use crate::health::Health;
use crate::hub::Hub;
use crate::protocol::ErrorCode;

/// The `Content-Type` of [`Metrics::encode`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `op` label of requests that name no known operation (or are not requests).
pub const UNKNOWN_OP: &str = "unknown";

/// Upper bounds of `chat_commit_batch_size`, in messages.
const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
/// Upper bounds of `chat_commit_duration_seconds`, in microseconds (0.5 ms to 5 s).
const COMMIT_BOUNDS_US: &[u64] = &[
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    2_000_000, 5_000_000,
];

/// Who this node is, for `chat_node_info`.
#[derive(Debug, Clone, Default)]
pub struct NodeLabels {
    /// The node id (empty on a single node without one).
    pub node: String,
    /// The cluster name (empty on a single node).
    pub cluster: String,
}

/// A histogram of whole-number observations kept in atomics: one counter per bucket,
/// one for the values above the last bound, and the sum. Observing is a search in a
/// short list and two relaxed adds; a scrape may see one observation's bucket without
/// its sum, which Prometheus tolerates. Clones share the counts.
#[derive(Clone)]
pub struct AtomicHistogram {
    inner: Arc<HistogramCounts>,
}

struct HistogramCounts {
    /// Upper bounds (inclusive), ascending, in the observed unit.
    bounds: &'static [u64],
    /// One count per bound, then one for above the last.
    counts: Box<[AtomicU64]>,
    /// Sum of the observations, in the observed unit.
    sum: AtomicU64,
    /// Observed units per exported unit (dividing, not multiplying by the inverse,
    /// writes 0.05 rather than 0.049999999999999996).
    per_unit: f64,
}

impl AtomicHistogram {
    /// A histogram with the upper bounds `bounds` (ascending), exported divided by
    /// `per_unit` (1e6 for microseconds shown as seconds).
    pub fn new(bounds: &'static [u64], per_unit: f64) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(HistogramCounts {
                bounds,
                counts,
                sum: AtomicU64::new(0),
                per_unit,
            }),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: u64) {
        let h = &self.inner;
        let bucket = h.bounds.partition_point(|&bound| bound < value);
        if let Some(count) = h.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        h.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicHistogram")
            .field("bounds", &self.inner.bounds)
            .field("count", &self.count())
            .finish()
    }
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let h = &self.inner;
        let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let count = counts.iter().sum();
        // Per-bucket counts; the encoder makes them cumulative and adds `+Inf` (the
        // total, which includes the values above the last bound).
        let buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .zip(&counts)
            .map(|(&bound, &n)| (bound as f64 / h.per_unit, n))
            .collect();
        let sum = h.sum.load(Ordering::Relaxed) as f64 / h.per_unit;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// What the node already counts elsewhere, read at each scrape (set once each exists).
#[derive(Default)]
struct Sources {
    engine: OnceLock<Arc<reactor::Counters>>,
    http_engine: OnceLock<Arc<reactor::Counters>>,
    hub: OnceLock<Arc<Hub>>,
    writer_queue: OnceLock<Box<dyn Fn() -> usize + Send + Sync>>,
    cluster: OnceLock<Arc<Cluster>>,
    health: OnceLock<Arc<Health>>,
}

/// Writes the figures of [`Sources`] (and the uptime, and the store errors) at each
/// scrape.
struct LiveCollector {
    started: Instant,
    sources: Arc<Sources>,
}

impl fmt::Debug for LiveCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCollector").finish_non_exhaustive()
    }
}

/// Writes one metric without labels. `help` gets a full stop, as the registry gives
/// the metrics registered with it.
fn put(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &impl EncodeMetric,
) -> Result<(), fmt::Error> {
    let help = format!("{help}.");
    let metric_encoder = encoder.encode_descriptor(name, &help, unit, metric.metric_type())?;
    metric.encode(metric_encoder)
}

fn counter(value: u64) -> ConstCounter<u64> {
    ConstCounter::new(value)
}

fn gauge(value: usize) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let s = &self.sources;
        let e = s.engine.get().map(|c| c.snapshot()).unwrap_or_default();
        let enc = &mut encoder;
        put(
            enc,
            "connections_open",
            "TCP connections open",
            None,
            &gauge(e.open),
        )?;
        let http_open = s.http_engine.get().map_or(0, |c| c.snapshot().open);
        put(
            enc,
            "http_connections_open",
            "Connections open on the HTTP port (pages, scrapes and WebSocket chat clients)",
            None,
            &gauge(http_open),
        )?;
        let logged_in = s.hub.get().map_or(0, |hub| hub.logged_in());
        put(
            enc,
            "connections_logged_in",
            "Logged-in connections on this node",
            None,
            &gauge(logged_in),
        )?;
        put(
            enc,
            "connections_accepted",
            "TCP connections accepted",
            None,
            &counter(e.accepted),
        )?;
        put(
            enc,
            "connections_rejected",
            "TCP connections turned away at a connection limit",
            None,
            &counter(e.rejected),
        )?;
        put(
            enc,
            "frames_received",
            "Frames decoded from clients",
            None,
            &counter(e.frames_in),
        )?;
        put(
            enc,
            "frames_sent",
            "Frames queued for clients (responses and pushes)",
            None,
            &counter(e.frames_out),
        )?;
        put(
            enc,
            "received",
            "Bytes read from clients",
            Some(&Unit::Bytes),
            &counter(e.bytes_in),
        )?;
        put(
            enc,
            "sent",
            "Bytes written to clients",
            Some(&Unit::Bytes),
            &counter(e.bytes_out),
        )?;
        put(
            enc,
            "worker_queued_events",
            "Events waiting for or held by a worker",
            None,
            &gauge(e.queued_events),
        )?;
        let depth = s.writer_queue.get().map_or(0, |depth| depth());
        put(
            enc,
            "writer_queue_depth",
            "Messages waiting for the writer",
            None,
            &gauge(depth),
        )?;

        let errors = encoder.encode_descriptor(
            "store_errors",
            "Failed store calls, by kind of error.",
            None,
            MetricType::Counter,
        )?;
        store_errors(errors)?;
        let enc = &mut encoder;
        if let Some(health) = s.health.get() {
            let status = health.status();
            put(
                enc,
                "store_up",
                "1 while the store answers the health probe",
                None,
                &gauge(usize::from(status.store.is_ok())),
            )?;
            if let Some(redis) = &status.redis {
                put(
                    enc,
                    "redis_up",
                    "1 while Redis answers the health probe",
                    None,
                    &gauge(usize::from(redis.is_ok())),
                )?;
            }
        }
        let cluster = s.cluster.get();
        let figure = |f: fn(&Cluster) -> u64| cluster.map_or(0, |c| f(c));
        put(
            enc,
            "redis_errors",
            "Failed Redis calls",
            None,
            &counter(figure(Cluster::redis_errors)),
        )?;
        put(
            enc,
            "cluster_pushes_published",
            "Pushes published for other nodes",
            None,
            &counter(figure(Cluster::published)),
        )?;
        put(
            enc,
            "cluster_pushes_lost",
            "Pushes that could not be published (the nodes then sweep)",
            None,
            &counter(figure(Cluster::publish_lost)),
        )?;
        put(
            enc,
            "cluster_pushes_received",
            "Pushes received from other nodes",
            None,
            &counter(figure(Cluster::received)),
        )?;
        put(
            enc,
            "uptime",
            "Time since the node started",
            Some(&Unit::Seconds),
            &ConstGauge::new(self.started.elapsed().as_secs_f64()),
        )
    }
}

/// `chat_store_errors_total{kind}`.
fn store_errors(mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
    let (unavailable, other) = crate::store_errors::counts();
    for (kind, count) in [("unavailable", unavailable), ("other", other)] {
        let labels = [("kind", kind)];
        let series = encoder.encode_family(&labels)?;
        counter(count).encode(series)?;
    }
    Ok(())
}

/// Labels of one series of a family: one `(name, value)` pair.
type Label = [(&'static str, &'static str); 1];

/// The node's metrics (see the module docs). Built once at start-up, shared by the
/// workers, the writer and its watchdog, the gap filler and the HTTP listener.
pub struct Metrics {
    registry: Registry,
    sources: Arc<Sources>,
    /// Requests by op, in [`Op::ALL`] order, then [`UNKNOWN_OP`].
    requests: Vec<Counter>,
    /// Error answers by code, in [`ErrorCode::ALL`] order (indexed by `code as usize`).
    errors: Vec<Counter>,
    committed: Counter,
    gap_filled: Counter,
    batch_size: AtomicHistogram,
    commit_time: AtomicHistogram,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every metric at zero, the uptime counted from now.
    pub fn new(labels: &NodeLabels) -> Self {
        let mut registry = Registry::with_prefix("chat");
        let requests_family = Family::<Label, Counter>::default();
        let requests = Op::ALL
            .iter()
            .map(|op| op.name())
            .chain([UNKNOWN_OP])
            .map(|op| requests_family.get_or_create_owned(&[("op", op)]))
            .collect();
        registry.register(
            "requests",
            "Requests by operation (unknown: not a request of a known operation)",
            requests_family,
        );
        let errors_family = Family::<Label, Counter>::default();
        let errors = ErrorCode::ALL
            .iter()
            .map(|code| errors_family.get_or_create_owned(&[("code", code.as_str())]))
            .collect();
        registry.register(
            "request_errors",
            "Error answers by code, whenever they are given",
            errors_family,
        );
        let committed = Counter::default();
        registry.register(
            "messages_committed",
            "Messages newly stored by this node's writer",
            committed.clone(),
        );
        let batch_size = AtomicHistogram::new(BATCH_BOUNDS, 1.0);
        registry.register(
            "commit_batch_size",
            "Messages per committed batch",
            batch_size.clone(),
        );
        let commit_time = AtomicHistogram::new(COMMIT_BOUNDS_US, 1e6);
        registry.register_with_unit(
            "commit_duration",
            "Time of a successful batch commit",
            Unit::Seconds,
            commit_time.clone(),
        );
        let gap_filled = Counter::default();
        registry.register(
            "gap_filled_messages",
            "Messages read from the store to fill gaps in connections' pushes",
            gap_filled.clone(),
        );
        registry.register(
            "node",
            "Who this node is",
            Info::new(vec![
                ("node", labels.node.clone()),
                ("cluster", labels.cluster.clone()),
                ("version", env!("CARGO_PKG_VERSION").to_string()),
            ]),
        );
        let sources = Arc::new(Sources::default());
        registry.register_collector(Box::new(LiveCollector {
            started: Instant::now(),
            sources: Arc::clone(&sources),
        }));
        Self {
            registry,
            sources,
            requests,
            errors,
            committed,
            gap_filled,
            batch_size,
            commit_time,
        }
    }

    /// Reads the engine's connection, frame and byte counters from now on.
    pub fn watch_engine(&self, counters: Arc<reactor::Counters>) {
        let _ = self.sources.engine.set(counters);
    }

    /// Reads the HTTP port's engine's open connections from now on.
    pub fn watch_http_engine(&self, counters: Arc<reactor::Counters>) {
        let _ = self.sources.http_engine.set(counters);
    }

    /// Reads the hub's logged-in count from now on.
    pub fn watch_hub(&self, hub: Arc<Hub>) {
        let _ = self.sources.hub.set(hub);
    }

    /// Reads the writer's queue depth through `depth` from now on.
    pub fn watch_writer_queue(&self, depth: Box<dyn Fn() -> usize + Send + Sync>) {
        let _ = self.sources.writer_queue.set(depth);
    }

    /// Reads the cluster's Redis and push counters from now on.
    pub fn watch_cluster(&self, cluster: Arc<Cluster>) {
        let _ = self.sources.cluster.set(cluster);
    }

    /// Reads the health state (`chat_store_up`, `chat_redis_up`) from now on.
    pub fn watch_health(&self, health: Arc<Health>) {
        let _ = self.sources.health.set(health);
    }

    /// Counts one request; `None` for one that names no known op (or is not a request).
    pub fn request(&self, op: Option<Op>) {
        let index = op
            .and_then(|op| Op::ALL.iter().position(|o| *o == op))
            .unwrap_or(Op::ALL.len());
        if let Some(counter) = self.requests.get(index) {
            counter.inc();
        }
    }

    /// Counts one error answer.
    pub fn request_error(&self, code: ErrorCode) {
        if let Some(counter) = self.errors.get(code as usize) {
            counter.inc();
        }
    }

    /// Counts a committed batch: `size` messages sent to the store in `took`, `new` of
    /// them newly stored.
    pub fn committed(&self, size: usize, new: usize, took: Duration) {
        self.committed.inc_by(new as u64);
        self.batch_size.observe(size as u64);
        self.commit_time
            .observe(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// Counts messages read from the store to fill gaps.
    pub fn gap_filled(&self, messages: usize) {
        self.gap_filled.inc_by(messages as u64);
    }

    /// Every metric in the Prometheus text format (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            // Writing to a String fails only if a metric's encoder refuses its value.
            log::error!("cannot encode the metrics: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of `text` that are samples (not comments), as `(series, value)`.
    fn samples(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("`series value`");
                (series.to_string(), value.to_string())
            })
            .collect()
    }

    fn value(text: &str, series: &str) -> String {
        samples(text)
            .into_iter()
            .find(|(s, _)| s == series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .1
    }

    #[test]
    fn names_types_and_counts() {
        let m = Metrics::new(&NodeLabels {
            node: "n1".into(),
            cluster: "c".into(),
        });
        m.request(Some(Op::SendMessage));
        m.request(Some(Op::SendMessage));
        m.request(None);
        m.request_error(ErrorCode::ServerBusy);
        m.committed(3, 2, Duration::from_micros(1500));
        m.gap_filled(4);
        let text = m.encode();
        for line in text.lines() {
            assert!(
                line.starts_with("# HELP chat_")
                    || line.starts_with("# TYPE chat_")
                    || line.starts_with("chat_"),
                "{line}"
            );
        }
        assert_eq!(
            value(&text, r#"chat_requests_total{op="send_message"}"#),
            "2"
        );
        assert_eq!(value(&text, r#"chat_requests_total{op="unknown"}"#), "1");
        assert_eq!(value(&text, r#"chat_requests_total{op="ping"}"#), "0");
        assert_eq!(
            value(&text, r#"chat_request_errors_total{code="server_busy"}"#),
            "1"
        );
        assert_eq!(value(&text, "chat_messages_committed_total"), "2");
        assert_eq!(value(&text, "chat_gap_filled_messages_total"), "4");
        assert_eq!(
            value(&text, r#"chat_commit_batch_size_bucket{le="2"}"#),
            "0"
        );
        assert_eq!(
            value(&text, r#"chat_commit_batch_size_bucket{le="4"}"#),
            "1"
        );
        assert_eq!(
            value(&text, r#"chat_commit_batch_size_bucket{le="+Inf"}"#),
            "1"
        );
        assert_eq!(value(&text, "chat_commit_batch_size_sum"), "3.0");
        assert_eq!(
            value(&text, r#"chat_commit_duration_seconds_bucket{le="0.001"}"#),
            "0"
        );
        assert_eq!(
            value(&text, r#"chat_commit_duration_seconds_bucket{le="0.002"}"#),
            "1"
        );
        assert_eq!(value(&text, "chat_connections_open"), "0");
        assert_eq!(value(&text, "chat_received_bytes_total"), "0");
        assert_eq!(value(&text, "chat_writer_queue_depth"), "0");
        assert!(
            value(&text, r#"chat_store_errors_total{kind="unavailable"}"#)
                .parse::<u64>()
                .is_ok()
        );
        let info = format!(
            r#"chat_node_info{{node="n1",cluster="c",version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(value(&text, &info), "1");
        assert_eq!(
            value(&text, r#"chat_commit_duration_seconds_bucket{le="0.05"}"#),
            "1"
        );
        assert_eq!(value(&text, "chat_commit_duration_seconds_sum"), "0.0015");
        assert!(text.contains("# TYPE chat_commit_duration_seconds histogram\n"));
        assert!(text.contains("# HELP chat_uptime_seconds Time since the node started.\n"));
        assert!(text.contains("# TYPE chat_requests_total counter\n"));
        assert!(text.contains("# TYPE chat_uptime_seconds gauge\n"));
    }

    #[test]
    fn histogram_buckets_hold_their_bound() {
        let h = AtomicHistogram::new(&[1, 2, 4], 1.0);
        for v in [0, 1, 2, 3, 4, 5, 100] {
            h.observe(v);
        }
        let counts: Vec<u64> = h
            .inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, vec![2, 1, 2, 2]);
        assert_eq!(h.count(), 7);
        assert_eq!(h.inner.sum.load(Ordering::Relaxed), 115);
    }
}
