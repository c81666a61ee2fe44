//! `GET /metrics`: what the `metrics` facade recorded on this node, and
//! what the store says now (the queue by destination, each domain's
//! acceptable-use state, the webhook backlog), in Prometheus' text format.

use std::fmt::Write;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use crate::app::App;
use crate::config::MetricsAccess;
use crate::store::snapshot::Snapshot;

/// Destinations reported one by one; the rest are summed as "other", so a
/// queue spread over many domains cannot flood the scrape.
const TOP_DESTINATIONS: usize = 20;

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics_get",
    tag = "service",
    summary = "Prometheus metrics in the text format (from loopback, or with the account key; [metrics].access).",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        crate::http::openapi::schemas::Refusals,
    ),
    security((), ("api_key" = [])))]
pub async fn get(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // A request a proxy on this machine forwarded comes from loopback too:
    // one that says it was forwarded is not taken for a local client.
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    let loopback = peer.ip().to_canonical().is_loopback() && !forwarded;
    match app.config.metrics.access {
        MetricsAccess::Off => {
            return Err(ApiError::NotFound(
                "metrics are off on this node ([metrics].access = \"off\")".into(),
            ))
        }
        MetricsAccess::Open => {}
        MetricsAccess::Loopback if loopback => {}
        MetricsAccess::Loopback | MetricsAccess::AccountKey => {
            super::admin(&app, &headers).await.map_err(|e| match e {
                ApiError::InvalidKey(_) | ApiError::Unauthorized(_) => ApiError::Unauthorized(
                    "/metrics needs the account (admin) key from another machine: scrape it with HTTP Basic auth (user \"api\"), or from this machine ([metrics].access)".into(),
                ),
                other => other,
            })?;
        }
    }
    crate::telemetry::upkeep();
    let mut text = crate::telemetry::render();
    let snapshot = app.store.snapshot().await?;
    text.push_str(&snapshot_text(&snapshot, crate::store::now_micros()));
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The store's snapshot as gauges.
pub fn snapshot_text(s: &Snapshot, now: i64) -> String {
    let mut out = String::new();
    let age = |at: i64| ((now - at).max(0) as f64) / 1e6;
    let mut rows: Vec<(String, i64, i64, f64)> = s
        .queue
        .iter()
        .take(TOP_DESTINATIONS)
        .map(|q| {
            (
                q.destination.clone(),
                q.recipients,
                q.leased,
                age(q.oldest_at),
            )
        })
        .collect();
    let rest = &s.queue[s.queue.len().min(TOP_DESTINATIONS)..];
    if !rest.is_empty() {
        rows.push((
            "other".into(),
            rest.iter().map(|q| q.recipients).sum(),
            rest.iter().map(|q| q.leased).sum(),
            rest.iter().map(|q| age(q.oldest_at)).fold(0.0, f64::max),
        ));
    }
    gauge_head(&mut out, "envoi_queue_recipients", "Recipients queued (not yet delivered or failed), by destination domain: the top 20, then \"other\".");
    for (d, n, _, _) in &rows {
        let _ = writeln!(
            out,
            "envoi_queue_recipients{{destination=\"{}\"}} {n}",
            escape(d)
        );
    }
    gauge_head(&mut out, "envoi_queue_leased_recipients", "Of the queued recipients, those leased by a node (being delivered or about to be), by destination domain.");
    for (d, _, n, _) in &rows {
        let _ = writeln!(
            out,
            "envoi_queue_leased_recipients{{destination=\"{}\"}} {n}",
            escape(d)
        );
    }
    gauge_head(
        &mut out,
        "envoi_queue_oldest_seconds",
        "Age of the oldest queued message, by destination domain.",
    );
    for (d, _, _, a) in &rows {
        let _ = writeln!(
            out,
            "envoi_queue_oldest_seconds{{destination=\"{}\"}} {a}",
            escape(d)
        );
    }
    gauge_head(&mut out, "envoi_domain_reputation", "Each sending domain's acceptable-use state: 1 for the state it is in (ok, warning, suspended), 0 for the others.");
    for (domain, state) in &s.reputation {
        for candidate in ["ok", "warning", "suspended"] {
            let _ = writeln!(
                out,
                "envoi_domain_reputation{{domain=\"{}\",state=\"{candidate}\"}} {}",
                escape(domain),
                u8::from(state == candidate)
            );
        }
    }
    gauge_head(
        &mut out,
        "envoi_webhook_backlog",
        "Webhook calls waiting to be made or retried.",
    );
    let _ = writeln!(out, "envoi_webhook_backlog {}", s.webhook_backlog);
    out
}

fn gauge_head(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::snapshot::QueuedFor;

    #[test]
    fn destinations_past_the_top_20_are_summed_as_other() {
        let queue = (0..25)
            .map(|i| QueuedFor {
                destination: format!("d{i}.test"),
                recipients: 100 - i,
                leased: 1,
                oldest_at: 1_000_000 * i,
                next_attempt_at: 0,
            })
            .collect();
        let s = Snapshot {
            queue,
            ..Snapshot::default()
        };
        let text = snapshot_text(&s, 100_000_000);
        assert!(text.contains("envoi_queue_recipients{destination=\"d0.test\"} 100\n"));
        assert!(!text.contains("d20.test"));
        // d20..d24: 80+79+78+77+76 recipients, 5 leased, oldest d20 (80 s).
        assert!(
            text.contains("envoi_queue_recipients{destination=\"other\"} 390\n"),
            "{text}"
        );
        assert!(text.contains("envoi_queue_leased_recipients{destination=\"other\"} 5\n"));
        assert!(text.contains("envoi_queue_oldest_seconds{destination=\"other\"} 80\n"));
    }

    #[test]
    fn a_label_value_is_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
