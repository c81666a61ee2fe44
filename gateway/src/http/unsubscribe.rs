//! The one-click unsubscribe link, `/u/{token}` (no API key: the token is
//! the proof). `GET` shows a page with a button, so that link scanners which
//! follow every URL unsubscribe nobody; `POST` (RFC 8058's one-click, or the
//! button) adds the address to the domain's unsubscribes and records an
//! `unsubscribed` event. A forged or altered token gets 400 and changes
//! nothing.

use axum::extract::{Path, State};
use axum::response::Html;

use super::error::{ApiError, ApiResult};
use crate::app::App;
use crate::unsubscribe::{self, Recipients, Token};

fn open(app: &App, token: &str) -> ApiResult<Token> {
    Token::open(&app.master_key, token).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Whom the link names, in words for the page.
fn whom(t: &Token) -> String {
    match &t.recipients {
        Recipients::One(a) => a.clone(),
        Recipients::AllAt(d) => format!("the recipients at {d} of this message"),
    }
}

#[utoipa::path(
    get,
    path = "/u/{token}",
    operation_id = "unsubscribe_page",
    tag = "unsubscribe",
    summary = "The unsubscribe page a recipient reaches from a message's link.",
    params(("token" = String, Path, description = "The token of the link or page.")),
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String))
)]
pub async fn page(State(app): State<App>, Path(token): Path<String>) -> ApiResult<Html<String>> {
    let t = open(&app, &token)?;
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>\
         <p>Stop emails from {domain} to {whom}?</p>\
         <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form></body></html>",
        domain = escape(&t.domain),
        whom = escape(&whom(&t)),
    )))
}

#[utoipa::path(
    post,
    path = "/u/{token}",
    operation_id = "unsubscribe_confirm",
    tag = "unsubscribe",
    summary = "One-click unsubscribe (RFC 8058 List-Unsubscribe-Post) or the page's confirmation.",
    params(("token" = String, Path, description = "The token of the link or page.")),
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String))
)]
pub async fn confirm(State(app): State<App>, Path(token): Path<String>) -> ApiResult<Html<String>> {
    let t = open(&app, &token)?;
    // The domain may have been deleted since the message went out.
    let Some(done) = unsubscribe::apply(&app.store, &t).await? else {
        return Err(ApiError::domain_not_found(&t.domain));
    };
    app.reputation.changed(done.domain_id);
    tracing::info!(domain = %t.domain, addresses = ?done.addresses, "unsubscribed by one-click link");
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head><body>\
         <p>{whom} will get no more emails from {domain}.</p></body></html>",
        domain = escape(&t.domain),
        whom = escape(&done.addresses.join(", ")),
    )))
}
