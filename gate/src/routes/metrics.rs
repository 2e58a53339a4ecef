//! `GET /metrics`: the gateway's figures ([`crate::metrics`]) in the Prometheus text
//! format (OpenMetrics 1.0).

use reactor_http::Response;

use crate::app::Gateway;
use crate::metrics::Snapshot;

/// The exposition.
pub fn run(gw: &Gateway) -> Response {
    let mail = gw.mailer.stats();
    let text = gw.metrics.render(Snapshot {
        mail_queued: mail.pending,
        mail_sent: mail.sent,
        mail_failed: mail.failed,
        redis_errors: gw.redis.errors(),
        uptime_s: gw.started.elapsed().as_secs(),
    });
    Response::text(
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        text,
    )
}
