//! Webhooks: the URLs each kind of event is posted to, per domain, set or
//! removed here; the calls still to make or being retried, with what their
//! last attempt met; and the history of the calls that are over, each of
//! which may be replayed. Account key only: a webhook URL may carry the
//! receiver's own secret.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::{html, Markup};
use policy::webhooks::Kind;

use super::page::{api_form, csrf, domain_picker, page, when, Refusal};
use super::session::{Posted, User};
use super::Flash;
use crate::app::App;
use crate::http::form::Form;
use crate::store::audit::Audit;
use crate::store::webhook_history::CallOutcome;

/// Finished calls shown, newest first.
const HISTORY: i64 = 100;

pub async fn get(
    State(app): State<App>,
    user: User,
    flash: Flash,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    user.require_account()?;
    let asked = Form::from_query(raw.as_deref())?;
    let (d, all) = super::overview::chosen(&app, &user, asked.get("domain")).await?;
    let hooks = app.store.webhooks(d.id).await?;
    let pending = app.store.pending_webhook_calls(d.id, 100).await?;
    let history = app.store.finished_webhook_calls(d.id, HISTORY).await?;
    Ok(page(
        Some(&user),
        "Webhooks",
        html! {
            (flash.markup())
            (domain_picker("/ui/webhooks", &all, &d))
            h2 { "Events posted by " (d.name) }
            p.hint { "Each kind of event is posted to up to 3 URLs, signed with the account's webhook signing key. Separate several URLs with spaces." }
            table {
                thead { tr { th scope="col" { "Event" } th scope="col" { "URLs" } th scope="col" { span.visually-hidden { "Change" } } } }
                tbody {
                    @for kind in Kind::ALL {
                        @let urls = hooks.iter().find(|(k, _)| k == kind.as_str()).map(|(_, u)| u.as_slice()).unwrap_or_default();
                        tr {
                            td { (kind.as_str()) }
                            td { @if urls.is_empty() { "none" } @for u in urls { code { (u) } br; } }
                            td {
                                form.inline method="post" action={ "/ui/webhooks/" (d.name) "/" (kind.as_str()) } {
                                    (csrf(&user))
                                    label.visually-hidden for={ "url-" (kind.as_str()) } { "URLs for " (kind.as_str()) }
                                    input id={ "url-" (kind.as_str()) } name="urls" type="text" value=(urls.join(" ")) placeholder="https://…";
                                    button type="submit" { "Save" }
                                }
                                @if !urls.is_empty() {
                                    form.inline.confirm method="post" action={ "/ui/webhooks/" (d.name) "/" (kind.as_str()) "/delete" }
                                        data-confirm={ "Stop posting " (kind.as_str()) " events?" } {
                                        (csrf(&user))
                                        button.danger type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Calls waiting or being retried" }
            @if pending.is_empty() { p { "None: every call was made." } }
            @else {
                table {
                    thead { tr {
                        th scope="col" { "Event" } th scope="col" { "URL" } th scope="col" { "Attempts" }
                        th scope="col" { "Next" } th scope="col" { "Last attempt" }
                    } }
                    tbody {
                        @for c in &pending {
                            tr {
                                td { (c.kind) } td { code { (c.url) } } td { (c.attempts) }
                                td { (when(c.next_at)) } td { (c.last_error) }
                            }
                        }
                    }
                }
            }
            h2 { "Calls made" }
            @if history.is_empty() { p { "None yet." } }
            @else {
                p.hint { "The " (HISTORY) " most recent, kept as long as their events. Replay posts the same event again, freshly signed." }
                table {
                    thead { tr {
                        th scope="col" { "Finished" } th scope="col" { "Event" } th scope="col" { "URL" }
                        th scope="col" { "Outcome" } th scope="col" { "Attempts" } th scope="col" { "Answer" }
                        th scope="col" { "Replay" }
                    } }
                    tbody {
                        @for c in &history {
                            tr {
                                td { (when(c.finished_at)) } td { (c.kind) } td { code { (c.url) } }
                                td { (outcome(c.outcome)) } td { (c.attempts) } td { (c.answer) }
                                td {
                                    @if c.event_id.is_some() {
                                        form.inline method="post" action={ "/ui/webhooks/" (d.name) "/replay/" (c.id) } {
                                            (csrf(&user)) button { "Replay" }
                                        }
                                    } @else { "event gone" }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn outcome(o: CallOutcome) -> &'static str {
    match o {
        CallOutcome::Delivered => "delivered",
        CallOutcome::Refused => "refused (406: not retried)",
        CallOutcome::GivenUp => "given up after its last retry",
        CallOutcome::EventGone => "not made: the event was pruned",
    }
}

/// Makes a finished call again (account key).
pub async fn replay(
    State(app): State<App>,
    Path((name, id)): Path<(String, i64)>,
    Posted { user, .. }: Posted,
) -> Result<Response, Refusal> {
    let d = user.changing(&app, &name).await?.domain;
    let back = format!("/ui/webhooks?domain={name}");
    if !app.store.replay_webhook_call(d.id, id).await? {
        return Ok(Flash::redirect(
            &back,
            false,
            "That call is not in the history any more, or its event is gone: nothing to replay.",
        ));
    }
    app.audit(&Audit {
        actor: user.who.key_id(),
        action: "webhook.replay",
        target: &id.to_string(),
        domain: Some(&d.name),
        detail: "",
    })
    .await;
    Ok(Flash::redirect(
        &back,
        true,
        "Replayed: the call is made again within a second.",
    ))
}

/// Sets the URLs an event is posted to (account key), as
/// `PUT /v3/domains/{domain}/webhooks/{id}`.
pub async fn set(
    State(app): State<App>,
    Path((name, kind)): Path<(String, String)>,
    Posted { user, form }: Posted,
) -> Result<Response, Refusal> {
    let target = user.changing(&app, &name).await?;
    let back = format!("/ui/webhooks?domain={name}");
    let urls = form.get("urls").unwrap_or("");
    let api_form = api_form(urls.split_whitespace().map(|u| ("url", u)))?;
    let answer = crate::http::webhooks::update(
        State(app),
        target,
        Path((name, kind)),
        crate::http::extract::SmallForm(api_form),
    )
    .await;
    Ok(Flash::answered(&back, answer, "Saved."))
}

/// Stops posting an event (account key), as `DELETE …/webhooks/{id}`.
pub async fn delete(
    State(app): State<App>,
    Path((name, kind)): Path<(String, String)>,
    Posted { user, .. }: Posted,
) -> Result<Response, Refusal> {
    let target = user.changing(&app, &name).await?;
    let back = format!("/ui/webhooks?domain={name}");
    let answer = crate::http::webhooks::remove(State(app), target, Path((name, kind))).await;
    Ok(Flash::answered(&back, answer, "Removed."))
}
