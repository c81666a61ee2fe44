//! Mailgun's automatic sender security rotation:
//! `POST /v1/dkim_management/domains/{name}/rotate` (now) and
//! `PUT /v1/dkim_management/domains/{name}/rotation` (on a schedule). The
//! work is in `crate::dkim::rotation`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use crate::app::App;
use crate::dkim::rotation::{self, RotateError, MIN_INTERVAL};
use crate::store::domains::Domain;

impl From<RotateError> for ApiError {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::Store(e) => e.into(),
            RotateError::AlreadyPending { .. } => ApiError::Conflict(e.to_string()),
            RotateError::NoActiveKey { .. } => ApiError::BadRequest(e.to_string()),
            RotateError::Generate { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

/// `POST …/rotate`: new keys now, each activated once its record is seen.
/// Mailgun answers `{"message":"ok"}`; envoi adds the records to publish.
#[utoipa::path(
    post,
    path = "/v1/dkim_management/domains/{domain}/rotate",
    operation_id = "dkim_rotation_rotate",
    tag = "dkim",
    summary = "Rotate now: a new key is published first, signs once its record is seen.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn rotate(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let made = rotation::rotate(&app.store, &app.master_key, &d, who.key_id()).await?;
    let keys: Vec<Value> = made
        .iter()
        .map(|k| {
            json!({
                "selector": k.selector,
                "replaces": k.replaces,
                "dns_record": super::dkim_keys::dns_record(&d.name, &k.selector, &k.value, false),
            })
        })
        .collect();
    Ok(Json(json!({ "message": "ok", "keys": keys })))
}

/// `PUT …/rotation`: `rotation_enabled`, `rotation_interval` (≥ 5d).
#[utoipa::path(
    put,
    path = "/v1/dkim_management/domains/{domain}/rotation",
    operation_id = "dkim_rotation_schedule",
    tag = "dkim",
    summary = "Rotate automatically every interval.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::RotationForm = "multipart/form-data"),
        (crate::http::openapi::schemas::RotationForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn schedule(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let enabled = form
        .bool("rotation_enabled")?
        .unwrap_or(d.dkim_rotation_enabled);
    let interval = match form.get("rotation_interval") {
        Some(text) => {
            let i = crate::config::parse_duration(text).map_err(|e| {
                ApiError::BadRequest(format!("rotation_interval {text:?}: {e} (e.g. \"30d\")"))
            })?;
            if i < MIN_INTERVAL {
                return Err(ApiError::BadRequest(format!(
                    "rotation_interval {text:?} is too short: the minimum is 5d"
                )));
            }
            i.as_secs() as i64
        }
        None if d.dkim_rotation_interval > 0 => d.dkim_rotation_interval,
        None => MIN_INTERVAL.as_secs() as i64,
    };
    app.store.set_dkim_rotation(d.id, enabled, interval).await?;
    tracing::info!(domain = %d.name, enabled, interval_secs = interval, "DKIM rotation schedule set");
    // Read again: the answer shows the schedule as stored.
    let d = super::domains::find(&app, &d.name).await?;
    Ok(Json(json!({ "domain": domain_json(&app, &d).await? })))
}

/// Mailgun's rotation view of a domain: the selector in use, the schedule,
/// and the DKIM records (active keys, and rotated keys still to publish).
async fn domain_json(app: &App, d: &Domain) -> ApiResult<Value> {
    let keys = app.store.dkim_keys(d.id).await?;
    let records: Vec<Value> = keys
        .iter()
        .filter(|k| k.active || k.replaces.is_some())
        .map(|k| {
            let comment = match &k.replaces {
                Some(old) => format!("rotation: publish this to replace {old}"),
                None => "active".to_string(),
            };
            json!({
                "name": signer::dns::dkim_record_name(&k.selector, &d.name),
                "type": "TXT",
                "identifier": "DKIM",
                "value": k.dns_value,
                "comment": comment,
            })
        })
        .collect();
    Ok(json!({
        "id": d.id.to_string(),
        "name": d.name,
        "state": d.state.as_str(),
        "active_selector": d.dkim_selector,
        "rotation_enabled": d.dkim_rotation_enabled,
        "rotation_interval": interval_text(d.dkim_rotation_interval),
        "records": records,
    }))
}

/// `5d` when a whole number of days, seconds otherwise.
fn interval_text(secs: i64) -> String {
    if secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else {
        format!("{secs}s")
    }
}
