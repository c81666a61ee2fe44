//! envoi's own DMARC endpoints (account key), from the aggregate reports
//! received for the domain: `GET /v3/{domain}/dmarc/reports` (each report),
//! `GET /v3/{domain}/dmarc/sources?duration=14d` (per sending address, with
//! its reverse name), and
//! `GET /v3/{domain}/dmarc` (the published policy, and the next step of the
//! ramp with its reason, `policy::dmarc::advise`).

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use policy::dmarc::{advise, step_history, Period, Record, Step};

use super::error::{ApiError, ApiResult};
use super::extract::AdminDomain;
use super::form::Form;
use crate::app::App;
use crate::store::dmarc::Source;
use crate::store::now_micros;
use crate::time::rfc2822;

/// How far back the ramp looks for the current step's reports.
const HISTORY_DAYS: i64 = 180;
/// Failing sources named in the advice, at most.
const NAMED_SOURCES: usize = 5;

/// Newest period first; `limit` (≤ 1000, default 100) a page, and
/// `paging.next` while a page was full (its cursor: `before={end}.{id}`).
#[utoipa::path(
    get,
    path = "/v3/{domain}/dmarc/reports",
    operation_id = "dmarc_reports",
    tag = "dmarc",
    summary = "DMARC aggregate reports received for the domain.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("before" = Option<String>, Query, description = "Paging cursor."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn reports(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    AdminDomain { domain: d, .. }: AdminDomain,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 100, 1000)?.max(1);
    let cursor = match form.get("before") {
        None => (i64::MAX, i64::MAX),
        Some(c) => c
            .split_once('.')
            .and_then(|(e, i)| Some((e.parse().ok()?, i.parse().ok()?)))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "before {c:?} is not a cursor: follow paging.next of a previous response"
                ))
            })?,
    };
    let reports = app
        .store
        .aggregate_reports_before(d.id, i64::MIN, cursor, limit)
        .await?;
    let items: Vec<Value> = reports
        .iter()
        .map(|r| {
            let step = policy::dmarc::Step::at_or_below(r.policy, r.pct.clamp(0, 100) as u8);
            json!({
                "organization": r.org,
                "report_id": r.report_id,
                "begin": rfc2822(r.begin.saturating_mul(1_000_000)),
                "end": rfc2822(r.end.saturating_mul(1_000_000)),
                // As published (`quarantine; pct=10`), and where that
                // stands on the ramp (`quarantine; pct=5`).
                "policy": Step::new(r.policy, r.pct.clamp(0, 100) as u8).to_string(),
                "ramp_step": step.to_string(),
                "messages": r.messages,
                "dmarc_pass": r.dmarc_pass,
                "pass_rate": if r.messages > 0 { r.dmarc_pass as f64 / r.messages as f64 } else { 0.0 },
            })
        })
        .collect();
    let next = (reports.len() as i64 == limit).then(|| {
        let last = reports.last().expect("a full page");
        format!(
            "{}/v3/{}/dmarc/reports?limit={limit}&before={}.{}",
            super::base_url(&headers),
            d.name,
            last.end,
            last.id
        )
    });
    Ok(Json(
        json!({ "domain": d.name, "items": items, "paging": { "next": next } }),
    ))
}

/// A source as the reports saw it; `envoi`: it is one of envoi's own
/// addresses (those of its HELO name).
fn source_json(s: &Source, envoi: &[std::net::IpAddr]) -> Value {
    let own =
        s.ip.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| envoi.contains(&ip));
    json!({
        "source_ip": s.ip,
        "envoi": own,
        "messages": s.messages,
        "dkim_aligned_pass": s.dkim_aligned,
        "spf_aligned_pass": s.spf_aligned,
        "dmarc_pass": s.dmarc_pass,
        "quarantined": s.quarantined,
        "rejected": s.rejected,
    })
}

/// `GET /v3/{domain}/dmarc/sources?duration=14d`: per sending address,
/// what receivers reported over the last `duration` (default 14 days).
#[utoipa::path(
    get,
    path = "/v3/{domain}/dmarc/sources",
    operation_id = "dmarc_sources",
    tag = "dmarc",
    summary = "Sending sources seen in the reports, with their pass rates.",
    params(
        ("domain" = String, Path, description = "The sending domain."),
        ("duration" = Option<String>, Query, description = "e.g. 30d."),
    ),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn sources(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let duration = match form.get("duration") {
        None => std::time::Duration::from_secs(14 * 86_400),
        Some(text) => crate::config::parse_duration(text)
            .map_err(|e| ApiError::BadRequest(format!("duration {text:?}: {e} (e.g. \"14d\")")))?,
    };
    let since = now_micros() / 1_000_000 - duration.as_secs() as i64;
    let sources = app.store.dmarc_sources(d.id, since).await?;
    let dns = &app.config.delivery;
    let envoi = crate::dns_check::envoi_addresses(dns).await;
    // Reverse names for the sources sending most (each lookup is bounded).
    const NAMED: usize = 50;
    let ips: Vec<std::net::IpAddr> = sources
        .iter()
        .take(NAMED)
        .filter_map(|s| s.ip.parse().ok())
        .collect();
    let names = crate::dns_check::reverse_names(dns, &ips).await;
    let items: Vec<Value> = sources
        .iter()
        .map(|s| {
            let mut v = source_json(s, &envoi);
            let name = ips
                .iter()
                .position(|ip| s.ip.parse() == Ok(*ip))
                .and_then(|i| names[i].clone());
            v["name"] = json!(name);
            v
        })
        .collect();
    Ok(Json(json!({
        "domain": d.name,
        "duration": humantime::format_duration(duration).to_string(),
        "items": items,
    })))
}

/// The domain's `_dmarc` record as DNS has it now, read.
async fn published(app: &App, domain: &str) -> Result<Option<(String, Record)>, String> {
    let found = crate::dns_check::txt(&app.config.delivery, &format!("_dmarc.{domain}")).await?;
    Ok(found
        .into_iter()
        .find_map(|t| Record::parse(&t).ok().map(|r| (t, r))))
}

/// `GET /v3/{domain}/dmarc`: the published policy, how the mail reported
/// during its step fared, and the next step of the ramp with its reason.
#[utoipa::path(
    get,
    path = "/v3/{domain}/dmarc",
    operation_id = "dmarc_ramp",
    tag = "dmarc",
    summary = "Where the domain stands on the DMARC policy ramp, and the next step.",
    params(("domain" = String, Path, description = "The sending domain.")),
    responses(
        (status = 200, description = "Done", body = crate::http::openapi::schemas::Object),
        crate::http::openapi::schemas::Refusals,
    ),
    security(("api_key" = [])))]
pub async fn ramp(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
) -> ApiResult<Json<Value>> {
    let record = published(&app, &d.name).await.map_err(|e| {
        ApiError::Busy(format!(
            "the _dmarc record of {} cannot be looked up now ({e}); try again shortly",
            d.name
        ))
    })?;
    let current = record
        .as_ref()
        .map_or(Step::new(policy::dmarc::Policy::None, 100), |(_, r)| {
            r.step()
        });
    let now = now_micros() / 1_000_000;
    let reports = app
        .store
        .aggregate_reports(d.id, now - HISTORY_DAYS * 86_400, i64::MAX)
        .await?;
    let periods: Vec<Period> = reports
        .iter()
        .map(|r| Period {
            step: Step::at_or_below(r.policy, r.pct.clamp(0, 100) as u8),
            begin: r.begin,
            end: r.end,
            messages: r.messages.max(0) as u64,
            passed: r.dmarc_pass.max(0) as u64,
        })
        .collect();
    let (mut history, since) = step_history(current, &periods, now);
    let sources = match since {
        Some(since) => app.store.dmarc_sources(d.id, since).await?,
        None => Vec::new(),
    };
    let envoi = crate::dns_check::envoi_addresses(&app.config.delivery).await;
    let is_envoi = |s: &Source| s.ip.parse().is_ok_and(|ip| envoi.contains(&ip));
    // envoi's own mail among what was reported during the step.
    let (own, own_pass) = sources
        .iter()
        .filter(|s| is_envoi(s))
        .fold((0, 0), |(n, p), s| (n + s.messages, p + s.dmarc_pass));
    let failing: Vec<&Source> = sources
        .iter()
        .filter(|s| s.dmarc_pass < s.messages)
        .collect();
    history.failing_sources = failing
        .iter()
        .take(NAMED_SOURCES)
        .map(|s| {
            format!(
                "{} ({} of {} failing)",
                s.ip,
                s.messages - s.dmarc_pass,
                s.messages
            )
        })
        .collect();
    let advice = advise(current, &history);
    let after = (advice.next.is_some() && advice.next != Some(current)).then(|| {
        crate::time::from_micros((now + advice.in_days * 86_400) * 1_000_000)
            .format("%Y-%m-%d")
            .to_string()
    });
    Ok(Json(json!({
        "domain": d.name,
        "record": record.as_ref().map(|(t, _)| t.clone()),
        "current": advice.current.to_string(),
        "next": advice.next.map(|s| s.to_string()),
        "after": after,
        "because": if record.is_none() {
            format!("no DMARC record is published at _dmarc.{}: publish \"v=DMARC1; p=none; rua=mailto:dmarc@{}\" to start", d.name, app.config.inbound.bounce_domain.as_deref().unwrap_or("your-report-address"))
        } else {
            advice.because
        },
        "pass_rate": (history.messages > 0).then(|| history.passed as f64 / history.messages as f64),
        "envoi_pass_rate": (own > 0).then(|| own_pass as f64 / own as f64),
        "days_at_step": history.days_at_step,
        "failing_sources": failing.iter().map(|s| source_json(s, &envoi)).collect::<Vec<_>>(),
    })))
}
