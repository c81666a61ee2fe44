//! `GET /v3/{domain}/events` with Mailgun's filters and paging.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::base_url;
use super::error::{ApiError, ApiResult};
use super::extract::AdminDomain;
use super::form::Form;
use crate::app::App;
use crate::store::domains::Domain;
use crate::store::events::{EventQuery, FilterField};

const MAX_LIMIT: i64 = 300;
const DEFAULT_LIMIT: i64 = 100;

/// Page tokens carry the query, and a MAC under the master key bound to
/// the domain: a token cannot be forged (a limit of 100000) nor moved to
/// another domain.
const TOKEN_PURPOSE: &str = "events page v1";
const TOKEN_TAG: usize = 16;

fn token_mac_input(domain: &str, query: &[u8]) -> Vec<u8> {
    [domain.as_bytes(), b"\n", query].concat()
}

fn encode(app: &App, domain: &str, q: &EventQuery) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = serde_json::to_vec(q).expect("query serialises");
    let tag = app
        .master_key
        .mac(TOKEN_PURPOSE, &token_mac_input(domain, &json));
    format!("{}.{}", b64.encode(&json), b64.encode(&tag[..TOKEN_TAG]))
}

fn decode(app: &App, domain: &str, token: &str) -> ApiResult<EventQuery> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let invalid = || {
        ApiError::BadRequest(
            "invalid page token: it was altered, or made for another domain or key; follow the paging URLs of a previous events response".into(),
        )
    };
    let (json, tag) = token.split_once('.').ok_or_else(invalid)?;
    let json = b64.decode(json).map_err(|_| invalid())?;
    let tag = b64.decode(tag).map_err(|_| invalid())?;
    let input = token_mac_input(domain, &json);
    if tag.len() != TOKEN_TAG || !app.master_key.mac_matches(TOKEN_PURPOSE, &input, &tag) {
        return Err(invalid());
    }
    let q: EventQuery = serde_json::from_slice(&json).map_err(|_| invalid())?;
    // Checked again all the same: a token from an older envoi stays bounded.
    if !(1..=MAX_LIMIT).contains(&q.limit) {
        return Err(invalid());
    }
    Ok(q)
}

pub(crate) fn query_from(form: &Form) -> ApiResult<EventQuery> {
    let begin = form.time("begin")?;
    let end = form.time("end")?;
    let asc = form.bool("ascending")?;
    let ascending = match (begin, end, asc) {
        (Some(b), Some(e), None) => b <= e,
        (Some(b), Some(e), Some(a)) => {
            if (b <= e) != a && b != e {
                return Err(ApiError::BadRequest(
                    "ascending contradicts begin and end: with ascending=yes begin must be before end".into(),
                ));
            }
            a
        }
        (Some(_), None, a) => a.unwrap_or(true),
        (_, _, a) => a.unwrap_or(false),
    };
    let (lo, hi) = match (begin, end) {
        (Some(b), Some(e)) => (Some(b.min(e)), Some(b.max(e))),
        (b, e) if ascending => (b, e),
        (b, e) => (e, b),
    };
    let limit = match form.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit {v:?} must be a whole number from 1 to 300"))
            })?,
    };
    let owned = |n: &str| form.get(n).map(str::to_string);
    Ok(EventQuery {
        begin: lo,
        end: hi,
        ascending,
        limit,
        event: owned("event"),
        recipient: owned("recipient"),
        message_id: owned("message-id"),
        tags: owned("tags"),
        severity: owned("severity"),
        from: owned("from"),
        after: None,
    })
    .and_then(checked)
}

/// Each filter parses as Mailgun's expression grammar, or a 400 names it.
fn checked(q: EventQuery) -> ApiResult<EventQuery> {
    for (field, text) in q.filters() {
        if let Err(e) = policy::filter::parse(text) {
            let name = match field {
                FilterField::Event => "event",
                FilterField::Recipient => "recipient",
                FilterField::MessageId => "message-id",
                FilterField::Tags => "tags",
                FilterField::Severity => "severity",
                FilterField::From => "from",
            };
            return Err(ApiError::BadRequest(format!(
                "{name} filter {text:?} is not a valid filter expression: {e}. Use values joined by AND, OR, NOT and parentheses, e.g. event=rejected OR failed"
            )));
        }
    }
    Ok(q)
}

async fn run(app: &App, headers: &HeaderMap, d: &Domain, q: EventQuery) -> ApiResult<Json<Value>> {
    let rows = app.store.events(d.id, &q).await?;
    let base = base_url(headers);
    // The token in the path, as Mailgun's; and in the query string too,
    // for clients that follow only that.
    let page_url = |q: &EventQuery| {
        let token = encode(app, &d.name, q);
        format!("{base}/v3/{}/events/{token}?page={token}", d.name)
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v: Value = serde_json::from_str(&r.data).unwrap_or(Value::Null);
            if let Some(key) = v["storage"]["key"].as_str().map(str::to_string) {
                v["storage"]["url"] = json!(format!("{base}/v3/domains/{}/messages/{key}", d.name));
            }
            v
        })
        .collect();
    let first = EventQuery {
        after: None,
        ..q.clone()
    };
    let next = EventQuery {
        after: rows.last().map(|r| (r.ts, r.id)).or(q.after),
        ..q.clone()
    };
    let previous = EventQuery {
        ascending: !q.ascending,
        after: rows.first().map(|r| (r.ts, r.id)).or(q.after),
        ..q.clone()
    };
    let last = EventQuery {
        ascending: !q.ascending,
        after: None,
        ..q.clone()
    };
    Ok(Json(json!({
        "items": items,
        "paging": {
            "first": page_url(&first),
            "next": page_url(&next),
            "previous": page_url(&previous),
            "last": page_url(&last),
        }
    })))
}

#[utoipa::path(
    get,
    path = "/v3/{domain}/events",
    operation_id = "events_list",
    tag = "events",
    summary = "Events of the domain's mail, newest first unless ascending.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("begin" = Option<String>, Query, description = "RFC 2822 date or Unix time."),
        ("end" = Option<String>, Query, description = "RFC 2822 date or Unix time."),
        ("ascending" = Option<String>, Query, description = "yes or no."),
        ("limit" = Option<i64>, Query, description = "At most 300 (default 100)."),
        ("event" = Option<String>, Query, description = "A filter expression on the event: accepted, delivered, failed, ... (NOT, OR)."),
        ("recipient" = Option<String>, Query, description = "A filter on the recipient."),
        ("from" = Option<String>, Query, description = "A filter on the sender."),
        ("message-id" = Option<String>, Query, description = "The message's Message-Id."),
        ("tags" = Option<String>, Query, description = "A filter on the tags."),
        ("severity" = Option<String>, Query, description = "temporary or permanent."),
        ("page" = Option<String>, Query, description = "A page token from paging links."),
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
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(raw.as_deref())?;
    // A page token as a query parameter: clients that re-read only the
    // query string of `paging.next` (the Python SDK's `events.stream()`).
    let q = match form.get("page") {
        Some(token) => decode(&app, &d.name, token)?,
        None => query_from(&form)?,
    };
    run(&app, &headers, &d, q).await
}

#[utoipa::path(
    get,
    path = "/v3/{domain}/events/{token}",
    operation_id = "events_page",
    tag = "events",
    summary = "A page of events, from a paging link.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("token" = String, Path, description = "The token of the link or page."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Page),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn page(
    State(app): State<App>,
    headers: HeaderMap,
    AdminDomain { domain: d, .. }: AdminDomain,
    Path((_, token)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let q = decode(&app, &d.name, &token)?;
    run(&app, &headers, &d, q).await
}
