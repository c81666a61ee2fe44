//! `GET /v3/{domain}/dmarc/reports` (envoi's own, account key): the DMARC
//! aggregate reports received for the domain, newest period first, with
//! how much of the reported mail passed.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiResult;
use super::extract::AdminDomain;
use super::form::Form;
use crate::app::App;
use crate::time::rfc2822;

pub async fn reports(
    State(app): State<App>,
    AdminDomain { domain: d, .. }: AdminDomain,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    let form = Form::from_query(q.as_deref())?;
    let limit = form.number("limit", 100, 1000)?.max(1);
    let reports = app.store.aggregate_reports(d.id, limit).await?;
    let items: Vec<Value> = reports
        .iter()
        .map(|r| {
            let step = policy::dmarc::Step::at_or_below(r.policy, r.pct.clamp(0, 100) as u8);
            json!({
                "organization": r.org,
                "report_id": r.report_id,
                "begin": rfc2822(r.begin.saturating_mul(1_000_000)),
                "end": rfc2822(r.end.saturating_mul(1_000_000)),
                "policy": policy_text(r.policy, r.pct),
                "ramp_step": step.to_string(),
                "messages": r.messages,
                "dmarc_pass": r.dmarc_pass,
                "pass_rate": if r.messages > 0 { r.dmarc_pass as f64 / r.messages as f64 } else { 0.0 },
            })
        })
        .collect();
    Ok(Json(json!({ "domain": d.name, "items": items })))
}

/// The policy as the reporter saw it published: `quarantine; pct=10`.
fn policy_text(p: policy::dmarc::Policy, pct: i64) -> String {
    match pct {
        100 => p.as_str().to_string(),
        n => format!("{p}; pct={n}"),
    }
}
