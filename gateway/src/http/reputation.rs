//! `GET /v3/{domain}/reputation` and `POST /v3/{domain}/reputation/reinstate`
//! (envoi's own, account key): the acceptable-use rates and state.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::AdminDomain;
use crate::app::App;

pub async fn get(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let report = app.reputation.evaluate(d.id, &d.name).await?;
    Ok(Json(app.reputation.report_json(&d.name, &report)))
}

/// Lifts a suspension: held messages go out, rates count afresh from now.
pub async fn reinstate(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let released = app.store.reinstate(d.id).await?;
    app.reputation.forget(d.id);
    app.queue_wake.notify_one();
    tracing::warn!(domain = %d.name, released, by = who.key_id(), "domain reinstated");
    let report = app.reputation.evaluate(d.id, &d.name).await?;
    let mut body = app.reputation.report_json(&d.name, &report);
    body["message"] = json!("Domain reinstated");
    body["released"] = json!(released);
    Ok(Json(body))
}
