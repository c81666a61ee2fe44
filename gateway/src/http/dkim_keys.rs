//! Mailgun's DKIM key management: create or import keys, list, delete,
//! activate (once the record is in DNS) and deactivate. Private keys are
//! sealed at rest and never returned.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use signer::{KeySpec, PrivateKey};

use super::auth::Admin;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use super::form::Form;
use crate::app::App;
use crate::dkim;
use crate::store::domains::{DkimKeyRow, KeyChange};

/// The key to make, from the form's algorithm and size fields (their names
/// differ between endpoints); RSA 2048 when neither is given.
pub fn key_spec(form: &Form, algorithm_field: &str, bits_field: &str) -> ApiResult<KeySpec> {
    let algorithm = match form.get(algorithm_field) {
        None => signer::Algorithm::Rsa,
        Some(a) => signer::Algorithm::parse(a).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{algorithm_field} {a:?} is not supported: use rsa or ed25519"
            ))
        })?,
    };
    Ok(match algorithm {
        signer::Algorithm::Ed25519 => KeySpec::Ed25519,
        signer::Algorithm::Rsa => KeySpec::Rsa {
            bits: match form.get(bits_field) {
                None => 2048,
                Some(s) => s
                    .parse::<usize>()
                    .ok()
                    .filter(|b| signer::keys::RSA_SIZES.contains(b))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{bits_field} {s:?} is not supported: use 1024, 2048 or 4096"
                        ))
                    })?,
            },
        },
    })
}

/// Generates a key off the async threads (RSA takes a while).
pub async fn generate(spec: KeySpec) -> ApiResult<PrivateKey> {
    tokio::task::spawn_blocking(move || PrivateKey::generate(spec))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Mailgun's words, then which key and how to see the ones that exist.
fn key_not_found(domain: &str, selector: &str) -> ApiError {
    ApiError::NotFound(format!(
        "domain key not found: {domain} has no key with selector {selector:?}; list its keys with GET /v4/domains/{domain}/keys"
    ))
}

/// Mailgun's DNS record object of a key.
pub fn dns_record(domain: &str, selector: &str, value: &str, active: bool) -> Value {
    json!({
        "name": signer::dns::dkim_record_name(selector, domain),
        "record_type": "TXT",
        "value": value,
        "valid": "unknown",
        "cached": [],
        "is_active": active,
    })
}

fn key_json(domain: &str, k: &DkimKeyRow) -> Value {
    json!({
        "signing_domain": domain,
        "selector": k.selector,
        "algorithm": k.algorithm,
        "bits": k.bits,
        "active": k.active,
        "replaces": k.replaces,
        "created_at": crate::time::rfc2822(k.created_at),
        "dns_record": dns_record(domain, &k.selector, &k.dns_value, k.active),
    })
}

/// `POST /v1/dkim/keys`: `signing_domain`, `selector`, and either `pem` (a
/// file or a string, to import) or `bits` / `algorithm` to generate. The new
/// key starts inactive: activate it once its record is published.
#[utoipa::path(
    post,
    path = "/v1/dkim/keys",
    operation_id = "dkim_keys_create",
    tag = "dkim",
    summary = "Add a DKIM key (generated, or imported as PEM) to a domain.",
    request_body(content(
        (crate::http::openapi::schemas::DkimKeyForm = "multipart/form-data"),
        (crate::http::openapi::schemas::DkimKeyForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<App>,
    Admin(who): Admin,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let domain_name = form
        .get("signing_domain")
        .ok_or_else(|| {
            ApiError::BadRequest(
                "signing_domain is missing: name the domain the key signs for".into(),
            )
        })?
        .to_ascii_lowercase();
    let selector = form
        .get("selector")
        .ok_or_else(|| ApiError::BadRequest("selector is missing: e.g. selector=k2".into()))?
        .to_string();
    if !dkim::valid_selector(&selector) {
        return Err(ApiError::BadRequest(format!(
            "selector {selector:?} is not valid: use letters, digits and hyphens (dots between labels)"
        )));
    }
    let domain = super::domains::find(&app, &domain_name).await?;
    let taken = || {
        ApiError::Conflict(format!(
            "domain {} already has a key with selector {selector}: pick another selector or delete that key first",
            domain.name
        ))
    };
    // Checked before generating: a key can take seconds to make.
    if app
        .store
        .dkim_keys(domain.id)
        .await?
        .iter()
        .any(|k| k.selector == selector)
    {
        return Err(taken());
    }
    let pem: Option<String> = match form.get("pem") {
        Some(text) => Some(text.to_string()),
        None => form
            .files("pem")
            .next()
            .map(|f| String::from_utf8_lossy(&f.data).into_owned()),
    };
    let key = match pem {
        Some(pem) => {
            PrivateKey::from_pem(&pem).map_err(|e| ApiError::BadRequest(format!("pem: {e}")))?
        }
        None => generate(key_spec(&form, "algorithm", "bits")?).await?,
    };
    let sealed = dkim::SealedKey::new(&app.master_key, &domain.name, &selector, &key);
    let new = sealed.row(false, None);
    if !app.store.add_dkim_key(domain.id, &new).await? {
        return Err(taken());
    }
    app.audit(&dkim_audit(
        &who,
        "dkim_key.created",
        &selector,
        &domain.name,
    ))
    .await;
    tracing::info!(domain = %domain.name, selector = %selector, algorithm = key.algorithm.as_str(), bits = key.bits, "DKIM key added (inactive until activated)");
    Ok(Json(json!({
        "signing_domain": domain.name,
        "selector": selector,
        "dns_record": dns_record(&domain.name, &selector, &sealed.dns_value, false),
    })))
}

/// `GET /v1/dkim/keys` (`signing_domain`, `selector` filters).
#[utoipa::path(
    get,
    path = "/v1/dkim/keys",
    operation_id = "dkim_keys_list",
    tag = "dkim",
    summary = "List DKIM keys.",
    params(
        ("signing_domain" = Option<String>, Query, description = "Only this domain's keys."),
        ("selector" = Option<String>, Query, description = "Only this selector."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Items),
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
        .all_dkim_keys(form.get("signing_domain"), form.get("selector"))
        .await?;
    let items: Vec<Value> = keys.iter().map(|(d, k)| key_json(d, k)).collect();
    Ok(Json(json!({ "items": items, "paging": {} })))
}

/// `DELETE /v1/dkim/keys?signing_domain=&selector=`.
#[utoipa::path(
    delete,
    path = "/v1/dkim/keys",
    operation_id = "dkim_keys_remove",
    tag = "dkim",
    summary = "Delete a DKIM key (signing_domain and selector in the query).",
    params(
        ("signing_domain" = Option<String>, Query, description = "The key's domain."),
        ("selector" = Option<String>, Query, description = "The key's selector."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    Admin(who): Admin,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = super::form::Form::from_query(q.as_deref())?;
    let (Some(domain), Some(selector)) = (form.get("signing_domain"), form.get("selector")) else {
        return Err(ApiError::BadRequest(
            "signing_domain and selector are required query parameters".into(),
        ));
    };
    let d = super::domains::find(&app, domain).await?;
    match app.store.delete_dkim_key(d.id, selector).await? {
        KeyChange::Done => {
            app.bump_dkim_generation();
            app.audit(&dkim_audit(&who, "dkim_key.deleted", selector, &d.name))
                .await;
            Ok(Json(json!({ "message": "success" })))
        }
        KeyChange::NotFound => Err(key_not_found(&d.name, selector)),
        KeyChange::LastActive => Err(ApiError::BadRequest(
            "cannot delete domain key: must have at least one active domain key".into(),
        )),
    }
}

/// `GET /v4/domains/{name}/keys`.
#[utoipa::path(
    get,
    path = "/v4/domains/{domain}/keys",
    operation_id = "dkim_keys_of_domain",
    tag = "dkim",
    summary = "A domain's DKIM keys.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Items),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn of_domain(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let keys = app.store.dkim_keys(d.id).await?;
    let items: Vec<Value> = keys.iter().map(|k| key_json(&d.name, k)).collect();
    Ok(Json(json!({ "items": items })))
}

/// `PUT /v4/domains/{name}/keys/{selector}/activate`: refused until the
/// record is published (the TXT in DNS carries this key), unless `force=true`.
#[utoipa::path(
    put,
    path = "/v4/domains/{domain}/keys/{selector}/activate",
    operation_id = "dkim_keys_activate",
    tag = "dkim",
    summary = "Sign with this key.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("selector" = String, Path, description = "The DKIM selector."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn activate(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    Path((_, selector)): Path<(String, String)>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let force = form.bool("force")?.unwrap_or(false);
    let key = app
        .store
        .dkim_keys(d.id)
        .await?
        .into_iter()
        .find(|k| k.selector == selector)
        .ok_or_else(|| key_not_found(&d.name, selector.as_ref()))?;
    if !force {
        let record = signer::dns::dkim_record_name(&selector, &d.name);
        if let Err(seen) =
            crate::dns_check::published(&app.config.delivery, &record, &key.dns_value).await
        {
            return Err(ApiError::BadRequest(format!(
                "the DKIM record for selector {selector} is not published yet: DNS has {seen} at {record}; publish TXT \"{}\" there, or pass force=true",
                key.dns_value
            )));
        }
    }
    match app.store.set_dkim_key_active(d.id, &selector, true).await? {
        KeyChange::Done => {}
        _ => return Err(key_not_found(&d.name, selector.as_ref())),
    }
    app.bump_dkim_generation();
    app.audit(&dkim_audit(&who, "dkim_key.activated", &selector, &d.name))
        .await;
    tracing::info!(domain = %d.name, selector = %selector, force, "DKIM key activated");
    Ok(Json(json!({
        "message": "domain key activated",
        "authority": d.name,
        "selector": selector,
        "active": true,
    })))
}

/// `PUT /v4/domains/{name}/keys/{selector}/deactivate`.
#[utoipa::path(
    put,
    path = "/v4/domains/{domain}/keys/{selector}/deactivate",
    operation_id = "dkim_keys_deactivate",
    tag = "dkim",
    summary = "Stop signing with this key.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("selector" = String, Path, description = "The DKIM selector."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn deactivate(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    Path((_, selector)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    match app
        .store
        .set_dkim_key_active(d.id, &selector, false)
        .await?
    {
        KeyChange::Done => {}
        KeyChange::NotFound => return Err(key_not_found(&d.name, selector.as_ref())),
        KeyChange::LastActive => {
            return Err(ApiError::BadRequest(
                "cannot deactivate domain key: must have at least one active domain key".into(),
            ))
        }
    }
    app.bump_dkim_generation();
    app.audit(&dkim_audit(
        &who,
        "dkim_key.deactivated",
        &selector,
        &d.name,
    ))
    .await;
    Ok(Json(json!({
        "message": "domain key deactivated",
        "authority": d.name,
        "selector": selector,
        "active": false,
    })))
}

fn dkim_audit<'a>(
    who: &'a super::auth::Principal,
    action: &'a str,
    selector: &'a str,
    domain: &'a str,
) -> crate::store::audit::Audit<'a> {
    crate::store::audit::Audit {
        actor: who.key_id(),
        action,
        target: selector,
        domain: Some(domain),
        detail: "",
    }
}
