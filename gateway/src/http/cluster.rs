//! `GET /v1/cluster` (envoi's own, account key): the nodes sharing the
//! store, whether each is alive, what each holds by destination, and which
//! node runs each singleton job.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Admin;
use super::error::ApiResult;
use crate::app::App;
use crate::time::iso8601;

#[utoipa::path(
    get,
    path = "/v1/cluster",
    operation_id = "cluster_get",
    tag = "service",
    summary = "The nodes sharing the store (alive, silent, stopped), their leases by destination, and the runner of each singleton job.",
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get(State(app): State<App>, _admin: Admin) -> ApiResult<Json<Value>> {
    let (nodes, now) = app.store.nodes().await?;
    let held = app.store.held_leases().await?;
    let runners = app.store.runners().await?;
    let timeout = app.node.lease_timeout_micros();
    let mut by_node: BTreeMap<i64, serde_json::Map<String, Value>> = BTreeMap::new();
    for h in &held {
        by_node
            .entry(h.node_id)
            .or_default()
            .insert(h.domain.clone(), json!(h.recipients));
    }
    let alive =
        |n: &crate::store::nodes::NodeRow| n.stopped_at.is_none() && now - n.heartbeat_at < timeout;
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let state = if n.stopped_at.is_some() {
                "stopped"
            } else if alive(n) {
                "alive"
            } else {
                "silent"
            };
            let leases = by_node.remove(&n.id).unwrap_or_default();
            json!({
                "id": n.id,
                "name": n.name,
                "host": n.host,
                "pid": n.pid,
                "this_node": n.id == app.node.id,
                "state": state,
                "started_at": iso8601(n.started_at),
                "last_heartbeat": iso8601(n.heartbeat_at),
                "heartbeat_age_seconds": ((now - n.heartbeat_at).max(0) as f64 / 1e6),
                "stopped_at": n.stopped_at.map(iso8601),
                "leased": leases.values().filter_map(Value::as_i64).sum::<i64>(),
                "leases": leases,
            })
        })
        .collect();
    let singletons: serde_json::Map<String, Value> = crate::cluster::singleton::Job::ALL
        .iter()
        .map(|job| {
            let runner = runners.iter().find(|r| r.name == job.as_str());
            (
                job.as_str().to_string(),
                json!({
                    "node": runner.map(|r| r.node_id),
                    "since": runner.map(|r| iso8601(r.since)),
                }),
            )
        })
        .collect();
    Ok(Json(json!({
        "lease_timeout_seconds": app.node.lease_timeout.as_secs_f64(),
        "this_node": app.node.id,
        "nodes": nodes,
        "singletons": singletons,
    })))
}
