//! `/v1/keys`: the account key and domain sending keys. Secrets are shown once.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::{admin, small_form};
use crate::app::{App, ADMIN_KEY_ID};
use crate::crypto::{hash_secret, random_hex};
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
        "is_disabled": false,
        "disabled_reason": Value::Null,
        "domain_name": k.domain_name,
        "requestor": Value::Null,
        "user_name": Value::Null,
    })
}

/// A new secret and the id embedded in it (see `auth::key_id_of`).
pub fn new_secret() -> (String, String) {
    let id = format!("{}-{}", random_hex(4), random_hex(4));
    (format!("{}-{id}", random_hex(16)), id)
}

pub async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    admin(&app, &headers).await?;
    let form = small_form(&headers, body, q.as_deref()).await?;
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
    let expires_at = match form.get("expiration") {
        None => None,
        Some(s) => {
            let secs = s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "expiration {s:?} must be a whole number of seconds above 0"
                ))
            })?;
            Some(now_micros() + secs.saturating_mul(1_000_000))
        }
    };
    let (secret, id) = new_secret();
    let hash = hash_secret(&secret);
    let key = app
        .store
        .insert_api_key(&NewApiKey {
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
        })
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

pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    admin(&app, &headers).await?;
    let form = super::form::Form::from_query(q.as_deref())?;
    let keys = app
        .store
        .api_keys(form.get("domain_name"), form.get("kind"))
        .await?;
    Ok(Json(
        json!({"total_count": keys.len(), "items": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

pub async fn remove(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin(&app, &headers).await?;
    if id == ADMIN_KEY_ID {
        return Err(ApiError::BadRequest(
            "the account key cannot be deleted (you would lock yourself out); set ENVOI_ADMIN_KEY to replace it".into(),
        ));
    }
    if !app.store.delete_api_key(&id).await? {
        return Err(ApiError::NotFound(format!(
            "no key matching id {id:?}: list keys with GET /v1/keys"
        )));
    }
    tracing::info!(key_id = %id, "API key deleted");
    Ok(Json(json!({"message": "key deleted"})))
}
