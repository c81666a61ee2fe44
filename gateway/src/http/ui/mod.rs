//! The dashboard, under `/ui/` on the HTTP listener: server-rendered HTML
//! (maud), charts as SVG drawn here, one stylesheet and one small script
//! compiled into the binary. Nothing is fetched from anywhere else, and the
//! Content-Security-Policy says so to the browser.
//!
//! Sign in with the account key (everything) or a domain's key (that
//! domain's pages, read-only). Changes go through the same handlers as the
//! API, so they check, record and audit exactly what the API does.

mod chart;
mod dmarc;
mod domains;
mod keys;
mod logs;
mod overview;
mod page;
mod queue;
pub mod session;
mod signin;
mod suppressions;
mod webhooks;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;

use crate::app::App;

/// The browser may load only what this origin serves, run only its script,
/// post forms only to it, and be framed by nobody.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<App> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(overview::get))
        .route("/ui/login", get(signin::form).post(signin::submit))
        .route("/ui/logout", post(signin::logout))
        .route("/ui/assets/{name}", get(asset))
        // Any other path under /ui/ is a page that says so, not a bare 404.
        .route("/ui/{*rest}", axum::routing::any(no_such_page))
        .route("/ui/domains", get(domains::get))
        .route("/ui/domains/{domain}/reinstate", post(overview::reinstate))
        .route("/ui/domains/{domain}/verify", post(domains::verify))
        .route("/ui/domains/{domain}/rotate", post(domains::rotate))
        .route(
            "/ui/domains/{domain}/connection",
            post(domains::set_connection),
        )
        .route("/ui/queue", get(queue::get))
        .route("/ui/queue/{destination}/retry", post(queue::retry))
        .route("/ui/queue/{destination}/hold", post(queue::hold))
        .route("/ui/queue/{destination}/release", post(queue::release))
        .route("/ui/queue/{destination}/drop", post(queue::drop))
        .route("/ui/dmarc", get(dmarc::get))
        .route("/ui/webhooks", get(webhooks::get))
        .route("/ui/webhooks/{domain}/replay/{id}", post(webhooks::replay))
        .route("/ui/webhooks/{domain}/{kind}", post(webhooks::set))
        .route(
            "/ui/webhooks/{domain}/{kind}/delete",
            post(webhooks::delete),
        )
        .route("/ui/logs", get(logs::search))
        .route("/ui/logs/{domain}/message", get(logs::timeline))
        .route("/ui/logs/{domain}/mime/{key}", get(logs::mime))
        .route("/ui/suppressions", get(suppressions::list))
        .route("/ui/suppressions/export", get(suppressions::export))
        .route("/ui/suppressions/add", post(suppressions::add))
        .route("/ui/suppressions/remove", post(suppressions::remove))
        .route("/ui/suppressions/import", post(suppressions::import))
        .route("/ui/keys", get(keys::list).post(keys::create))
        .route("/ui/keys/{id}/rotate", post(keys::rotate))
        .route("/ui/keys/{id}/delete", post(keys::delete))
        .route("/ui/credentials/{domain}", post(keys::create_credential))
        .route(
            "/ui/credentials/{domain}/password",
            post(keys::change_password),
        )
        .route(
            "/ui/credentials/{domain}/delete",
            post(keys::delete_credential),
        )
        .route("/ui/audit", get(keys::audit))
}

/// Every `/ui/` response: the session read once (for the extractors), its
/// idle clock reset, the flash notice cleared once shown, and the headers
/// that keep the page to itself.
pub async fn layer(State(app): State<App>, mut req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/ui") {
        return next.run(req).await;
    }
    // The stylesheet and script need no session: no key lookup for them.
    let found = if req.uri().path().starts_with("/ui/assets/") {
        None
    } else {
        session::current(&app, req.headers()).await
    };
    let had_flash = Flash::read(req.headers()).is_some();
    let mut refresh = None;
    if let Some((user, r)) = found {
        req.extensions_mut().insert(user);
        refresh = r;
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let sets = |h: &axum::http::HeaderMap, name: &str| {
        h.get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&format!("{name}="))))
    };
    if let Some(c) = refresh.filter(|_| !sets(h, session::COOKIE)) {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    if had_flash && !sets(h, FLASH) {
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "envoi_flash=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0",
            ),
        );
    }
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

const FLASH: &str = "envoi_flash";

/// What the last action did, shown once on the page it led to (a cookie,
/// so no link can make the dashboard say something it did not).
pub struct Flash(Option<(bool, String)>);

impl Flash {
    fn read(headers: &axum::http::HeaderMap) -> Option<(bool, String)> {
        let raw = page::cookie(headers, FLASH)?;
        let (ok, text) = raw.split_once(':')?;
        let text: String = form_urlencoded::parse(format!("t={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        Some((ok == "1", text))
    }

    /// A 303 to `to`, carrying `text` for it to show.
    pub fn redirect(to: &str, ok: bool, text: &str) -> Response {
        let value: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
        let cookie = format!(
            "{FLASH}={}:{value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=60",
            u8::from(ok)
        );
        let mut res = Redirect::to(to).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    }

    /// A 303 to `to` saying what an API handler answered: its `message`
    /// (or `done`), or its error.
    pub fn answered(
        to: &str,
        answer: crate::http::error::ApiResult<axum::Json<serde_json::Value>>,
        done: &str,
    ) -> Response {
        match answer {
            Ok(j) => Flash::redirect(to, true, j.0["message"].as_str().unwrap_or(done)),
            Err(e) => Flash::redirect(to, false, &e.to_string()),
        }
    }

    pub fn markup(&self) -> Markup {
        match &self.0 {
            Some((ok, text)) => page::notice(*ok, text),
            None => maud::html! {},
        }
    }
}

impl FromRequestParts<App> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, Self::Rejection> {
        Ok(Flash(Flash::read(&parts.headers)))
    }
}

async fn no_such_page() -> page::Refusal {
    page::Refusal::NotFound(
        "There is no such page in the dashboard: use the navigation above, or start from the overview.".into(),
    )
}

/// The stylesheet and script, compiled in.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.css" => (include_str!("assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_str!("assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return page::Refusal::NotFound(format!("no asset {name:?}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
