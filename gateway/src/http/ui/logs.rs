//! Logs: events searched by recipient, message id, event, tag and time
//! (the events API's query, so the same filters and indexes), a message's
//! timeline, and its stored MIME.

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::overview::chosen;
use super::page::{domain_select, page, when, Refusal};
use super::session::User;
use crate::app::App;
use crate::http::form::Form;

/// What the pages show of a stored event (its Mailgun JSON), typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventView {
    pub event: String,
    pub recipient: String,
    pub severity: Option<String>,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    pub message: MessageView,
    pub storage: StorageView,
    #[serde(rename = "delivery-status")]
    pub delivery: Option<DeliveryView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MessageView {
    pub headers: HeadersView,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HeadersView {
    #[serde(rename = "message-id")]
    pub message_id: Option<String>,
    pub subject: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StorageView {
    pub key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeliveryView {
    pub code: Option<u16>,
    pub message: String,
    pub description: String,
    #[serde(rename = "mx-host")]
    pub mx_host: String,
    #[serde(rename = "attempt-no")]
    pub attempt_no: Option<i64>,
    pub tls: bool,
    #[serde(rename = "tls-version")]
    pub tls_version: Option<String>,
    #[serde(rename = "certificate-verified")]
    pub certificate_verified: bool,
}

/// A stored event that does not parse is a damaged row: said, not hidden.
fn view(data: &str) -> Result<EventView, Refusal> {
    serde_json::from_str(data).map_err(|e| {
        tracing::error!(error = %e, "an event's stored JSON does not parse");
        Refusal::Internal
    })
}

/// `datetime-local` (UTC) or anything the API takes, as the API's time.
fn api_time(v: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc().timestamp().to_string())
        .unwrap_or_else(|_| v.to_string())
}

const EVENTS: &[&str] = &[
    "accepted",
    "delivered",
    "failed",
    "rejected",
    "unsubscribed",
    "complained",
    "stored",
];

pub async fn search(
    State(app): State<App>,
    user: User,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    let asked = Form::from_query(raw.as_deref())?;
    let (d, all) = chosen(&app, &user, asked.get("domain")).await?;
    let field = |n: &str| asked.get(n).unwrap_or("").to_string();
    // Only the filters the form offers reach the events query.
    let mut query = Vec::new();
    for name in ["recipient", "message-id", "event", "tags"] {
        if let Some(v) = asked.get(name).filter(|v| !v.is_empty()) {
            query.push((name.to_string(), v.to_string()));
        }
    }
    for name in ["begin", "end"] {
        if let Some(v) = asked.get(name).filter(|v| !v.is_empty()) {
            query.push((name.to_string(), api_time(v)));
        }
    }
    // The search as asked, for the "older" link (the domain and the form's
    // own fields, before the API's conversions).
    let mut again: Vec<(&str, String)> = vec![("domain", d.name.clone())];
    for name in ["recipient", "message-id", "event", "tags", "begin", "end"] {
        if let Some(v) = asked.get(name).filter(|v| !v.is_empty()) {
            again.push((name, v.to_string()));
        }
    }
    query.push(("limit".into(), PAGE.to_string()));
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let mut q = crate::http::events::query_from(&Form::from_query(Some(&encoded))?)?;
    // A page further back starts after the last event of the one before:
    // the API's own (time, id) cursor, so no event is skipped or repeated.
    q.after = match asked.get("after") {
        Some(a) => Some(cursor(a)?),
        None => None,
    };
    let rows = app.store.events(d.id, &q).await?;
    let older = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|last| {
            let mut pairs = again.clone();
            pairs.push(("after", format!("{}.{}", last.ts, last.id)));
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish();
            format!("/ui/logs?{query}")
        });
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push((r.ts, view(&r.data)?));
    }
    Ok(page(
        Some(&user),
        "Logs",
        html! {
            form.search method="get" action="/ui/logs" {
                (domain_select(&all, &d))
                label for="recipient" { "Recipient" }
                input id="recipient" name="recipient" type="text" value=(field("recipient"));
                label for="message-id" { "Message ID" }
                input id="message-id" name="message-id" type="text" value=(field("message-id"));
                label for="event" { "Event" }
                select id="event" name="event" {
                    option value="" { "any" }
                    @for e in EVENTS { option value=(e) selected[field("event") == *e] { (e) } }
                }
                label for="tags" { "Tag" }
                input id="tags" name="tags" type="text" value=(field("tags"));
                label for="begin" { "From (UTC)" }
                input id="begin" name="begin" type="datetime-local" value=(field("begin"));
                label for="end" { "To (UTC)" }
                input id="end" name="end" type="datetime-local" value=(field("end"));
                button type="submit" { "Search" }
            }
            h2 { "Events of " (d.name) }
            @if items.is_empty() { p { "No event matches." } }
            @else {
                table.events {
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Recipient" }
                        th scope="col" { "Details" } th scope="col" { "Message" }
                    } }
                    tbody {
                        @for (ts, e) in &items {
                            tr {
                                td { (when(*ts)) }
                                td { span class={"ev " (e.event)} { (e.event) } }
                                td { (e.recipient) }
                                td { (details(e)) }
                                td {
                                    @if let Some(id) = &e.message.headers.message_id {
                                        a href={"/ui/logs/" (d.name) "/message?id=" (urlencode(id))} { "Timeline" }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(href) = &older {
                    p { a href=(href) { "Older events" } }
                }
            }
        },
    ))
}

/// Events per page.
const PAGE: i64 = 100;

/// `after=<time>.<id>`, as the "older" link writes it.
fn cursor(raw: &str) -> Result<(i64, i64), Refusal> {
    raw.split_once('.')
        .and_then(|(t, i)| Some((t.parse().ok()?, i.parse().ok()?)))
        .ok_or_else(|| {
            Refusal::BadRequest(format!(
                "after={raw:?} is not a page of events: follow the \"Older events\" link, or search again."
            ))
        })
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One line on what an event says: the reply, the MX and TLS of an attempt,
/// why a failure failed, the tags.
fn details(e: &EventView) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &e.delivery {
        match d.code.filter(|c| *c > 0) {
            Some(code) => parts.push(format!("{code} {}", d.message)),
            None if !d.message.is_empty() => parts.push(d.message.clone()),
            None => {}
        }
        if !d.mx_host.is_empty() {
            parts.push(format!("MX {}", d.mx_host));
            let tls = d.tls_version.as_deref().unwrap_or("TLS");
            parts.push(match (d.tls, d.certificate_verified) {
                (true, true) => format!("{tls}, certificate verified"),
                (true, false) => format!("{tls}, certificate not verified"),
                (false, _) => "no TLS".into(),
            });
        }
        if let Some(n) = d.attempt_no {
            parts.push(format!("attempt {n}"));
        }
        // The description is the reply again with its enhanced code: said
        // once is enough.
        if !d.description.is_empty() && !d.description.ends_with(&d.message) {
            parts.push(d.description.clone());
        }
    }
    match (&e.severity, &e.reason) {
        (Some(s), Some(r)) => parts.push(format!("{s} ({r})")),
        (Some(s), None) => parts.push(s.clone()),
        _ => {}
    }
    if !e.tags.is_empty() {
        parts.push(format!("tags: {}", e.tags.join(", ")));
    }
    parts.join(" · ")
}

pub async fn timeline(
    State(app): State<App>,
    user: User,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    user.may_see(&name)?;
    let d = crate::http::domains::find(&app, &name).await?;
    let asked = Form::from_query(raw.as_deref())?;
    let id = asked
        .get("id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::BadRequest("Which message? Give its Message-ID as ?id=…".into()))?;
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("message-id", id), ("ascending", "yes"), ("limit", "300")])
        .finish();
    let q = crate::http::events::query_from(&Form::from_query(Some(&encoded))?)?;
    let rows = app.store.events(d.id, &q).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push((r.ts, view(&r.data)?));
    }
    let key = items.iter().find_map(|(_, e)| e.storage.key.clone());
    let subject = items
        .iter()
        .find_map(|(_, e)| e.message.headers.subject.clone());
    Ok(page(
        Some(&user),
        "Message timeline",
        html! {
            dl.facts {
                dt { "Message ID" } dd { code { (id) } }
                dt { "Domain" } dd { (d.name) }
                @if let Some(s) = subject { dt { "Subject" } dd { (s) } }
                @if let Some(k) = &key {
                    dt { "Stored message" }
                    dd { a href={"/ui/logs/" (d.name) "/mime/" (k)} { "View the MIME" } }
                }
            }
            @if items.is_empty() { p { "No event of this message is kept." } }
            ol.timeline {
                @for (ts, e) in &items {
                    li {
                        span class={"ev " (e.event)} { (e.event) }
                        " " time { (when(*ts)) }
                        @if !e.recipient.is_empty() { " · " (e.recipient) }
                        div { (details(e)) }
                    }
                }
            }
            p { a href={"/ui/logs?domain=" (d.name)} { "Back to the logs" } }
        },
    ))
}

/// The stored message as it was accepted, as plain text.
pub async fn mime(
    State(app): State<App>,
    user: User,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    user.may_see(&name)?;
    let d = crate::http::domains::find(&app, &name).await?;
    let (_, body) = crate::http::messages::stored_body(&app, &d, &key).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "inline"),
        ],
        body,
    )
        .into_response())
}
