//! Webhooks: the URLs each kind of event is posted to, per domain, and the
//! calls still to make or being retried, with what their last attempt met.
//! (Finished calls are not kept: their history, and a replay, are left.)
//! Account key only: a webhook URL may carry the receiver's own secret.

use axum::extract::{RawQuery, State};
use maud::{html, Markup};

use super::page::{domain_select, page, when, Refusal};
use super::session::User;
use crate::app::App;
use crate::http::form::Form;

pub async fn get(
    State(app): State<App>,
    user: User,
    RawQuery(raw): RawQuery,
) -> Result<Markup, Refusal> {
    user.require_account()?;
    let asked = Form::from_query(raw.as_deref())?;
    let (d, all) = super::overview::chosen(&app, &user, asked.get("domain")).await?;
    let hooks = app.store.webhooks(d.id).await?;
    let pending = app.store.pending_webhook_calls(d.id, 100).await?;
    Ok(page(
        Some(&user),
        "Webhooks",
        html! {
            form.search method="get" action="/ui/webhooks" {
                (domain_select(&all, &d))
                button type="submit" { "Show" }
            }
            h2 { "Events posted by " (d.name) }
            @if hooks.is_empty() {
                p { "No webhook. Set one with " code { "POST /v3/domains/" (d.name) "/webhooks" } "." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Event" } th scope="col" { "URLs" } } }
                    tbody {
                        @for (kind, urls) in &hooks {
                            tr { td { (kind) } td { @for u in urls { code { (u) } br; } } }
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
        },
    ))
}
