//! Mailgun's suppression lists: `/v3/{domain}/bounces`, `/unsubscribes`,
//! `/complaints`, with their item shapes, messages and cursor paging. A
//! suppressed address is never contacted (`policy::suppression`).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use policy::suppression::List;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::AdminDomain;
use super::form::Form;
use super::{base_url, read_body, SMALL_BODY};
use crate::app::App;
use crate::store::now_micros;
use crate::store::suppressions::{NewSuppression, Page, Suppressed};
use crate::time::{parse_api_time, rfc2822};

/// Mailgun's bulk add limit.
const MAX_BATCH: usize = 1000;

pub(super) fn list_of(domain: &str, table: &str) -> ApiResult<List> {
    match table {
        "bounces" => Ok(List::Bounce),
        "unsubscribes" => Ok(List::Unsubscribe),
        "complaints" => Ok(List::Complaint),
        "whitelists" => Err(ApiError::BadRequest(
            "the whitelists (allowlist) table is not supported by envoi".into(),
        )),
        // Not a suppression table: a Mailgun endpoint envoi does not serve.
        _ => Err(ApiError::NotFound(super::unserved::message(&format!(
            "/v3/{domain}/{table}"
        )))),
    }
}

pub(super) fn table(list: List) -> &'static str {
    match list {
        List::Bounce => "bounces",
        List::Unsubscribe => "unsubscribes",
        List::Complaint => "complaints",
    }
}

fn item_json(list: List, s: &Suppressed) -> Value {
    let created_at = rfc2822(s.created_at);
    match list {
        List::Bounce => json!({
            "address": s.address, "code": s.code, "error": s.error, "created_at": created_at,
        }),
        List::Unsubscribe => json!({
            "address": s.address, "tags": s.tags, "created_at": created_at,
        }),
        List::Complaint => json!({ "address": s.address, "created_at": created_at }),
    }
}

fn removed_message(list: List) -> &'static str {
    match list {
        List::Bounce => "Bounced addresses for this domain have been removed",
        List::Unsubscribe => "Unsubscribe event has been removed",
        List::Complaint => "Spam complaint has been removed",
    }
}

fn not_found(list: List) -> ApiError {
    ApiError::NotFound(format!("Address not found in {} table", table(list)))
}

/// `GET /v3/{domain}/{table}`: `limit` (≤ 1000), `page` (first, next,
/// previous, last) with `address` as the cursor, `term` (an address prefix).
#[utoipa::path(
    get,
    path = "/v3/{domain}/{table}",
    operation_id = "suppressions_list",
    tag = "suppressions",
    summary = "A suppression list: bounces, unsubscribes or complaints.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("table" = String, Path, description = "bounces, unsubscribes or complaints."),
        ("limit" = Option<i64>, Query, description = "At most this many."),
        ("page" = Option<String>, Query, description = "first, last, next or previous."),
        ("address" = Option<String>, Query, description = "The cursor for next/previous."),
        ("term" = Option<String>, Query, description = "Only addresses starting with this."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Page),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, t)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let list = list_of(&d.name, &t)?;
    let form = Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 100, MAX_BATCH as i64)?.max(1);
    let cursor = form.get("address").unwrap_or("");
    let page = match (form.get("page").unwrap_or("first"), cursor) {
        ("first" | "", _) => Page::First,
        ("last", _) => Page::Last,
        ("next", c) if !c.is_empty() => Page::Next(c),
        ("previous", c) if !c.is_empty() => Page::Previous(c),
        (p, _) => {
            return Err(ApiError::BadRequest(format!(
            "page {p:?} needs address (the cursor): follow the paging URLs of a previous response"
        )))
        }
    };
    let term = form.get("term").unwrap_or("");
    let items = app
        .store
        .suppressions(d.id, list, page, term, limit)
        .await?;
    let base = format!("{}/v3/{}/{}", base_url(&headers), d.name, table(list));
    let mut extra = format!("limit={limit}");
    if !term.is_empty() {
        extra.push_str(&format!("&term={}", urlencode(term)));
    }
    // Past either end the cursor stays where it was: an empty page.
    let first_addr = items.first().map_or(cursor, |s| s.address.as_str());
    let last_addr = items.last().map_or(cursor, |s| s.address.as_str());
    Ok(Json(json!({
        "items": items.iter().map(|s| item_json(list, s)).collect::<Vec<_>>(),
        "paging": {
            "first": format!("{base}?page=first&{extra}"),
            "last": format!("{base}?page=last&{extra}"),
            "next": format!("{base}?page=next&address={}&{extra}", urlencode(last_addr)),
            "previous": format!("{base}?page=previous&address={}&{extra}", urlencode(first_addr)),
        },
    })))
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /v3/{domain}/{table}/{address}`.
#[utoipa::path(
    get,
    path = "/v3/{domain}/{table}/{address}",
    operation_id = "suppressions_get_one",
    tag = "suppressions",
    summary = "One address of a suppression list.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("table" = String, Path, description = "bounces, unsubscribes or complaints."),
        ("address" = String, Path, description = "The email address."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn get_one(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, t, address)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let list = list_of(&d.name, &t)?;
    let s = app
        .store
        .suppression(d.id, list, &address)
        .await?
        .ok_or_else(|| not_found(list))?;
    Ok(Json(item_json(list, &s)))
}

/// One item of a bulk JSON add.
#[derive(Deserialize)]
struct JsonItem {
    address: String,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    created_at: Option<Value>,
}

pub(super) fn new_item(
    list: List,
    address: &str,
    code: Option<String>,
    error: Option<String>,
    tags: Vec<String>,
    created_at: Option<String>,
) -> ApiResult<NewSuppression> {
    let address = address.trim().to_ascii_lowercase();
    if !crate::compose::address::valid_addr(&address) {
        return Err(ApiError::BadRequest(format!(
            "address {address:?} is not a valid email address"
        )));
    }
    let created_at = match created_at {
        None => now_micros(),
        Some(t) => parse_api_time(&t).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "created_at {t:?} must be an RFC 2822 date or epoch seconds"
            ))
        })?,
    };
    let (code, error, tags) = match list {
        List::Bounce => (
            code.unwrap_or_else(|| "550".into()),
            error.unwrap_or_default(),
            Vec::new(),
        ),
        List::Unsubscribe => (
            String::new(),
            String::new(),
            if tags.is_empty() {
                vec!["*".to_string()]
            } else {
                tags
            },
        ),
        List::Complaint => (String::new(), String::new(), Vec::new()),
    };
    Ok(NewSuppression {
        address,
        code,
        error,
        tags,
        created_at,
    })
}

fn text(v: Option<Value>) -> Option<String> {
    v.map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// One JSON object, as the Python SDK's example posts, or an array of them.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum JsonItems {
    Many(Vec<JsonItem>),
    One(Box<JsonItem>),
}

/// `POST /v3/{domain}/{table}`: one record as a form, or as a JSON object,
/// or a JSON array of up to 1000.
#[utoipa::path(
    post,
    path = "/v3/{domain}/{table}",
    operation_id = "suppressions_add",
    tag = "suppressions",
    summary = "Add addresses to a suppression list (a form, or a JSON array of objects).",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("table" = String, Path, description = "bounces, unsubscribes or complaints."),
    ),
    request_body(content(
        (crate::http::openapi::schemas::SuppressionForm = "multipart/form-data"),
        (crate::http::openapi::schemas::SuppressionForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn add(
    State(app): State<App>,
    headers: HeaderMap,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, t)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let list = list_of(&d.name, &t)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let items: Vec<NewSuppression> = if is_json {
        let bytes = read_body(&headers, body, 16 << 20).await?;
        let raw: Vec<JsonItem> = match serde_json::from_slice(&bytes) {
            Ok(JsonItems::Many(items)) => items,
            Ok(JsonItems::One(item)) => vec![*item],
            Err(_) => {
                // Parsed again as an array, for the error that names what
                // is wrong in it.
                let e = serde_json::from_slice::<Vec<JsonItem>>(&bytes)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(ApiError::BadRequest(format!(
                    "the body must be a JSON object with an address, or an array of them ({e})"
                )));
            }
        };
        if raw.len() > MAX_BATCH {
            return Err(ApiError::BadRequest(
                "Batch size should be less than 1000".into(),
            ));
        }
        raw.into_iter()
            .map(|i| {
                let tags = i
                    .tags
                    .or_else(|| i.tag.map(|t| vec![t]))
                    .unwrap_or_default();
                new_item(
                    list,
                    &i.address,
                    text(i.code),
                    i.error,
                    tags,
                    text(i.created_at),
                )
            })
            .collect::<ApiResult<_>>()?
    } else {
        let bytes = read_body(&headers, body, SMALL_BODY).await?;
        let form = super::form::parse_form(&headers, bytes, q.as_deref()).await?;
        let address = form.get("address").ok_or_else(|| {
            ApiError::BadRequest("address parameter is missing: the address to add".into())
        })?;
        let tags: Vec<String> = form
            .texts("tag")
            .chain(form.texts("tags"))
            .flat_map(|t| t.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        vec![new_item(
            list,
            address,
            form.get("code").map(str::to_string),
            form.get("error").map(str::to_string),
            tags,
            form.get("created_at").map(str::to_string),
        )?]
    };
    app.store.add_suppressions(d.id, list, &items).await?;
    tracing::info!(domain = %d.name, list = list.as_str(), n = items.len(), "suppressions added");
    let message = match list {
        List::Complaint => format!(
            "{} complaint addresses have been added to the complaints table",
            items.len()
        ),
        _ => format!(
            "{} addresses have been added to the {} table",
            items.len(),
            table(list)
        ),
    };
    Ok(Json(json!({ "message": message })))
}

/// `DELETE /v3/{domain}/{table}/{address}`.
#[utoipa::path(
    delete,
    path = "/v3/{domain}/{table}/{address}",
    operation_id = "suppressions_remove",
    tag = "suppressions",
    summary = "Remove an address from a suppression list.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("table" = String, Path, description = "bounces, unsubscribes or complaints."),
        ("address" = String, Path, description = "The email address."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn remove(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, t, address)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let list = list_of(&d.name, &t)?;
    if app
        .store
        .delete_suppressions(d.id, list, Some(&address))
        .await?
        == 0
    {
        return Err(not_found(list));
    }
    Ok(Json(
        json!({ "message": removed_message(list), "address": address.to_ascii_lowercase() }),
    ))
}

/// `DELETE /v3/{domain}/{table}`: the whole list.
#[utoipa::path(
    delete,
    path = "/v3/{domain}/{table}",
    operation_id = "suppressions_clear",
    tag = "suppressions",
    summary = "Empty a suppression list.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("table" = String, Path, description = "bounces, unsubscribes or complaints."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Message),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn clear(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, t)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let list = list_of(&d.name, &t)?;
    app.store.delete_suppressions(d.id, list, None).await?;
    Ok(Json(json!({ "message": removed_message(list) })))
}
