//! `GET /v3/{domain}/events` with Mailgun's filters and paging.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::form::Form;
use super::{base_url, principal};
use crate::app::App;
use crate::store::events::EventQuery;

const MAX_LIMIT: i64 = 300;
const DEFAULT_LIMIT: i64 = 100;

fn encode(q: &EventQuery) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(q).expect("query serialises"))
}

fn decode(token: &str) -> ApiResult<EventQuery> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "invalid page token: follow the paging URLs of a previous events response".into(),
            )
        })
}

fn query_from(form: &Form) -> ApiResult<EventQuery> {
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
        message_id: owned("message-id")
            .map(|m| m.trim_start_matches('<').trim_end_matches('>').to_string()),
        tags: owned("tags"),
        severity: owned("severity"),
        after: None,
    })
}

async fn run(
    app: &App,
    headers: &HeaderMap,
    domain: &str,
    q: EventQuery,
) -> ApiResult<Json<Value>> {
    principal(app, headers).await?.require_admin()?;
    let d = super::domains::find(app, domain).await?;
    let rows = app.store.events(d.id, &q).await?;
    let base = base_url(headers);
    let page_url = |q: &EventQuery| format!("{base}/v3/{}/events/{}", d.name, encode(q));
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

pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = query_from(&Form::from_query(raw.as_deref())?)?;
    run(&app, &headers, &domain, q).await
}

pub async fn page(
    State(app): State<App>,
    headers: HeaderMap,
    Path((domain, token)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let q = decode(&token)?;
    run(&app, &headers, &domain, q).await
}
