//! `/v1/keys`: the account key and domain sending keys. Secrets are shown once.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Admin;
use super::error::{ApiError, ApiResult};
use super::extract::SmallForm;
use crate::api_keys::{self, new_key_id, new_secret, ADMIN_KEY_ID, DEFAULT_GRACE};
use crate::app::App;
use crate::config::parse_duration;
use crate::crypto::hash_secret;
use crate::store::audit::Audit;
use crate::store::keys::{ApiKey, NewApiKey};
use crate::store::now_micros;
use crate::time::iso8601;

pub fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "description": k.description,
        "kind": k.kind,
        "role": k.role,
        "created_at": iso8601(k.created_at),
        "updated_at": iso8601(k.updated_at),
        "expires_at": k.expires_at.map(iso8601),
        "last_used_at": k.last_used_at.map(iso8601),
        // envoi's own: the last rotation, and until when the secret it
        // replaced works.
        "rotated_at": k.rotated_at.map(iso8601),
        "previous_secret_valid_until": k.previous_valid_until.filter(|&t| t > now_micros()).map(iso8601),
        "is_disabled": false,
        "disabled_reason": Value::Null,
        "domain_name": k.domain_name,
        "requestor": Value::Null,
        "user_name": Value::Null,
    })
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "keys_create",
    tag = "keys",
    summary = "Create an API key; its secret is in this answer only.",
    request_body(content(
        (crate::http::openapi::schemas::CreateKeyForm = "multipart/form-data"),
        (crate::http::openapi::schemas::CreateKeyForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::KeyAnswer),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<App>,
    Admin(who): Admin,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let role = form
        .get("role")
        .ok_or_else(|| ApiError::BadRequest("role parameter is missing: use role=sending (with kind=domain and domain_name) or role=admin".into()))?;
    let domain_name = form.get("domain_name").map(str::to_ascii_lowercase);
    let kind = form.get("kind").unwrap_or(if domain_name.is_some() {
        "domain"
    } else {
        "user"
    });
    match (role, kind) {
        ("sending", "domain") => {
            let name = domain_name.as_deref().ok_or_else(|| {
                ApiError::BadRequest("domain_name parameter is missing: a sending key belongs to one domain".into())
            })?;
            super::domains::find(&app, name).await?;
        }
        ("admin", "user") => {}
        ("sending", other) => {
            return Err(ApiError::BadRequest(format!(
                "kind {other:?} does not go with role sending: use kind=domain and domain_name"
            )))
        }
        (other, _) => {
            return Err(ApiError::BadRequest(format!(
                "role {other:?} is not supported by envoi: use sending (a domain's sending key) or admin (an account key)"
            )))
        }
    }
    let expires_at = expiry(form.get("expiration"), form.get("expires_in"))?;
    let id = new_key_id();
    let secret = new_secret(&id);
    let hash = hash_secret(&secret);
    let key = app
        .store
        .insert_api_key(
            &NewApiKey {
                id: &id,
                secret_hash: &hash,
                role,
                kind,
                domain_name: if kind == "domain" {
                    domain_name.as_deref()
                } else {
                    None
                },
                description: form.get("description").unwrap_or(""),
                expires_at,
            },
            &Audit {
                actor: who.key_id(),
                action: "key.created",
                target: &id,
                domain: domain_name.as_deref().filter(|_| kind == "domain"),
                detail: role,
            },
        )
        .await?;
    tracing::info!(key_id = %key.id, role, kind, domain = ?key.domain_name, "API key created");
    let mut k = key_json(&key);
    k["secret"] = json!(secret);
    // The OAS shape nests the key; mailgun.js reads it flat: give both.
    let mut body = k.clone();
    body["message"] = json!("great success");
    body["key"] = k;
    Ok(Json(body))
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "keys_list",
    tag = "keys",
    summary = "List API keys (never their secrets).",
    params(
        ("domain_name" = Option<String>, Query, description = "Only the keys of this domain."),
        ("kind" = Option<String>, Query, description = "domain or user."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::KeyList),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    _admin: Admin,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = super::form::Form::from_query(q.as_deref())?;
    let keys = app
        .store
        .api_keys(form.get("domain_name"), form.get("kind"))
        .await?;
    Ok(Json(
        json!({"total_count": keys.len(), "items": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    operation_id = "keys_remove",
    tag = "keys",
    summary = "Delete an API key.",
    params(("id" = String, Path, description = "The key id, or the webhook's event.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    Admin(who): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if id == ADMIN_KEY_ID {
        return Err(ApiError::BadRequest(
            "the account key cannot be deleted (you would lock yourself out); rotate it with POST /v1/keys/admin/rotate or `envoi rotate-admin-key`".into(),
        ));
    }
    let audit = Audit {
        actor: who.key_id(),
        action: "key.deleted",
        target: &id,
        domain: None,
        detail: "",
    };
    if !app.store.delete_api_key(&id, &audit).await? {
        return Err(ApiError::NotFound(format!(
            "no key matching id {id:?}: list keys with GET /v1/keys"
        )));
    }
    tracing::info!(key_id = %id, "API key deleted");
    Ok(Json(json!({"message": "key deleted"})))
}

/// `expiration` (Mailgun: seconds) or `expires_in` (envoi's own: a duration
/// such as "30d", or seconds) to an absolute time.
fn expiry(expiration: Option<&str>, expires_in: Option<&str>) -> ApiResult<Option<i64>> {
    let (field, value) = match (expiration, expires_in) {
        (None, None) => return Ok(None),
        (Some(v), _) => ("expiration", v),
        (None, Some(v)) => ("expires_in", v),
    };
    let secs = match value.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) if field == "expires_in" => parse_duration(value).ok().map(|d| d.as_secs()),
        Err(_) => None,
    };
    let secs = secs.filter(|n| *n > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{field} {value:?} must be a whole number of seconds above 0{}",
            if field == "expires_in" {
                ", or a duration such as \"30d\""
            } else {
                ""
            }
        ))
    })?;
    Ok(Some(
        now_micros().saturating_add((secs as i64).saturating_mul(1_000_000)),
    ))
}

/// `grace`: how long a replaced secret keeps working (default 24h).
pub fn grace(field: Option<&str>) -> ApiResult<std::time::Duration> {
    match field {
        None => Ok(DEFAULT_GRACE),
        Some(g) => parse_duration(g).map_err(|e| {
            ApiError::BadRequest(format!(
                "grace {g:?}: {e}; give how long the old secret keeps working, such as \"24h\", or \"0s\" to stop it at once"
            ))
        }),
    }
}

/// `POST /v1/keys/{id}/rotate` (envoi's own): a new secret, shown once; the
/// old one works for `grace` more (default 24h, "0s" = stops at once).
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/rotate",
    operation_id = "keys_rotate",
    tag = "keys",
    summary = "Give a key a new secret (shown once); the old one works for the grace period.",
    params(("id" = String, Path, description = "The key id, or the webhook's event.")),
    request_body(content(
        (crate::http::openapi::schemas::RotateForm = "multipart/form-data"),
        (crate::http::openapi::schemas::RotateForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::KeyAnswer),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn rotate(
    State(app): State<App>,
    Admin(who): Admin,
    Path(id): Path<String>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let grace = grace(form.get("grace"))?;
    let (secret, key) = api_keys::rotate(&app.store, &id, grace, who.key_id())
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no key matching id {id:?}: list keys with GET /v1/keys"
            ))
        })?;
    tracing::info!(key_id = %key.id, grace = %humantime::format_duration(grace), by = who.key_id(), "API key rotated");
    let mut k = key_json(&key);
    k["secret"] = json!(secret);
    let mut body = k.clone();
    body["message"] = json!("key rotated");
    body["key"] = k;
    Ok(Json(body))
}
