//! DMARC: where a domain stands on the policy ramp and its next step (the
//! API's `GET /v3/{domain}/dmarc`), and the sending sources receivers
//! reported over the last 14 days with their pass rates.

use axum::extract::{RawQuery, State};
use maud::{html, Markup};

use super::page::{domain_picker, page, Refusal};
use super::session::User;
use crate::app::App;
use crate::http::extract::AdminDomain;
use crate::http::form::Form;
use crate::store::now_micros;

const DAYS: i64 = 14;

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

pub async fn get(
    State(app): State<App>,
    user: User,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    let asked = Form::from_query(raw.as_deref())?;
    let (d, all) = super::overview::chosen(&app, &user, asked.get("domain")).await?;
    let target = AdminDomain {
        who: user.who.clone(),
        domain: d.clone(),
    };
    // The ramp looks the record up in DNS: when DNS does not answer, the
    // page says so and still shows the reports.
    let ramp = crate::http::dmarc::ramp(State(app.clone()), target)
        .await
        .map(|j| j.0);
    let since = now_micros() / 1_000_000 - DAYS * 86_400;
    let sources = app.store.dmarc_sources(d.id, since).await?;
    let envoi = crate::dns_check::envoi_addresses(&app.config.delivery).await;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let rate = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("–".to_string(), |r| format!("{:.1} %", r * 100.0))
    };
    Ok(page(
        Some(&user),
        "DMARC",
        html! {
            (domain_picker("/ui/dmarc", &all, &d))
            h2 { "The policy ramp of " (d.name) }
            @match &ramp {
                Ok(r) => {
                    dl.facts {
                        dt { "Published" } dd { @if r["record"].is_null() { "nothing" } @else { code { (text(&r["record"])) } } }
                        dt { "Current step" } dd { (text(&r["current"])) }
                        dt { "Next step" } dd {
                            @if r["next"].is_null() { "none for now" }
                            @else if r["next"] == r["current"] { "stay at " (text(&r["current"])) }
                            @else { strong { (text(&r["next"])) } }
                            @if !r["after"].is_null() { ", not before " (text(&r["after"])) }
                        }
                        dt { "Why" } dd { (text(&r["because"])) }
                        dt { "DMARC pass rate at this step" } dd { (rate(&r["pass_rate"])) }
                        dt { "envoi's own mail" } dd { (rate(&r["envoi_pass_rate"])) }
                        dt { "Days at this step" } dd { (r["days_at_step"]) }
                    }
                }
                Err(e) => { p.notice.error role="alert" { (e.to_string()) } }
            }
            h2 { "Sources reported over the last " (DAYS) " days" }
            @if sources.is_empty() {
                p { "No aggregate report yet. Receivers send them daily to the address in the record's rua." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Source" } th scope="col" { "Messages" } th scope="col" { "DKIM aligned" }
                        th scope="col" { "SPF aligned" } th scope="col" { "DMARC pass" } th scope="col" { "Quarantined / rejected" }
                    } }
                    tbody {
                        @for s in &sources {
                            tr {
                                td {
                                    code { (s.ip) }
                                    @if s.ip.parse().is_ok_and(|ip| envoi.contains(&ip)) { " (envoi)" }
                                }
                                td { (s.messages) }
                                td { (percent(s.dkim_aligned, s.messages)) }
                                td { (percent(s.spf_aligned, s.messages)) }
                                td { (percent(s.dmarc_pass, s.messages)) }
                                td { (s.quarantined) " / " (s.rejected) }
                            }
                        }
                    }
                }
            }
        },
    ))
}
