//! `GET /v3/{domain}/reputation` and `POST /v3/{domain}/reputation/reinstate`
//! (envoi's own, account key): the acceptable-use rates and state.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::AdminDomain;
use crate::app::App;

#[utoipa::path(
    get,
    path = "/v3/{domain}/reputation",
    operation_id = "reputation_get",
    tag = "reputation",
    summary = "The domain's acceptable-use state and rates against the thresholds.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let report = app.reputation.evaluate(d.id, &d.name).await?;
    Ok(Json(app.reputation.report_json(&d.name, &report)))
}

/// Lifts a suspension: held messages go out, rates count afresh from now.
#[utoipa::path(
    post,
    path = "/v3/{domain}/reputation/reinstate",
    operation_id = "reputation_reinstate",
    tag = "reputation",
    summary = "Lift a suspension: held mail is released.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
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
