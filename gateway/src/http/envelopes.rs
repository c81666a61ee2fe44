//! `DELETE /v3/{domain}/envelopes`: Mailgun's "clear the queue". Every
//! recipient of the domain's mail still waiting fails for good, each with
//! a `failed` permanent event that says so (`delivery::drop`), so webhooks
//! and stats see it; mail being delivered at that moment is left to finish.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::AdminDomain;
use crate::app::App;
use crate::store::audit::Audit;

#[utoipa::path(
    delete,
    path = "/v3/{domain}/envelopes",
    operation_id = "envelopes_clear",
    tag = "messages",
    summary = "Drop the domain's mail still waiting in the queue (a failed event per recipient).",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn clear(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let why = "the queue was cleared (DELETE /v3/{domain}/envelopes)".replace("{domain}", &d.name);
    let dropped =
        crate::delivery::drop::drop_waiting(&app.store, &app.node, None, Some(d.id), &why).await?;
    app.audit(&Audit {
        actor: who.key_id(),
        action: "queue.clear",
        target: &d.name,
        domain: Some(&d.name),
        detail: &format!("{dropped} recipient(s)"),
    })
    .await;
    Ok(Json(json!({
        "message": "done",
        // envoi's own: how many waiting recipients were dropped.
        "dropped": dropped,
    })))
}
