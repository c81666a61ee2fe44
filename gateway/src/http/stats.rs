//! `GET /v3/{domain}/stats/total` (Mailgun's shape): `event` (repeatable,
//! required), `start`/`end` (RFC 2822 or epoch; default the last 7 days),
//! `resolution` (`hour`, `day`, `month`; default `day`), `duration` (`7d`,
//! `24h`, `1m` = one month, counted back from `end`; overrides `start`).

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::extract::AdminDomain;
use super::form::Form;
use crate::app::App;
use crate::stats::{buckets, fold, start_from_duration, Resolution, EVENTS};
use crate::store::now_micros;
use crate::time::rfc2822;

/// More buckets than this is a mistake (a year of hours is 8,760).
const MAX_BUCKETS: usize = 10_000;

#[utoipa::path(
    get,
    path = "/v3/{domain}/stats/total",
    operation_id = "stats_total",
    tag = "events",
    summary = "Counts by event and time: {start, end, resolution, stats: [{time, accepted, delivered, failed, ...}]}.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("event" = Option<String>, Query, description = "The events to count (repeatable)."),
        ("duration" = Option<String>, Query, description = "e.g. 7d, 24h (default 7d)."),
        ("resolution" = Option<String>, Query, description = "hour, day or month."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn total(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;

    let mut events: Vec<&str> = Vec::new();
    for e in form
        .texts("event")
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        let known = EVENTS.iter().find(|k| **k == e).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "event {e:?} is not a stats event: use one or more of {}",
                EVENTS.join(", ")
            ))
        })?;
        if !events.contains(known) {
            events.push(known);
        }
    }
    if events.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "event parameter is missing: give one or more of {} (repeat event=)",
            EVENTS.join(", ")
        )));
    }
    let resolution = match form.get("resolution") {
        None => Resolution::Day,
        Some(r) => Resolution::parse(r).ok_or_else(|| {
            ApiError::BadRequest(format!("resolution {r:?} is not one of hour, day, month"))
        })?,
    };
    let end = form.time("end")?.unwrap_or_else(now_micros);
    let start = match form.get("duration") {
        Some(dur) => start_from_duration(dur, end).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "duration {dur:?} is not a count and a unit: e.g. 24h, 7d or 1m (one month)"
            ))
        })?,
        None => form.time("start")?.unwrap_or(end - 7 * 86_400_000_000),
    };
    if start > end {
        return Err(ApiError::BadRequest(
            "start is after end: give a start before the end".into(),
        ));
    }
    let starts = buckets(resolution, start, end, MAX_BUCKETS).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "that range holds more than {MAX_BUCKETS} {} buckets, too many: use a coarser resolution or a shorter range",
            resolution.as_str()
        ))
    })?;
    let counts = app
        .store
        .event_counts(d.id, start, end, resolution.group_micros())
        .await?;
    let stats = fold(resolution, &starts, &counts, &events);
    Ok(Json(json!({
        "description": format!("Tracking stats for domain {}", d.name),
        "start": rfc2822(starts.first().copied().unwrap_or(start)),
        "end": rfc2822(end),
        "resolution": resolution.as_str(),
        "stats": stats,
    })))
}
