//! Prometheus metrics: names, labels and units in one place, recorded
//! through the `metrics` facade where things happen and rendered by
//! `metrics-exporter-prometheus` at `GET /metrics`. Until `install` runs
//! (unit tests, one-shot commands) every call is a no-op.
//!
//! Names follow Prometheus conventions: `envoi_` prefix, `_total` for
//! counters, base units (`_seconds`). Labels take bounded values only:
//! sending domains (the tenants), reasons and TLS versions from fixed sets.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, in seconds: from a fast commit (1 ms) to a slow
/// delivery (several minutes).
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 1800.0, 3600.0,
];

/// Install the recorder (once per process) and describe every metric.
pub fn install() {
    if HANDLE.get().is_some() {
        return;
    }
    let handle = match PrometheusBuilder::new()
        .set_buckets(SECONDS)
        .and_then(|b| b.install_recorder())
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "metrics are not recorded");
            return;
        }
    };
    let _ = HANDLE.set(handle);
    describe();
}

/// The metrics recorded so far, in Prometheus' text format.
pub fn render() -> String {
    HANDLE.get().map(|h| h.render()).unwrap_or_default()
}

/// Histograms are kept in windows the exporter must roll now and then.
pub fn upkeep() {
    if let Some(h) = HANDLE.get() {
        h.run_upkeep();
    }
}

fn describe() {
    describe_counter!(
        ACCEPTED,
        "Messages accepted (one per recipient), by method and sending domain."
    );
    describe_counter!(DELIVERED, "Recipients delivered, by sending domain.");
    describe_counter!(FAILED, "Delivery failures, by sending domain, severity (temporary: retried; permanent: given up) and reason.");
    describe_gauge!(
        IN_FLIGHT,
        "Recipients whose delivery this node is attempting now."
    );
    describe_counter!(
        SMTP_SESSIONS,
        "SMTP sessions opened to this node, by listener (submission, inbound)."
    );
    describe_gauge!(
        SMTP_ACTIVE,
        "SMTP sessions open on this node now, by listener."
    );
    describe_counter!(
        SMTP_TLS,
        "STARTTLS handshakes completed by this node's SMTP listeners, by listener and TLS version."
    );
    describe_counter!(DELIVERY_SESSIONS, "Sessions opened to recipients' MXs, by TLS version (none: plaintext) and whether the certificate verified.");
    describe_counter!(
        TLS_FALLBACK,
        "Deliveries that fell back to plaintext after a failed TLS handshake (opportunistic TLS)."
    );
    describe_histogram!(
        SIGNING,
        metrics::Unit::Seconds,
        "Time to DKIM-sign one message."
    );
    describe_histogram!(
        ACCEPT,
        metrics::Unit::Seconds,
        "Time from a composed message's checks to its durable commit, by method."
    );
    describe_histogram!(
        DELIVERY_LATENCY,
        metrics::Unit::Seconds,
        "Time from acceptance to delivery, per delivered recipient."
    );
    describe_counter!(WEBHOOK_CALLS, "Webhook calls made, by result: ok, retry (failed, will retry), given_up (failed after the last retry), refused (406: not retried).");
    describe_histogram!(
        COMMIT,
        metrics::Unit::Seconds,
        "Time to commit one group of accepted messages to the store."
    );
}

pub const ACCEPTED: &str = "envoi_messages_accepted_total";
pub const DELIVERED: &str = "envoi_messages_delivered_total";
pub const FAILED: &str = "envoi_messages_failed_total";
pub const IN_FLIGHT: &str = "envoi_deliveries_in_flight";
pub const SMTP_SESSIONS: &str = "envoi_smtp_sessions_total";
pub const SMTP_ACTIVE: &str = "envoi_smtp_sessions_active";
pub const SMTP_TLS: &str = "envoi_smtp_starttls_total";
pub const DELIVERY_SESSIONS: &str = "envoi_delivery_sessions_total";
pub const TLS_FALLBACK: &str = "envoi_delivery_tls_fallback_total";
pub const SIGNING: &str = "envoi_dkim_signing_seconds";
pub const ACCEPT: &str = "envoi_accept_seconds";
pub const DELIVERY_LATENCY: &str = "envoi_delivery_latency_seconds";
pub const WEBHOOK_CALLS: &str = "envoi_webhook_calls_total";
pub const COMMIT: &str = "envoi_store_commit_seconds";

pub fn accepted(method: &'static str, domain: &str, recipients: usize, took: Duration) {
    counter!(ACCEPTED, "method" => method, "domain" => domain.to_string())
        .increment(recipients as u64);
    histogram!(ACCEPT, "method" => method).record(took.as_secs_f64());
}

pub fn delivered(domain: &str, since_accepted: Duration) {
    counter!(DELIVERED, "domain" => domain.to_string()).increment(1);
    histogram!(DELIVERY_LATENCY).record(since_accepted.as_secs_f64());
}

pub fn failed(domain: &str, permanent: bool, reason: &str) {
    let severity = if permanent { "permanent" } else { "temporary" };
    counter!(FAILED, "domain" => domain.to_string(), "severity" => severity, "reason" => reason.to_string())
        .increment(1);
}

/// Recipients in flight, counted until dropped.
pub struct InFlight(f64);

impl InFlight {
    pub fn start(recipients: usize) -> InFlight {
        gauge!(IN_FLIGHT).increment(recipients as f64);
        InFlight(recipients as f64)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT).decrement(self.0);
    }
}

/// An SMTP session on `listener`, counted open until dropped.
pub struct SmtpSession(&'static str);

impl SmtpSession {
    pub fn open(listener: &'static str) -> SmtpSession {
        counter!(SMTP_SESSIONS, "listener" => listener).increment(1);
        gauge!(SMTP_ACTIVE, "listener" => listener).increment(1.0);
        SmtpSession(listener)
    }

    pub fn tls(&self, version: &str) {
        counter!(SMTP_TLS, "listener" => self.0, "version" => version.to_string()).increment(1);
    }
}

impl Drop for SmtpSession {
    fn drop(&mut self) {
        gauge!(SMTP_ACTIVE, "listener" => self.0).decrement(1.0);
    }
}

pub fn delivery_session(tls_version: Option<&str>, verified: bool) {
    counter!(
        DELIVERY_SESSIONS,
        "tls" => tls_version.unwrap_or("none").to_string(),
        "verified" => if verified { "true" } else { "false" }
    )
    .increment(1);
}

pub fn tls_fallback() {
    counter!(TLS_FALLBACK).increment(1);
}

pub fn signed(took: Duration) {
    histogram!(SIGNING).record(took.as_secs_f64());
}

pub fn webhook_call(result: &'static str) {
    counter!(WEBHOOK_CALLS, "result" => result).increment(1);
}

pub fn committed(took: Duration) {
    histogram!(COMMIT).record(took.as_secs_f64());
}
