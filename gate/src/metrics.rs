//! [`GateMetrics`]: the gateway's figures for `GET /metrics`, in the Prometheus text
//! format (OpenMetrics), every name under the `chat_gateway_` prefix (the nodes' are
//! `chat_`): requests by route and status, codes issued by purpose (and whether a mail
//! went), registrations, logins by outcome, assignments by node, password resets, the
//! mail queue, Redis errors and uptime. Counting is atomic adds; label sets are bounded
//! (routes are the contract's, anything else is `other`; nodes are the cluster's).
//! May touch: nothing but its counters.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::codes::Purpose;

/// A label set of fixed names and values: built without allocating, so counting a
/// request costs a hash-map read and an atomic add.
type Labels<V> = [(&'static str, V); 1];
/// The labels of `chat_gateway_requests_total`: route, status.
type RequestLabels = (Labels<&'static str>, Labels<u16>);

/// See the module docs.
#[derive(Debug)]
pub struct GateMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    codes: Family<(Labels<&'static str>, Labels<bool>), Counter>,
    registrations: Counter,
    logins: Family<Labels<&'static str>, Counter>,
    assignments: Family<Vec<(String, String)>, Counter>,
    resets: Counter,
    mail_queued: Gauge,
    mail_sent: Gauge,
    mail_failed: Gauge,
    redis_errors: Gauge,
    uptime: Gauge,
}

/// What the scrape reads from elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Mails waiting.
    pub mail_queued: u64,
    /// Mails sent.
    pub mail_sent: u64,
    /// Mails given up.
    pub mail_failed: u64,
    /// Failed Redis calls.
    pub redis_errors: u64,
    /// Seconds since start.
    pub uptime_s: u64,
}

/// A gauge value from a count (saturating).
fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Default for GateMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GateMetrics {
    /// Every metric at zero, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("chat_gateway");
        let requests = Family::default();
        let codes = Family::default();
        let registrations = Counter::default();
        let logins = Family::default();
        let assignments = Family::default();
        let resets = Counter::default();
        let (mail_queued, mail_sent, mail_failed) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        let (redis_errors, uptime) = (Gauge::default(), Gauge::default());
        registry.register(
            "requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "codes",
            "Verification codes issued, by purpose and whether a mail was queued",
            codes.clone(),
        );
        registry.register(
            "registrations",
            "Accounts registered",
            registrations.clone(),
        );
        registry.register("logins", "Password logins by outcome", logins.clone());
        registry.register(
            "assignments",
            "Logins sent to each node",
            assignments.clone(),
        );
        registry.register("password_resets", "Passwords reset", resets.clone());
        registry.register(
            "mail_queued",
            "Mails waiting to be sent",
            mail_queued.clone(),
        );
        registry.register("mail_sent", "Mails sent since start", mail_sent.clone());
        registry.register(
            "mail_failed",
            "Mails given up after every attempt, since start",
            mail_failed.clone(),
        );
        registry.register(
            "redis_errors",
            "Failed Redis calls since start",
            redis_errors.clone(),
        );
        registry.register(
            "uptime_seconds",
            "Seconds since the gateway started",
            uptime.clone(),
        );
        Self {
            registry,
            requests,
            codes,
            registrations,
            logins,
            assignments,
            resets,
            mail_queued,
            mail_sent,
            mail_failed,
            redis_errors,
            uptime,
        }
    }

    /// Counts a request to `route` (a path of the contract, or `other`) answered with
    /// `status`.
    pub fn request(&self, route: &'static str, status: u16) {
        self.requests
            .get_or_create(&([("route", route)], [("status", status)]))
            .inc();
    }

    /// Counts a code issued for `purpose`; `mailed`: whether a mail was queued.
    pub fn code_issued(&self, purpose: Purpose, mailed: bool) {
        self.codes
            .get_or_create(&([("purpose", purpose.name())], [("mailed", mailed)]))
            .inc();
    }

    /// Counts a registration.
    pub fn registered(&self) {
        self.registrations.inc();
    }

    /// Counts a password login, right or wrong.
    pub fn login(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "invalid_credentials" };
        self.logins.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Counts a login sent to `node`.
    pub fn assigned(&self, node: &str) {
        self.assignments
            .get_or_create(&vec![("node".into(), node.into())])
            .inc();
    }

    /// Counts a password reset.
    pub fn reset(&self) {
        self.resets.inc();
    }

    /// The text exposition, with the gauges set from `now`.
    pub fn render(&self, now: Snapshot) -> String {
        self.mail_queued.set(gauge_value(now.mail_queued));
        self.mail_sent.set(gauge_value(now.mail_sent));
        self.mail_failed.set(gauge_value(now.mail_failed));
        self.redis_errors.set(gauge_value(now.redis_errors));
        self.uptime.set(gauge_value(now.uptime_s));
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            log::error!("encoding metrics: {e}");
        }
        text
    }
}
