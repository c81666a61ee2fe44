//! `GET /v3/{domain}/reputation` and `POST /v3/{domain}/reputation/reinstate`
//! (envoi's own, account key): the acceptable-use rates and state.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Admin;
use super::error::ApiResult;
use crate::app::App;
use crate::reputation::{evaluate, report_json};

pub async fn get(
    State(app): State<App>,
    _admin: Admin,
    Path(domain): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = super::domains::find(&app, &domain).await?;
    let report = evaluate(&app, d.id, &d.name).await?;
    Ok(Json(report_json(&app, &d.name, &report)))
}

/// Lifts a suspension: held messages go out, rates count afresh from now.
pub async fn reinstate(
    State(app): State<App>,
    Admin(who): Admin,
    Path(domain): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = super::domains::find(&app, &domain).await?;
    let released = app.store.reinstate(d.id).await?;
    app.reputation.forget(d.id);
    app.queue_wake.notify_one();
    tracing::warn!(domain = %d.name, released, by = who.key_id(), "domain reinstated");
    let report = evaluate(&app, d.id, &d.name).await?;
    let mut body = report_json(&app, &d.name, &report);
    body["message"] = json!("Domain reinstated");
    body["released"] = json!(released);
    Ok(Json(body))
}
