//! The dashboard's page shell (header, navigation, main landmark) and its
//! refusals as pages: what a person sees is always a page, never JSON.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::session::User;
use crate::time::iso8601;

/// The sections of the navigation, in order; `account` ones only for the
/// account key.
const SECTIONS: &[(&str, &str, bool)] = &[
    ("Overview", "/ui/", false),
    ("Domains", "/ui/domains", false),
    ("Logs", "/ui/logs", false),
    ("Queue", "/ui/queue", false),
    ("Suppressions", "/ui/suppressions", false),
    ("DMARC", "/ui/dmarc", false),
    ("Webhooks", "/ui/webhooks", true),
    ("Keys", "/ui/keys", true),
    ("Audit", "/ui/audit", true),
];

/// A whole page: `title` is both the document title and the page's h1.
pub fn page(user: Option<&User>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · envoi" }
                link rel="stylesheet" href="/ui/assets/app.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "envoi" }
                    @if let Some(u) = user {
                        nav aria-label="Sections" {
                            ul {
                                @for (name, href, account) in SECTIONS {
                                    @if !account || u.is_account() {
                                        li { a href=(href) { (name) } }
                                    }
                                }
                            }
                        }
                        form.signout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(u.csrf);
                            span.who {
                                @match u.confined_to() {
                                    Some(d) => { "Key of " (d) " (read-only)" }
                                    None => { "Account key" }
                                }
                            }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A notice above a page's content: what an action did, or why it failed.
pub fn notice(ok: bool, text: &str) -> Markup {
    html! {
        @if ok { p.notice.ok role="status" { (text) } }
        @else { p.notice.error role="alert" { (text) } }
    }
}

/// The "Domain" choice of a page's form: the domains in view, `current`
/// selected.
pub fn domain_select(
    all: &[crate::store::domains::Domain],
    current: &crate::store::domains::Domain,
) -> Markup {
    html! {
        label for="domain" { "Domain" }
        select id="domain" name="domain" {
            @for o in all { option value=(o.name) selected[o.id == current.id] { (o.name) } }
        }
    }
}

/// The form at the top of a page that picks its domain.
pub fn domain_picker(
    action: &str,
    all: &[crate::store::domains::Domain],
    current: &crate::store::domains::Domain,
) -> Markup {
    html! {
        form.search method="get" action=(action) {
            (domain_select(all, current))
            button type="submit" { "Show" }
        }
    }
}

/// The fields a dashboard form hands to an API handler, as that handler
/// reads its own form.
pub fn api_form<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<crate::http::form::Form, Refusal> {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Ok(crate::http::form::Form::from_query(Some(&encoded))?)
}

/// A hidden CSRF field, for every form that changes something.
pub fn csrf(user: &User) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// The value of the cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
}

/// A time for people: ISO 8601, UTC, to the second.
pub fn when(micros: i64) -> String {
    let s = iso8601(micros);
    s.get(..19)
        .map(|d| format!("{} UTC", d.replace('T', " ")))
        .unwrap_or(s)
}

/// Why a dashboard request got no page of its own: each becomes a page
/// that says so (or, not signed in, the sign-in page).
#[derive(Debug)]
pub enum Refusal {
    /// Not signed in: the sign-in page, then back to this path.
    SignIn(String),
    Forbidden(String),
    BadRequest(String),
    NotFound(String),
    /// Logged with its cause; the page does not show it.
    Internal,
}

fn message(title: &str, text: &str) -> Markup {
    page(
        None,
        title,
        html! {
            p { (text) }
            p { a href="/ui/" { "Back to the overview" } }
        },
    )
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Refusal::SignIn(next) => {
                let target = format!(
                    "/ui/login?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return Redirect::to(&target).into_response();
            }
            Refusal::Forbidden(t) => (StatusCode::FORBIDDEN, message("Not for this key", &t)),
            Refusal::BadRequest(t) => (StatusCode::BAD_REQUEST, message("That did not work", &t)),
            Refusal::NotFound(t) => (StatusCode::NOT_FOUND, message("Not found", &t)),
            Refusal::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                message(
                    "Something went wrong",
                    "envoi could not build this page; the details are in its log.",
                ),
            ),
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body.into_string(),
        )
            .into_response()
    }
}

/// An API error met by a dashboard action, shown with its message.
impl From<crate::http::error::ApiError> for Refusal {
    fn from(e: crate::http::error::ApiError) -> Refusal {
        use crate::http::error::ApiError as E;
        match e {
            E::Forbidden(t) => Refusal::Forbidden(t),
            E::NotFound(t) => Refusal::NotFound(t),
            E::Internal(t) => {
                tracing::error!(error = %t, "dashboard page failed");
                Refusal::Internal
            }
            other => Refusal::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Refusal {
        crate::http::error::ApiError::from(e).into()
    }
}

/// Markup that is already HTML (an SVG drawn here).
pub fn raw(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}
