//! `/v4/domains` and Mailgun's v3 family (`/v3/domains`, the same shapes),
//! and the legacy `/v3/domains/{name}/connection`.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Admin;
use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use crate::app::App;
use crate::compose::address::valid_addr;
use crate::dkim;
use crate::store::audit::Audit;
use crate::store::domains::{DkimKeyRow, Domain, DomainState, DomainUpdate, NewDomain, SpamAction};
use crate::time::rfc2822;

pub fn domain_json(d: &Domain) -> Value {
    json!({
        "id": format!("{:024x}", d.id),
        "name": d.name,
        "created_at": rfc2822(d.created_at),
        "state": d.state.as_str(),
        "type": "custom",
        "is_disabled": d.state == DomainState::Disabled,
        "disabled": Value::Null,
        "require_tls": d.require_tls,
        "skip_verification": d.skip_verification,
        "smtp_login": format!("postmaster@{}", d.name),
        "spam_action": d.spam_action.as_str(),
        "wildcard": d.wildcard,
        "web_scheme": d.web_scheme,
        "web_prefix": d.web_prefix,
        "from_policy": d.from_policy.as_str(),
        "use_automatic_sender_security": false,
        "encrypt_incoming_message": false,
        "message_ttl": 259200,
    })
}

pub(super) fn record(kind: &str, name: &str, value: &str) -> Value {
    json!({"record_type": kind, "name": name, "value": value, "valid": "unknown", "is_active": true, "cached": []})
}

pub fn sending_records(app: &App, d: &Domain, keys: &[DkimKeyRow]) -> Vec<Value> {
    crate::dns_records::sending(&app.config, &d.name, keys)
        .iter()
        .map(|r| record(r.kind(), &r.name, &r.value))
        .collect()
}

/// Mailgun's receiving records: here the return-path host's MX at envoi.
pub fn receiving_records(app: &App, d: &Domain) -> Vec<Value> {
    crate::dns_records::receiving(&app.config, &d.name)
        .iter()
        .map(|r| {
            let mut v = record(r.kind(), &r.name, &r.value);
            v["priority"] = json!("10");
            v
        })
        .collect()
}

async fn full(app: &App, d: &Domain, message: Option<&str>) -> ApiResult<Json<Value>> {
    let keys = app.store.dkim_keys(d.id).await?;
    let mut body = json!({
        "domain": domain_json(d),
        "sending_dns_records": sending_records(app, d, &keys),
        "receiving_dns_records": receiving_records(app, d),
    });
    if let Some(m) = message {
        body["message"] = json!(m);
    }
    Ok(Json(body))
}

pub fn valid_domain_name(name: &str) -> bool {
    valid_addr(&format!("x@{name}")) && name.is_ascii()
}

#[utoipa::path(
    post,
    path = "/v4/domains",
    operation_id = "domains_create",
    tag = "domains",
    summary = "Create a sending domain with its DKIM key; answers the DNS records to publish.",
    request_body(content(
        (crate::http::openapi::schemas::CreateDomainForm = "multipart/form-data"),
        (crate::http::openapi::schemas::CreateDomainForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::DomainWithRecords),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<App>,
    Admin(who): Admin,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let name = form
        .get("name")
        .ok_or_else(|| ApiError::BadRequest("name parameter is missing: give the domain name to send from, e.g. name=mg.example.com".into()))?
        .to_ascii_lowercase();
    if !valid_domain_name(&name) {
        return Err(ApiError::BadRequest(format!(
            "{name:?} is not a valid domain name: use a host name like mg.example.com"
        )));
    }
    let spec = super::dkim_keys::key_spec(&form, "dkim_algorithm", "dkim_key_size")?;
    let selector = form.get("dkim_selector").unwrap_or("k1").to_string();
    if !dkim::valid_selector(&selector) {
        return Err(ApiError::BadRequest(format!(
            "dkim_selector {selector:?} is not valid: use letters, digits and hyphens (dots between labels)"
        )));
    }
    if let Some(p) = form.get("smtp_password") {
        super::credentials::check_password(p)?;
    }
    let spam_action: SpamAction = form
        .get("spam_action")
        .unwrap_or("disabled")
        .parse()
        .map_err(|e| ApiError::BadRequest(format!("spam_action {e}")))?;
    let web_scheme = form.get("web_scheme").unwrap_or("https").to_string();
    if !["http", "https"].contains(&web_scheme.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "web_scheme {web_scheme:?} is not valid: use http or https"
        )));
    }
    let require_tls = form.bool("require_tls")?.unwrap_or(false);
    let skip_verification = form.bool("skip_verification")?.unwrap_or(false);
    let wildcard = form.bool("wildcard")?.unwrap_or(false);
    if app.store.domain(&name).await?.is_some() {
        return Err(ApiError::BadRequest(format!(
            "Domain name {name} is already taken"
        )));
    }

    let key = super::dkim_keys::generate(spec).await?;
    let sealed = dkim::SealedKey::new(&app.master_key, &name, &selector, &key);
    let new_key = sealed.row(true, None);
    let new = NewDomain {
        name: &name,
        require_tls,
        skip_verification,
        spam_action,
        wildcard,
        web_scheme: &web_scheme,
        web_prefix: form.get("web_prefix").unwrap_or("email"),
    };
    let domain = app
        .store
        .create_domain(&new, &new_key)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("Domain name {name} is already taken")))?;
    app.audit(&Audit {
        actor: who.key_id(),
        action: "dkim_key.created",
        target: &selector,
        domain: Some(&name),
        detail: "with the domain",
    })
    .await;
    tracing::info!(domain = %name, selector = %selector, algorithm = key.algorithm.as_str(), bits = key.bits, "domain created");
    // Mailgun's smtp_login is postmaster@domain; its password is smtp_password.
    if let Some(p) = form.get("smtp_password") {
        super::credentials::add(
            &app,
            &domain,
            &format!("postmaster@{name}"),
            p,
            who.key_id(),
        )
        .await?;
    }
    full(&app, &domain, Some("Domain DNS records have been created")).await
}

#[utoipa::path(
    get,
    path = "/v4/domains",
    operation_id = "domains_list",
    tag = "domains",
    summary = "List domains.",
    params(
        ("limit" = Option<i64>, Query, description = "At most this many (default 100)."),
        ("skip" = Option<i64>, Query, description = "Skip this many."),
        ("state" = Option<String>, Query, description = "Only domains in this state: unverified, active, disabled."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::DomainList),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    _admin: Admin,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = super::form::Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 100, 1000)?;
    let skip = form.number("skip", 0, i64::MAX)?;
    let (domains, total) = app.store.domains(limit, skip, form.get("state")).await?;
    Ok(Json(
        json!({"total_count": total, "items": domains.iter().map(domain_json).collect::<Vec<_>>()}),
    ))
}

pub async fn find(app: &App, name: &str) -> ApiResult<Domain> {
    app.store
        .domain(&name.to_ascii_lowercase())
        .await?
        .ok_or_else(|| ApiError::domain_not_found(name))
}

#[utoipa::path(
    get,
    path = "/v4/domains/{domain}",
    operation_id = "domains_get_one",
    tag = "domains",
    summary = "A domain with its DNS records.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::DomainWithRecords),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get_one(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    full(&app, &d, None).await
}

fn update_from(form: &super::form::Form) -> ApiResult<DomainUpdate> {
    let mut u = DomainUpdate {
        require_tls: form.bool("require_tls")?.or(form.bool("require-tls")?),
        skip_verification: form
            .bool("skip_verification")?
            .or(form.bool("skip-verification")?),
        wildcard: form.bool("wildcard")?,
        ..Default::default()
    };
    if let Some(s) = form.get("spam_action") {
        let action = s
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("spam_action {e}")))?;
        u.spam_action = Some(action);
    }
    if let Some(s) = form.get("web_scheme") {
        if !["http", "https"].contains(&s) {
            return Err(ApiError::BadRequest(format!(
                "web_scheme {s:?} is not valid: use http or https"
            )));
        }
        u.web_scheme = Some(s.to_string());
    }
    u.web_prefix = form.get("web_prefix").map(str::to_string);
    if let Some(p) = form.get("from_policy") {
        u.from_policy = Some(p.parse().map_err(|e: policy::sender::UnknownPolicy| {
            ApiError::BadRequest(format!(
                "{e}: aligned lets this domain send from its own addresses and its subdomains', any from any domain not registered in this envoi"
            ))
        })?);
    }
    Ok(u)
}

#[utoipa::path(
    put,
    path = "/v4/domains/{domain}",
    operation_id = "domains_update",
    tag = "domains",
    summary = "Change a domain's settings.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::UpdateDomainForm = "multipart/form-data"),
        (crate::http::openapi::schemas::UpdateDomainForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::DomainWithRecords),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn update(
    State(app): State<App>,
    _admin: Admin,
    Path(name): Path<String>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let u = update_from(&form)?;
    let d = app
        .store
        .update_domain(&name.to_ascii_lowercase(), &u)
        .await?
        .ok_or_else(|| ApiError::domain_not_found(&name))?;
    full(&app, &d, Some("Domain has been updated")).await
}

#[utoipa::path(
    delete,
    path = "/v4/domains/{domain}",
    operation_id = "domains_remove",
    tag = "domains",
    summary = "Delete a domain, its keys, credentials and queued mail.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let name = name.to_ascii_lowercase();
    if !app.store.delete_domain(&name).await? {
        return Err(ApiError::domain_not_found(&name));
    }
    // Its DKIM keys, SMTP credentials and sending keys went with it.
    app.audit(&Audit {
        actor: who.key_id(),
        action: "domain.deleted",
        target: &name,
        domain: Some(&name),
        detail: "with its DKIM keys, SMTP credentials, IP allowlist and sending keys",
    })
    .await;
    tracing::info!(domain = %name, "domain deleted");
    Ok(Json(json!({"message": "Domain has been deleted"})))
}

#[utoipa::path(
    get,
    path = "/v3/domains/{domain}/connection",
    operation_id = "domains_get_connection",
    tag = "domains",
    summary = "The TLS settings of the domain's deliveries: {connection: {require_tls, skip_verification}}.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get_connection(
    State(_app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"connection": {"require_tls": d.require_tls, "skip_verification": d.skip_verification}}),
    ))
}

#[utoipa::path(
    put,
    path = "/v3/domains/{domain}/connection",
    operation_id = "domains_put_connection",
    tag = "domains",
    summary = "Change the TLS settings of the domain's deliveries.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::ConnectionForm = "multipart/form-data"),
        (crate::http::openapi::schemas::ConnectionForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn put_connection(
    State(app): State<App>,
    _admin: Admin,
    Path(name): Path<String>,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let u = DomainUpdate {
        require_tls: form.bool("require_tls")?.or(form.bool("require-tls")?),
        skip_verification: form
            .bool("skip_verification")?
            .or(form.bool("skip-verification")?),
        ..Default::default()
    };
    let d = app
        .store
        .update_domain(&name.to_ascii_lowercase(), &u)
        .await?
        .ok_or_else(|| ApiError::domain_not_found(&name))?;
    Ok(Json(json!({
        "message": "Domain connection settings have been updated, may take 10 minutes to fully propagate",
        "require-tls": d.require_tls,
        "skip-verification": d.skip_verification,
    })))
}
