//! Signing in with a key, and out. Wrong keys count against the address as
//! they do on the API (`http::shield`), so the form is no faster a way to
//! guess keys than Basic auth.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::page::{notice, page, Refusal};
use super::session::{set_cookie, Posted, Session, User};
use crate::app::App;
use crate::http::auth::authenticate_secret;
use crate::http::shield::{KEY_FAILURES, KEY_WINDOW};
use crate::store::now_micros;

/// Ties the sign-in form to the browser that loaded it (double submit), so
/// another site cannot sign a visitor in with its own key.
const LOGIN_COOKIE: &str = "envoi_ui_login";

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path of the dashboard: never somewhere else after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/ui/") && !n.starts_with("/ui//") && !n.contains('\\'))
        .unwrap_or("/ui/")
}

fn form_page(token: &str, next: &str, error: Option<&str>) -> Markup {
    page(
        None,
        "Sign in",
        html! {
            @if let Some(e) = error { (notice(false, e)) }
            form.signin method="post" action="/ui/login" {
                input type="hidden" name="login_token" value=(token);
                input type="hidden" name="next" value=(next);
                label for="key" { "API key" }
                input id="key" name="key" type="password" autocomplete="current-password" required autofocus;
                p.hint {
                    "The account key shows everything; a domain's key shows that domain's pages, read-only."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

fn with_login_token(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let token = crate::crypto::random_hex(16);
    let cookie =
        format!("{LOGIN_COOKIE}={token}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=3600");
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        form_page(&token, next, error).into_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn form(user: Option<User>, Query(q): Query<Next>) -> Response {
    let next = safe_next(q.next.as_deref());
    if user.is_some() {
        return Redirect::to(next).into_response();
    }
    with_login_token(StatusCode::OK, next, None)
}

pub async fn submit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Result<Response, Refusal> {
    let ip = peer.ip();
    let (parts, body) = req.into_parts();
    let form = crate::http::small_form(&parts.headers, body, None)
        .await
        .map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let next = safe_next(form.get("next")).to_string();
    let cookie = super::page::cookie(&parts.headers, LOGIN_COOKIE).unwrap_or("");
    let sent = form.get("login_token").unwrap_or("");
    if cookie.is_empty() || !bool::from(cookie.as_bytes().ct_eq(sent.as_bytes())) {
        return Ok(with_login_token(
            StatusCode::FORBIDDEN,
            &next,
            Some(
                "This sign-in form is out of date or came from another page. Enter the key again.",
            ),
        ));
    }
    if let Some(wait) = app.key_guard.refused_for(ip) {
        let text = format!(
            "Too many wrong keys from {ip}: {KEY_FAILURES} within {} minutes. Try again in {} s.",
            KEY_WINDOW.as_secs() / 60,
            wait.as_secs().max(1)
        );
        return Ok(with_login_token(
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some(&text),
        ));
    }
    let key = form.get("key").unwrap_or("").trim();
    match authenticate_secret(&app, key).await {
        Ok((_, key)) => {
            let session = Session::new(&key.id, now_micros() / 1_000_000);
            tracing::info!(key_id = %key.id, %ip, "dashboard sign-in");
            let mut res = Redirect::to(&next).into_response();
            let h = res.headers_mut();
            for c in [
                set_cookie(&app, &session.encode(&app, &key)),
                format!("{LOGIN_COOKIE}=; Path=/ui/login; Max-Age=0"),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    h.append(header::SET_COOKIE, v);
                }
            }
            Ok(res)
        }
        Err(e) => {
            if matches!(e, crate::http::error::ApiError::InvalidKey(_)) {
                let n = app.key_guard.failed(ip);
                tracing::warn!(%ip, failures = n, "dashboard sign-in with a wrong key");
            }
            let text = match e {
                crate::http::error::ApiError::InvalidKey(_) => {
                    "That key is not valid. Use the account key or one of a domain's keys."
                        .to_string()
                }
                other => other.to_string(),
            };
            Ok(with_login_token(
                StatusCode::UNAUTHORIZED,
                &next,
                Some(&text),
            ))
        }
    }
}

pub async fn logout(State(app): State<App>, Posted { user, .. }: Posted) -> Response {
    tracing::info!(key_id = %user.key.id, "dashboard sign-out");
    // The cookie is cleared below; a copy of it must stop working too.
    let ends_at = user.session.issued + super::session::MAX_AGE;
    let now = crate::store::now_micros() / 1_000_000;
    if let Err(e) = app
        .store
        .sign_out_session(&user.session.nonce, ends_at, now)
        .await
    {
        tracing::error!(error = %e, "could not record the sign-out: the session lives until it expires");
    }
    let mut res = Redirect::to("/ui/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&app, "")) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn after_sign_in_only_dashboard_paths() {
        assert_eq!(safe_next(Some("/ui/logs?domain=a")), "/ui/logs?domain=a");
        assert_eq!(safe_next(Some("https://evil.example/")), "/ui/");
        assert_eq!(safe_next(Some("//evil.example/ui/")), "/ui/");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui/");
        assert_eq!(safe_next(Some("/ui/\\evil")), "/ui/");
        assert_eq!(safe_next(None), "/ui/");
    }
}
