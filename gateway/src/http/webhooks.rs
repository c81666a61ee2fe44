//! Mailgun's webhooks API: `GET|POST /v3/domains/{domain}/webhooks`,
//! `GET|PUT|DELETE .../webhooks/{id}`, and the account's signing key at
//! `GET|POST /v5/accounts/http_signing_key`. The calls themselves are made
//! by `crate::webhooks`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use policy::webhooks::{Kind, MAX_URLS};
use serde_json::{json, Map, Value};

use super::auth::Admin;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use super::form::Form;
use crate::app::App;
use crate::store::audit::Audit;
use crate::webhooks::signing;

impl From<signing::SigningKeyError> for ApiError {
    fn from(e: signing::SigningKeyError) -> Self {
        match e {
            signing::SigningKeyError::Store(e) => e.into(),
            signing::SigningKeyError::Sealed => {
                tracing::error!(error = %e, "HTTP signing key");
                ApiError::Internal(
                    "the HTTP signing key cannot be read with this master key: \
                     check ENVOI_MASTER_KEY, or regenerate the key with POST /v5/accounts/http_signing_key"
                        .into(),
                )
            }
        }
    }
}

fn kind_of(id: &str) -> ApiResult<Kind> {
    Kind::parse(id).ok_or_else(|| {
        let ids: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::BadRequest(format!(
            "{id:?} is not a webhook id: use one of {}",
            ids.join(", ")
        ))
    })
}

/// The `url` values of a form (repeatable), checked: http(s) with a host,
/// at most three.
fn urls_of(form: &Form) -> ApiResult<Vec<String>> {
    let mut urls: Vec<String> = Vec::new();
    for text in form.texts("url").map(str::trim).filter(|u| !u.is_empty()) {
        let url = reqwest::Url::parse(text).map_err(|e| {
            ApiError::BadRequest(format!(
                "{text} is not a valid url ({e}): give an absolute http:// or https:// URL"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(ApiError::BadRequest(format!(
                "{text} is not a valid url: give an absolute http:// or https:// URL with a host"
            )));
        }
        if !urls.iter().any(|u| u == url.as_str()) {
            urls.push(url.to_string());
        }
    }
    if urls.is_empty() {
        return Err(ApiError::BadRequest(
            "url parameter is missing: give the URL to call (repeat url for up to 3)".into(),
        ));
    }
    if urls.len() > MAX_URLS {
        return Err(ApiError::BadRequest(format!(
            "a webhook takes at most {MAX_URLS} URLs; {} were given",
            urls.len()
        )));
    }
    Ok(urls)
}

fn urls_json(urls: &[String]) -> Value {
    json!({ "urls": urls })
}

/// A webhook changed: the audit trail and the log say so.
async fn changed(app: &App, who: &str, action: &str, kind: Kind, domain: &str) {
    app.audit(&Audit {
        actor: who,
        action,
        target: kind.as_str(),
        domain: Some(domain),
        detail: "",
    })
    .await;
    tracing::info!(domain, webhook = kind.as_str(), action, "webhook changed");
}

#[utoipa::path(
    get,
    path = "/v3/domains/{domain}/webhooks",
    operation_id = "webhooks_list",
    tag = "webhooks",
    summary = "The domain's webhooks: {webhooks: {EVENT: {urls}}}.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let hooks: Map<String, Value> = app
        .store
        .webhooks(d.id)
        .await?
        .into_iter()
        .map(|(kind, urls)| (kind, urls_json(&urls)))
        .collect();
    Ok(Json(json!({ "webhooks": hooks })))
}

#[utoipa::path(
    post,
    path = "/v3/domains/{domain}/webhooks",
    operation_id = "webhooks_create",
    tag = "webhooks",
    summary = "Set the URLs called for an event.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::WebhookForm = "multipart/form-data"),
        (crate::http::openapi::schemas::WebhookForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::WebhookAnswer),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let id = form.get("id").ok_or_else(|| {
        ApiError::BadRequest("id parameter is missing: which webhook, e.g. delivered".into())
    })?;
    let kind = kind_of(id)?;
    let urls = urls_of(&form)?;
    if !app
        .store
        .set_webhook(d.id, kind.as_str(), &urls, true)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "the {} webhook of {} already exists: change its URLs with PUT /v3/domains/{}/webhooks/{}",
            kind.as_str(),
            d.name,
            d.name,
            kind.as_str()
        )));
    }
    changed(&app, who.key_id(), "webhook.created", kind, &d.name).await;
    Ok(Json(
        json!({ "message": "Webhook has been created", "webhook": urls_json(&urls) }),
    ))
}

#[utoipa::path(
    get,
    path = "/v3/domains/{domain}/webhooks/{id}",
    operation_id = "webhooks_get_one",
    tag = "webhooks",
    summary = "The URLs called for an event.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("id" = String, Path, description = "The key id, or the webhook's event."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::WebhookAnswer),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get_one(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&id)?;
    let urls = app
        .store
        .webhook(d.id, kind.as_str())
        .await?
        .ok_or_else(|| not_set(&d.name, kind))?;
    Ok(Json(json!({ "webhook": urls_json(&urls) })))
}

fn not_set(domain: &str, kind: Kind) -> ApiError {
    ApiError::NotFound(format!(
        "the {} webhook of {domain} is not set: create it with POST /v3/domains/{domain}/webhooks",
        kind.as_str()
    ))
}

/// Replaces the URLs (and creates the webhook if it was not set).
#[utoipa::path(
    put,
    path = "/v3/domains/{domain}/webhooks/{id}",
    operation_id = "webhooks_update",
    tag = "webhooks",
    summary = "Replace the URLs called for an event.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("id" = String, Path, description = "The key id, or the webhook's event."),
    ),
    request_body(content(
        (crate::http::openapi::schemas::WebhookForm = "multipart/form-data"),
        (crate::http::openapi::schemas::WebhookForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::WebhookAnswer),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn update(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    Path((_, id)): Path<(String, String)>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&id)?;
    let urls = urls_of(&form)?;
    app.store
        .set_webhook(d.id, kind.as_str(), &urls, false)
        .await?;
    changed(&app, who.key_id(), "webhook.updated", kind, &d.name).await;
    Ok(Json(
        json!({ "message": "Webhook has been updated", "webhook": urls_json(&urls) }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v3/domains/{domain}/webhooks/{id}",
    operation_id = "webhooks_remove",
    tag = "webhooks",
    summary = "Stop calling URLs for an event.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("id" = String, Path, description = "The key id, or the webhook's event."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::WebhookAnswer),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&id)?;
    let urls = app
        .store
        .delete_webhook(d.id, kind.as_str())
        .await?
        .ok_or_else(|| not_set(&d.name, kind))?;
    changed(&app, who.key_id(), "webhook.deleted", kind, &d.name).await;
    Ok(Json(
        json!({ "message": "Webhook has been deleted", "webhook": urls_json(&urls) }),
    ))
}

#[utoipa::path(
    get,
    path = "/v5/accounts/http_signing_key",
    operation_id = "webhooks_signing_key",
    tag = "webhooks",
    summary = "The key webhook calls are signed with: {http_signing_key}.",
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn signing_key(
    State(app): State<App>,
    _admin: Admin,
    _headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let key = signing::key(&app.store, &app.master_key).await?;
    Ok(Json(json!({ "http_signing_key": key })))
}

#[utoipa::path(
    post,
    path = "/v5/accounts/http_signing_key",
    operation_id = "webhooks_regenerate_signing_key",
    tag = "webhooks",
    summary = "A new webhook signing key.",
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn regenerate_signing_key(
    State(app): State<App>,
    Admin(who): Admin,
) -> ApiResult<Json<Value>> {
    let key = signing::regenerate(&app.store, &app.master_key).await?;
    app.audit(&Audit {
        actor: who.key_id(),
        action: "http_signing_key.regenerated",
        target: "http_signing_key",
        domain: None,
        detail: "",
    })
    .await;
    tracing::info!("HTTP signing key regenerated: webhook calls are signed with the new key");
    Ok(Json(json!({
        "message": "regenerated HTTP signing key for account",
        "http_signing_key": key,
    })))
}
