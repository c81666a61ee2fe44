//! `GET|POST|DELETE /v3/domains/{domain}/ip_allowlist`: networks whose
//! clients submit over SMTP without AUTH (as addresses of the domain only).
//! The shape follows Mailgun's account IP allowlist (`addresses` of
//! `{ip_address, description}`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{AdminDomain, SmallForm};
use crate::app::App;
use crate::smtp::allowlist::parse_network;

fn network_of(form: &super::form::Form) -> ApiResult<String> {
    let text = form.get("address").ok_or_else(|| {
        ApiError::BadRequest(
            "address parameter is missing: an IP or a CIDR, e.g. 10.0.0.0/24".into(),
        )
    })?;
    parse_network(text).map(|n| n.to_string()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "address {text:?} is not an IP or a CIDR: e.g. 192.0.2.10 or 10.0.0.0/24"
        ))
    })
}

#[utoipa::path(
    get,
    path = "/v3/domains/{domain}/ip_allowlist",
    operation_id = "ip_allowlist_list",
    tag = "smtp",
    summary = "Addresses that may submit over SMTP without AUTH: {addresses: [{ip_address, description}]}.",
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
    let nets = app.store.allowed_networks(Some(d.id)).await?;
    let addresses: Vec<Value> = nets
        .iter()
        .map(|n| json!({ "ip_address": n.network, "description": n.description }))
        .collect();
    Ok(Json(json!({ "addresses": addresses })))
}

#[utoipa::path(
    post,
    path = "/v3/domains/{domain}/ip_allowlist",
    operation_id = "ip_allowlist_add",
    tag = "smtp",
    summary = "Allow an address or network.",
    params(("domain" = String, Path, description = "The sending domain.")),
    request_body(content(
        (crate::http::openapi::schemas::AllowlistForm = "multipart/form-data"),
        (crate::http::openapi::schemas::AllowlistForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn add(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let net = network_of(&form)?;
    let description = form.get("description").unwrap_or("");
    crate::compose::check_single_line("description", description)?;
    if !app.store.allow_network(d.id, &net, description).await? {
        return Err(ApiError::Conflict(format!(
            "{net} is already in the IP allowlist of {}",
            d.name
        )));
    }
    app.bump_allowlist_generation();
    tracing::info!(domain = %d.name, network = %net, "IP allowlist: network added");
    Ok(Json(
        json!({ "message": "IP address added to the allowlist", "ip_address": net }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v3/domains/{domain}/ip_allowlist",
    operation_id = "ip_allowlist_remove",
    tag = "smtp",
    summary = "Remove an address or network (address in the query).",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("address" = Option<String>, Query, description = "The IP or CIDR to remove."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    SmallForm(form): SmallForm,
) -> ApiResult<Json<Value>> {
    let net = network_of(&form)?;
    if !app.store.disallow_network(d.id, &net).await? {
        return Err(ApiError::NotFound(format!(
            "{net} is not in the IP allowlist of {}: list it with GET /v3/domains/{}/ip_allowlist",
            d.name, d.name
        )));
    }
    app.bump_allowlist_generation();
    tracing::info!(domain = %d.name, network = %net, "IP allowlist: network removed");
    Ok(Json(
        json!({ "message": "IP address removed from the allowlist", "ip_address": net }),
    ))
}
