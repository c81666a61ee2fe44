//! Overview: for each domain in view, its acceptable-use gauges and state
//! (with the reinstate button), what was accepted, delivered and failed in
//! the last 24 hours and 30 days, and what is still queued.

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use policy::events::{EventKind, Severity};
use policy::reputation::{Rate, State as Standing};

use super::chart::{self, Group, Series};
use super::page::{csrf, page, raw, when, Refusal};
use super::session::{Posted, User};
use super::Flash;
use crate::app::App;
use crate::reputation::Report;
use crate::stats::{buckets, Resolution};
use crate::store::domains::Domain;
use crate::store::now_micros;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// Accepted, delivered and failed (for good) per bucket.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    pub accepted: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// Counts per bucket, the buckets starting at `starts`.
pub fn tallies(
    resolution: Resolution,
    starts: &[i64],
    counts: &[crate::stats::Count],
) -> Vec<Tally> {
    let mut out = vec![Tally::default(); starts.len()];
    for c in counts {
        let Ok(i) = starts.binary_search(&resolution.floor(c.at)) else {
            continue;
        };
        match (c.event, c.severity) {
            (EventKind::Accepted, _) => out[i].accepted += c.n,
            (EventKind::Delivered, _) => out[i].delivered += c.n,
            (EventKind::Failed, Some(Severity::Permanent)) => out[i].failed += c.n,
            _ => {}
        }
    }
    out
}

fn sum(t: &[Tally]) -> Tally {
    t.iter().fold(Tally::default(), |a, b| Tally {
        accepted: a.accepted + b.accepted,
        delivered: a.delivered + b.delivered,
        failed: a.failed + b.failed,
    })
}

/// The domains this user may see, by name.
pub async fn domains_in_view(app: &App, user: &User) -> Result<Vec<Domain>, Refusal> {
    let (mut all, _) = app.store.domains(10_000, 0, None).await?;
    all.retain(|d| user.may_see(&d.name).is_ok());
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// The domain a page is about: the one asked for (if this user may see
/// it), else the first in view.
pub async fn chosen(
    app: &App,
    user: &User,
    asked: Option<&str>,
) -> Result<(Domain, Vec<Domain>), Refusal> {
    let all = domains_in_view(app, user).await?;
    let d = match asked.filter(|a| !a.is_empty()) {
        Some(name) => {
            user.may_see(name)?;
            crate::http::domains::find(app, name).await?
        }
        None => all.first().cloned().ok_or_else(|| {
            Refusal::NotFound(
                "There is no domain yet: add one with POST /v4/domains (see README).".into(),
            )
        })?,
    };
    Ok((d, all))
}

pub async fn get(State(app): State<App>, user: User, flash: Flash) -> Result<Markup, Refusal> {
    let now = now_micros();
    let mut sections = Vec::new();
    for d in domains_in_view(&app, &user).await? {
        sections.push(domain_section(&app, &user, &d, now).await?);
    }
    Ok(page(
        Some(&user),
        "Overview",
        html! {
            (flash.markup())
            @if sections.is_empty() {
                p { "No domain yet. Add one with " code { "POST /v4/domains" } " (see README)." }
            }
            @for s in sections { (s) }
        },
    ))
}

async fn domain_section(app: &App, user: &User, d: &Domain, now: i64) -> Result<Markup, Refusal> {
    let report = app.reputation.evaluate(d.id, &d.name).await?;
    let hours = buckets(Resolution::Hour, now - DAY + HOUR, now, 48).unwrap_or_default();
    let days = buckets(Resolution::Day, now - 30 * DAY + DAY, now, 40).unwrap_or_default();
    let start = days.first().copied().unwrap_or(now - 30 * DAY);
    let counts = app.store.event_counts(d.id, start, now, HOUR).await?;
    let by_hour = tallies(Resolution::Hour, &hours, &counts);
    let by_day = tallies(Resolution::Day, &days, &counts);
    let (queued, oldest) = app.store.queued_of_domain(d.id).await?;
    let series = Series {
        names: &["accepted", "delivered", "failed"],
        classes: &["s0", "s1", "s2"],
    };
    let groups = |starts: &[i64], t: &[Tally], fmt: fn(&str) -> String| -> Vec<Group> {
        starts
            .iter()
            .zip(t)
            .map(|(s, t)| Group {
                label: fmt(&when(*s)),
                values: vec![t.accepted, t.delivered, t.failed],
            })
            .collect()
    };
    let day_chart = chart::bars(
        &format!("{}: messages per day, last 30 days", d.name),
        &series,
        &groups(&days, &by_day, |w| w.get(5..10).unwrap_or(w).to_string()),
        5,
    );
    let hour_chart = chart::bars(
        &format!("{}: messages per hour, last 24 hours", d.name),
        &series,
        &groups(&hours, &by_hour, |w| {
            w.get(11..13).unwrap_or(w).to_string() + "h"
        }),
        3,
    );
    let (day, month) = (sum(&by_hour), sum(&by_day));
    Ok(html! {
        section.domain aria-labelledby={"d-" (d.id)} {
            h2 id={"d-" (d.id)} { (d.name) }
            (standing(app, user, d, &report))
            h3 { "Messages" }
            table {
                caption.visually-hidden { "Messages of " (d.name) }
                thead { tr { th scope="col" { "" } th scope="col" { "Accepted" } th scope="col" { "Delivered" } th scope="col" { "Failed" } } }
                tbody {
                    tr { th scope="row" { "Last 24 hours" } td { (day.accepted) } td { (day.delivered) } td { (day.failed) } }
                    tr { th scope="row" { "Last 30 days" } td { (month.accepted) } td { (month.delivered) } td { (month.failed) } }
                }
            }
            p.legend aria-hidden="true" {
                span.s0 { "accepted" } " " span.s1 { "delivered" } " " span.s2 { "failed" }
            }
            div.charts {
                figure { figcaption { "Per day, last 30 days" } (raw(day_chart)) }
                figure { figcaption { "Per hour, last 24 hours" } (raw(hour_chart)) }
            }
            h3 { "Queue" }
            p {
                @if queued == 0 { "Nothing queued." }
                @else {
                    (queued) " recipient(s) queued"
                    @if let Some(o) = oldest { ", the oldest accepted " (when(o)) }
                    ". "
                    a href={"/ui/logs?domain=" (d.name)} { "See the logs" }
                }
            }
        }
    })
}

/// The state, its reason, the three gauges against their thresholds.
fn standing(app: &App, user: &User, d: &Domain, r: &Report) -> Markup {
    let t = app.reputation.thresholds();
    let (label, reason) = match &r.state {
        Standing::Ok => ("ok", None),
        Standing::Warning(x) => ("warning", Some(x.to_string())),
        Standing::Suspended(x) => ("suspended", Some(x.to_string())),
    };
    html! {
        p {
            "Acceptable use: "
            strong class={"state " (label)} { (label) }
            @if let Some(reason) = reason { " — " (reason) }
            " (over " (r.rates.sample) " messages delivered or failed; no verdict under " (t.min_sample) ")"
        }
        @if label != "ok" && user.is_account() {
            form method="post" action={"/ui/domains/" (d.name) "/reinstate"} {
                (csrf(user))
                button type="submit" { "Reinstate " (d.name) }
            }
        }
        ul.gauges {
            @for rate in [Rate::Bounce, Rate::Complaint, Rate::Unsubscribe] {
                @let value = r.rates.of(rate) * 100.0;
                @let limit = t.of(rate) * 100.0;
                li {
                    label for={"g-" (d.id) "-" (rate.as_str())} { (rate.name()) }
                    " "
                    meter id={"g-" (d.id) "-" (rate.as_str())} min="0" max=(format!("{:.3}", limit * 2.0))
                        low=(format!("{:.3}", limit * 0.8)) high=(format!("{:.3}", limit))
                        optimum="0" value=(format!("{value:.3}")) {}
                    " " (format!("{value:.2} %")) " (warning at " (format!("{limit:.1} %")) ", suspended at " (format!("{:.1} %", limit * 2.0)) ")"
                }
            }
        }
    }
}

/// Reinstates a suspended or warned domain (account key), as
/// `POST /v3/{domain}/reputation/reinstate`.
pub async fn reinstate(
    State(app): State<App>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Posted { user, .. }: Posted,
) -> Result<Response, Refusal> {
    user.require_account()?;
    let domain = crate::http::domains::find(&app, &name).await?;
    let extract = crate::http::extract::AdminDomain {
        who: user.who.clone(),
        domain,
    };
    let answer = crate::http::reputation::reinstate(State(app), extract).await?;
    let said = answer.0["message"]
        .as_str()
        .unwrap_or("Reinstated.")
        .to_string();
    Ok(Flash::redirect("/ui/", true, &format!("{name}: {said}")))
}
