//! `/healthz` (the process answers) and `/readyz` (it can do its work):
//! probes for load balancers, orchestrators and `envoi health`.
//! Neither needs a key: they say nothing about tenants.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;

/// Alive: answers as long as the HTTP server runs, whatever the store does
/// (a liveness probe that fails on a store outage would restart healthy
/// nodes in a loop).
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health_healthz",
    tag = "service",
    summary = "Alive: the process serves HTTP (the store is not asked).",
    responses((status = 200, description = "Done", body = crate::http::openapi::schemas::Health))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok", "version": crate::logs::VERSION}))
}

/// Ready: the store answers, its schema is this binary's, it expects this
/// node's master key, and every listener is bound. 503 names what is not.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "health_readyz",
    tag = "service",
    summary = "Ready: store reachable, migrations current, master key matches, listeners bound (503 naming what is not).",
    responses((status = 200, description = "Done", body = crate::http::openapi::schemas::Readiness), (status = 503, description = "Not ready: message names what is not", body = crate::http::openapi::schemas::Readiness))
)]
pub async fn readyz(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let mut problems = Vec::new();
    let store = match app.store.ping().await {
        Ok(()) => "reachable".to_string(),
        Err(e) => {
            problems.push(format!("the store does not answer: {e}"));
            "unreachable".into()
        }
    };
    let migrations = match app.store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => "current".to_string(),
        Ok(pending) => {
            problems.push(format!(
                "the store lacks migrations {pending:?}: run `envoi migrate` with this binary"
            ));
            "pending".into()
        }
        Err(e) => {
            problems.push(format!("cannot read the applied migrations: {e}"));
            "unknown".into()
        }
    };
    let master_key = match app.master_key_matches().await {
        Ok(true) => "matches",
        Ok(false) => {
            problems.push(
                "the store expects another master key: this node cannot open what it stores".into(),
            );
            "differs"
        }
        Err(_) => "unknown",
    };
    let listeners = match app.listening.get() {
        Some(l) => l
            .iter()
            .map(|(name, addr)| (name.to_string(), json!(addr.to_string())))
            .collect(),
        None => {
            problems.push("listeners are not bound yet".into());
            serde_json::Map::new()
        }
    };
    let checks = json!({
        "store": store,
        "migrations": migrations,
        "master_key": master_key,
        "listeners": listeners,
    });
    if problems.is_empty() {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "message": problems.join("; "), "checks": checks})),
        )
    }
}
