//! Mailgun's SMTP credentials, `/v3/domains/{domain}/credentials`: a login
//! per sender of a domain; passwords are kept only as Argon2id hashes.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use crate::app::App;
use crate::crypto::{hash_password, random_hex};
use crate::store::audit::Audit;
use crate::store::domains::Domain;
use crate::store::now_micros;

/// `alice` or `alice@domain` → `alice@domain`, lower case.
fn full_login(d: &Domain, login: &str) -> ApiResult<String> {
    let login = login.trim().to_ascii_lowercase();
    let full = if login.contains('@') {
        login
    } else {
        format!("{login}@{}", d.name)
    };
    let in_domain = full.rsplit_once('@').is_some_and(|(_, dom)| dom == d.name);
    if !in_domain || !crate::compose::address::valid_addr(&full) {
        return Err(ApiError::BadRequest(format!(
            "login {full:?} is not valid: use a name or name@{}",
            d.name
        )));
    }
    Ok(full)
}

/// Mailgun's rule, and its words.
pub fn check_password(p: &str) -> ApiResult<()> {
    if !(5..=32).contains(&p.chars().count()) {
        return Err(ApiError::BadRequest(
            "Password is too short. It must be between 5 and 32 characters.".into(),
        ));
    }
    Ok(())
}

/// Hashing is deliberately slow: off the async threads.
pub async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Adds a login; used by the credentials API and by domain creation.
/// `actor`: the key id making the change (audit).
pub async fn add(app: &App, d: &Domain, login: &str, password: &str, actor: &str) -> ApiResult<()> {
    let hashed = hash(password.to_string()).await?;
    let audit = audit(actor, "credential.created", login, d);
    if !app
        .store
        .add_credential(d.id, login, &hashed, &audit)
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "credentials for {login} already exist: change the password with PUT /v3/domains/{}/credentials/{login}",
            d.name
        )));
    }
    tracing::info!(domain = %d.name, %login, "SMTP credentials created");
    Ok(())
}

/// `POST`: `login` (repeatable), `password` (generated when absent).
#[utoipa::path(
    post,
    path = "/v3/domains/{domain}/credentials",
    operation_id = "credentials_create",
    tag = "smtp",
    summary = "Create SMTP credentials login@domain (a generated password is shown once).",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::CredentialForm = "multipart/form-data"),
        (crate::http::openapi::schemas::CredentialForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let logins: Vec<String> = form
        .texts("login")
        .map(|l| full_login(&d, l))
        .collect::<ApiResult<_>>()?;
    if logins.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "login parameter is missing: e.g. login=alice (becomes alice@{})",
            d.name
        )));
    }
    let given = form.get("password").map(str::to_string);
    if let Some(p) = &given {
        check_password(p)?;
    }
    let mut generated = serde_json::Map::new();
    for login in &logins {
        let password = given.clone().unwrap_or_else(|| random_hex(12));
        add(&app, &d, login, &password, who.key_id()).await?;
        if given.is_none() {
            generated.insert(login.clone(), Value::String(password));
        }
    }
    let mut out = json!({ "message": format!("Created {} credentials pair(s)", logins.len()) });
    if !generated.is_empty() {
        out["note"] = json!("the generated passwords are shown only this once");
        out["credentials"] = Value::Object(generated);
    }
    Ok(Json(out))
}

/// `GET` (`skip`, `limit`).
#[utoipa::path(
    get,
    path = "/v3/domains/{domain}/credentials",
    operation_id = "credentials_list",
    tag = "smtp",
    summary = "List SMTP credentials.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Items),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = super::form::Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 100, 1000)? as usize;
    let skip = form.number("skip", 0, i64::MAX)? as usize;
    let all = app.store.credentials(d.id).await?;
    let items: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(limit)
        .map(|c| {
            json!({
                "mailbox": c.login,
                "login": c.login,
                "created_at": crate::time::rfc2822(c.created_at),
                "size_bytes": Value::Null,
                // envoi's own: the last successful SMTP login, if any.
                "last_used_at": c.last_used_at.map(crate::time::rfc2822),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "total_count": all.len() })))
}

/// `PUT …/{login}`: a new `password`.
#[utoipa::path(
    put,
    path = "/v3/domains/{domain}/credentials/{login}",
    operation_id = "credentials_change_password",
    tag = "smtp",
    summary = "Change a credential's password; the old one works for the grace period.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("login" = String, Path, description = "The login, login@domain."),
    ),
    request_body(content(
        (crate::http::openapi::schemas::PasswordForm = "multipart/form-data"),
        (crate::http::openapi::schemas::PasswordForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn change_password(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    Path((_, login)): Path<(String, String)>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let login = full_login(&d, &login)?;
    let grace = super::keys::grace(form.get("grace"))?;
    let password = form.get("password").ok_or_else(|| {
        ApiError::BadRequest("password parameter is missing: send the new password".into())
    })?;
    check_password(password)?;
    let hashed = hash(password.to_string()).await?;
    let until = policy::secrets::grace_end(now_micros(), grace.as_micros() as i64);
    let detail = format!("grace {}", humantime::format_duration(grace));
    let audit = Audit {
        detail: &detail,
        ..audit(who.key_id(), "credential.password_changed", &login, &d)
    };
    if !app
        .store
        .set_credential_password(d.id, &login, &hashed, until, &audit)
        .await?
    {
        return Err(not_found(&d, &login));
    }
    tracing::info!(domain = %d.name, %login, grace = %humantime::format_duration(grace), "SMTP password changed");
    Ok(Json(json!({
        "message": "Password changed",
        // envoi's own: until when the old password still works.
        "previous_password_valid_until": crate::time::rfc2822(until),
    })))
}

/// `DELETE …/{login}`.
#[utoipa::path(
    delete,
    path = "/v3/domains/{domain}/credentials/{login}",
    operation_id = "credentials_remove",
    tag = "smtp",
    summary = "Delete an SMTP credential.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("login" = String, Path, description = "The login, login@domain."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
    Path((_, login)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let login = full_login(&d, &login)?;
    let audit = audit(who.key_id(), "credential.deleted", &login, &d);
    if app
        .store
        .delete_credentials(d.id, Some(&login), &audit)
        .await?
        == 0
    {
        return Err(not_found(&d, &login));
    }
    tracing::info!(domain = %d.name, %login, "SMTP credentials deleted");
    Ok(Json(
        json!({ "message": "Credentials have been deleted", "spec": login }),
    ))
}

/// `DELETE` (all of the domain's).
#[utoipa::path(
    delete,
    path = "/v3/domains/{domain}/credentials",
    operation_id = "credentials_remove_all",
    tag = "smtp",
    summary = "Delete every SMTP credential of the domain.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove_all(
    State(app): State<App>,
    AdminDomain { who, domain: d }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let audit = audit(who.key_id(), "credential.deleted", "*", &d);
    let count = app.store.delete_credentials(d.id, None, &audit).await?;
    Ok(Json(
        json!({ "message": "All domain credentials have been deleted", "count": count }),
    ))
}

fn audit<'a>(actor: &'a str, action: &'a str, login: &'a str, d: &'a Domain) -> Audit<'a> {
    Audit {
        actor,
        action,
        target: login,
        domain: Some(&d.name),
        detail: "",
    }
}

fn not_found(d: &Domain, login: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no SMTP credentials {login} in {}: list them with GET /v3/domains/{}/credentials",
        d.name, d.name
    ))
}
