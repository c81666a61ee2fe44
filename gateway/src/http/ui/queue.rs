//! Queue: what waits, by destination domain (queued, being delivered by a
//! node, the oldest, the next attempt). The account sees the whole queue;
//! a domain's key, its own mail in it.

use axum::extract::State;
use maud::{html, Markup};

use super::page::{page, when, Refusal};
use super::session::User;
use crate::app::App;
use crate::store::now_micros;

pub async fn get(State(app): State<App>, user: User) -> Result<Markup, Refusal> {
    let sender = match user.confined_to() {
        Some(name) => Some(crate::http::domains::find(&app, name).await?.id),
        None => None,
    };
    let queue = app.store.queue_by_destination(sender).await?;
    let now = now_micros();
    let total: i64 = queue.iter().map(|q| q.recipients).sum();
    Ok(page(
        Some(&user),
        "Queue",
        html! {
            p {
                @match user.confined_to() {
                    Some(d) => { "The mail of " (d) " waiting for delivery: " }
                    None => { "Mail waiting for delivery: " }
                }
                strong { (total) } " recipient(s) for " (queue.len()) " destination(s)."
            }
            @if !queue.is_empty() {
                table {
                    thead { tr {
                        th scope="col" { "Destination" } th scope="col" { "Queued" } th scope="col" { "Being delivered" }
                        th scope="col" { "Oldest" } th scope="col" { "Next attempt" }
                    } }
                    tbody {
                        @for q in &queue {
                            tr {
                                td { (q.destination) }
                                td { (q.recipients) }
                                td { (q.leased) }
                                td { (when(q.oldest_at)) }
                                td { @if q.next_attempt_at <= now { "now" } @else { (when(q.next_attempt_at)) } }
                            }
                        }
                    }
                }
            }
        },
    ))
}
