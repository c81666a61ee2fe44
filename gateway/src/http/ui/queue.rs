//! Queue: what waits, by destination domain (queued, being delivered by a
//! node, the oldest, held and why, the next attempt). The account sees the
//! whole queue and acts on a destination: retry now, hold / release, drop
//! with a reason; a domain's key sees its own mail in it, read-only.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::response::Response;
use maud::{html, Markup};

use super::page::{csrf, page, when, Refusal};
use super::session::{Posted, User};
use super::Flash;
use crate::app::App;
use crate::store::audit::Audit;
use crate::store::holds::{DestinationHold, HoldKind};
use crate::store::now_micros;
use crate::store::snapshot::QueuedFor;

const BACK: &str = "/ui/queue";

/// A destination's row: what waits for it and its holds, either may be
/// missing (a destination held with nothing queued is still shown).
#[derive(Default)]
struct Row<'a> {
    queued: Option<&'a QueuedFor>,
    holds: Vec<&'a DestinationHold>,
}

pub async fn get(State(app): State<App>, user: User, flash: Flash) -> Result<Markup, Refusal> {
    let sender = match user.confined_to() {
        Some(name) => Some(crate::http::domains::find(&app, name).await?.id),
        None => None,
    };
    let queue = app.store.queue_by_destination(sender).await?;
    let holds = app.store.destination_holds().await?;
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for q in &queue {
        rows.entry(&q.destination).or_default().queued = Some(q);
    }
    for h in &holds {
        // A domain's key sees holds only where its own mail waits.
        if sender.is_none() || rows.contains_key(h.destination.as_str()) {
            rows.entry(&h.destination).or_default().holds.push(h);
        }
    }
    // Most recipients first, as the queue comes; held-only ones last.
    let mut rows: Vec<(&str, Row)> = rows.into_iter().collect();
    rows.sort_by_key(|(_, r)| std::cmp::Reverse(r.queued.map_or(0, |q| q.recipients)));
    let now = now_micros();
    let total: i64 = queue.iter().map(|q| q.recipients).sum();
    let acts = user.confined_to().is_none();
    Ok(page(
        Some(&user),
        "Queue",
        html! {
            (flash.markup())
            p {
                @match user.confined_to() {
                    Some(d) => { "The mail of " (d) " waiting for delivery: " }
                    None => { "Mail waiting for delivery: " }
                }
                strong { (total) } " recipient(s) for " (queue.len()) " destination(s)."
            }
            @if acts {
                p.hint {
                    "Retry now makes a destination's waiting mail due at once and lifts an unreachable hold. "
                    "Hold stops delivery to it on every node until released. "
                    "Drop fails its waiting mail for good with your reason, as a failed event per recipient; mail being delivered right now is left to finish."
                }
            }
            @if !rows.is_empty() {
                table {
                    thead { tr {
                        th scope="col" { "Destination" } th scope="col" { "Queued" } th scope="col" { "Being delivered" }
                        th scope="col" { "Oldest" } th scope="col" { "Held" } th scope="col" { "Next attempt" }
                        @if acts { th scope="col" { "Actions" } }
                    } }
                    tbody {
                        @for (dest, r) in &rows {
                            tr {
                                td { (dest) }
                                td { (r.queued.map_or(0, |q| q.recipients)) }
                                td { (r.queued.map_or(0, |q| q.leased)) }
                                td { @if let Some(q) = r.queued { (when(q.oldest_at)) } }
                                td { @for h in &r.holds { div { (held(h)) } } }
                                td { @if let Some(q) = r.queued {
                                    @if q.next_attempt_at <= now { "now" } @else { (when(q.next_attempt_at)) }
                                } }
                                @if acts { td { (actions(&user, dest, r)) } }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn held(h: &DestinationHold) -> Markup {
    match h.kind {
        HoldKind::Operator => html! { "by an operator: " (h.reason) },
        HoldKind::Unreachable => html! {
            "unreachable (" (h.failures) " failure(s) in a row) until "
            (h.until.map(when).unwrap_or_default()) ": " (h.reason)
        },
    }
}

fn actions(user: &User, dest: &str, r: &Row) -> Markup {
    let held = r.holds.iter().any(|h| h.kind == HoldKind::Operator);
    let path = |what: &str| format!("/ui/queue/{dest}/{what}");
    html! {
        div {
            @if r.queued.is_some() {
                form.inline method="post" action=(path("retry")) { (csrf(user)) button { "Retry now" } }
            }
            @if held {
                form.inline method="post" action=(path("release")) { (csrf(user)) button { "Release" } }
            } @else {
                form.inline method="post" action=(path("hold")) { (csrf(user)) button { "Hold" } }
            }
            @if r.queued.is_some() {
                form.inline.confirm method="post" action=(path("drop"))
                    data-confirm={ "Drop the mail waiting for " (dest) " for good?" } {
                    (csrf(user))
                    label { "Reason " input type="text" name="reason" id={ "drop-" (dest.replace('.', "-")) } required maxlength="200"; }
                    button.danger { "Drop" }
                }
            }
        }
    }
}

/// A destination from the path: a domain name, as the queue spells it.
fn destination(raw: &str) -> Result<String, Refusal> {
    let d = raw.trim().to_ascii_lowercase();
    let fine = !d.is_empty()
        && d.len() <= 253
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    if fine {
        Ok(d)
    } else {
        Err(Refusal::BadRequest(format!(
            "{raw:?} is not a destination domain: pick one from the queue page."
        )))
    }
}

/// A queue action: the account's post, on the destination its path names.
pub struct Action {
    user: User,
    dest: String,
    form: crate::http::form::Form,
}

impl FromRequest<App> for Action {
    type Rejection = Refusal;

    async fn from_request(req: Request, app: &App) -> Result<Self, Refusal> {
        let (mut parts, body) = req.into_parts();
        let Path(raw) = Path::<String>::from_request_parts(&mut parts, app)
            .await
            .map_err(|e| Refusal::BadRequest(e.to_string()))?;
        let Posted { user, form }: Posted =
            Posted::from_request(Request::from_parts(parts, body), app).await?;
        user.require_account()?;
        Ok(Action {
            dest: destination(&raw)?,
            user,
            form,
        })
    }
}

/// Records an operator's action on a destination; it is done already.
async fn audited(app: &App, user: &User, action: &str, dest: &str, detail: &str) {
    app.audit(&Audit {
        actor: user.who.key_id(),
        action,
        target: dest,
        domain: None,
        detail,
    })
    .await;
}

pub async fn retry(
    State(app): State<App>,
    Action { user, dest, .. }: Action,
) -> Result<Response, Refusal> {
    let n = app.store.retry_destination_now(&dest, None).await?;
    audited(
        &app,
        &user,
        "queue.retry",
        &dest,
        &format!("{n} recipient(s)"),
    )
    .await;
    app.queue_wake.notify_one();
    Ok(Flash::redirect(
        BACK,
        true,
        &format!("{dest}: {n} recipient(s) due now; any unreachable hold is lifted."),
    ))
}

pub async fn hold(
    State(app): State<App>,
    Action { user, dest, form }: Action,
) -> Result<Response, Refusal> {
    let reason = match form.get("reason").map(str::trim) {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => format!("held from the dashboard by key {}", user.who.key_id()),
    };
    app.store
        .hold_destination(&dest, HoldKind::Operator, &reason, None, 0)
        .await?;
    audited(&app, &user, "queue.hold", &dest, &reason).await;
    Ok(Flash::redirect(
        BACK,
        true,
        &format!("{dest} is held: nothing is delivered to it until released."),
    ))
}

pub async fn release(
    State(app): State<App>,
    Action { user, dest, .. }: Action,
) -> Result<Response, Refusal> {
    if !app
        .store
        .release_destination(&dest, HoldKind::Operator)
        .await?
    {
        return Ok(Flash::redirect(
            BACK,
            false,
            &format!("{dest} was not held."),
        ));
    }
    audited(&app, &user, "queue.release", &dest, "").await;
    app.queue_wake.notify_one();
    Ok(Flash::redirect(
        BACK,
        true,
        &format!("{dest} is released: its mail is delivered again."),
    ))
}

pub async fn drop(
    State(app): State<App>,
    Action { user, dest, form }: Action,
) -> Result<Response, Refusal> {
    let reason = form.get("reason").map(str::trim).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Refusal::BadRequest(
            "Say why the mail is dropped (200 characters at most): the reason goes into each recipient's failed event.".into(),
        ));
    }
    let n = crate::delivery::drop::drop_waiting(&app.store, &app.node, Some(&dest), None, reason)
        .await?;
    audited(
        &app,
        &user,
        "queue.drop",
        &dest,
        &format!("{n} recipient(s): {reason}"),
    )
    .await;
    Ok(Flash::redirect(
        BACK,
        true,
        &format!("{dest}: {n} recipient(s) dropped."),
    ))
}
