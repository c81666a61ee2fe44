//! `GET /v1/audit` (envoi's own): the trail of key changes, newest first.
//! Account key only. Never holds a secret.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Admin;
use super::base_url;
use super::error::ApiResult;
use super::form::Form;
use crate::app::App;
use crate::store::audit::AuditEvent;
use crate::time::iso8601;

fn event_json(e: &AuditEvent) -> Value {
    json!({
        "id": e.id,
        "at": iso8601(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "domain": e.domain,
        "detail": e.detail,
    })
}

/// `limit` (≤ 300, default 100), `before` (an event id, for the next page).
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "audit_list",
    tag = "keys",
    summary = "The audit trail of key and credential changes: items of {at, actor, action, target, domain}.",
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Items),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    _admin: Admin,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 100, 300)?;
    let before = form.number("before", i64::MAX, i64::MAX)?;
    let events = app.store.audit_events(limit, Some(before)).await?;
    let base = format!("{}/v1/audit", base_url(&headers));
    let next = match events.last() {
        Some(last) => format!("{base}?limit={limit}&before={}", last.id),
        None => format!("{base}?limit={limit}&before={before}"),
    };
    Ok(Json(json!({
        "items": events.iter().map(event_json).collect::<Vec<_>>(),
        "paging": { "first": format!("{base}?limit={limit}"), "next": next },
    })))
}
