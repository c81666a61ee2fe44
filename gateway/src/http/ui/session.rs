//! The dashboard's sign-in session: a cookie that names the key signed in
//! with, when, and when last seen, under a MAC from the master key. It holds
//! no secret and is checked without a session table, so any node of a
//! cluster takes it; it is bound to the key's current secret hash, so
//! rotating or deleting the key ends every session made with it. A sign-out
//! is written down (`store::ui_sessions`) so a copy of the cookie stops too.
//!
//! Each form carries a CSRF token derived from the session's nonce; the
//! cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` when
//! `[http].public_url` is https.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::page::Refusal;
use crate::app::App;
use crate::http::auth::{principal_of, Principal};
use crate::http::form::Form;
use crate::store::keys::ApiKey;
use crate::store::now_micros;

pub const COOKIE: &str = "envoi_ui";
/// A session not used for this long ends (the person walked away).
pub const IDLE: i64 = 30 * 60;
/// However busy, a session ends this long after sign-in.
pub const MAX_AGE: i64 = 12 * 3600;
/// The cookie is re-issued (its idle clock reset) at most this often.
const REFRESH: i64 = 60;

/// The parts of a session cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub key_id: String,
    /// Seconds since the epoch.
    pub issued: i64,
    pub seen: i64,
    pub nonce: String,
}

impl Session {
    pub fn new(key_id: &str, now: i64) -> Session {
        Session {
            key_id: key_id.to_string(),
            issued: now,
            seen: now,
            nonce: crate::crypto::random_hex(16),
        }
    }

    fn payload(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.key_id, self.issued, self.seen, self.nonce
        )
    }

    /// The cookie's value: the payload and its MAC over the key's secret hash.
    pub fn encode(&self, app: &App, key: &ApiKey) -> String {
        let payload = self.payload();
        format!("{payload}.{}", hex::encode(mac(app, &payload, key)))
    }

    /// The parts of a cookie value, before its MAC is checked.
    fn parse(value: &str) -> Option<(Session, Vec<u8>)> {
        let (payload, tag) = value.rsplit_once('.')?;
        let mut it = payload.split('.');
        let s = Session {
            key_id: it.next()?.to_string(),
            issued: it.next()?.parse().ok()?,
            seen: it.next()?.parse().ok()?,
            nonce: it.next()?.to_string(),
        };
        (it.next().is_none()).then_some(())?;
        Some((s, hex::decode(tag).ok()?))
    }

    /// The token every form of this session carries.
    pub fn csrf(&self, app: &App) -> String {
        hex::encode(&app.master_key.mac("ui csrf v1", self.nonce.as_bytes())[..16])
    }

    /// Whether a session in use at `now` is still alive.
    pub fn alive(&self, now: i64) -> bool {
        now < self.seen + IDLE && now < self.issued + MAX_AGE && self.seen <= now + 60
    }
}

fn mac(app: &App, payload: &str, key: &ApiKey) -> [u8; 32] {
    let mut data = payload.as_bytes().to_vec();
    data.extend_from_slice(&key.secret_hash);
    app.master_key.mac("ui session v1", &data)
}

/// The `Set-Cookie` value carrying `value` (empty: the cookie removed).
pub fn set_cookie(app: &App, value: &str) -> String {
    let secure = app
        .config
        .http
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let age = if value.is_empty() { 0 } else { MAX_AGE };
    format!(
        "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Who is signed in: the key (read again on each request, so a deleted,
/// expired or rotated key ends the session) and what it may see.
#[derive(Debug, Clone)]
pub struct User {
    pub who: Principal,
    pub key: ApiKey,
    pub session: Session,
    pub csrf: String,
}

impl User {
    /// The domain a domain key is confined to; None for the account.
    pub fn confined_to(&self) -> Option<&str> {
        match &self.who {
            Principal::Admin { .. } => None,
            Principal::Sending { domain, .. } => Some(domain),
        }
    }

    pub fn is_account(&self) -> bool {
        self.confined_to().is_none()
    }

    /// May this user see `domain`'s pages?
    pub fn may_see(&self, domain: &str) -> Result<(), Refusal> {
        match self.confined_to() {
            Some(own) if !own.eq_ignore_ascii_case(domain) => Err(Refusal::Forbidden(format!(
                "You signed in with a key of {own}: it shows {own}'s pages only, not {domain}'s."
            ))),
            _ => Ok(()),
        }
    }

    /// The domain `name` for a change, as the API's handlers take it: the
    /// account key only.
    pub async fn changing(
        &self,
        app: &App,
        name: &str,
    ) -> Result<crate::http::extract::AdminDomain, Refusal> {
        self.require_account()?;
        let domain = crate::http::domains::find(app, name).await?;
        Ok(crate::http::extract::AdminDomain {
            who: self.who.clone(),
            domain,
        })
    }

    /// Account pages and every change need the account key.
    pub fn require_account(&self) -> Result<(), Refusal> {
        match self.confined_to() {
            Some(own) => Err(Refusal::Forbidden(format!(
                "You signed in with a key of {own}, which can look at {own}'s pages but not change anything or see account pages. Sign in with the account key for this."
            ))),
            None => Ok(()),
        }
    }
}

/// The session of a request, if it has a good one; and the cookie to send
/// back when its idle clock should be reset.
pub async fn current(app: &App, headers: &HeaderMap) -> Option<(User, Option<String>)> {
    let (session, tag) = Session::parse(super::page::cookie(headers, COOKIE)?)?;
    let now = now_micros() / 1_000_000;
    if !session.alive(now) {
        return None;
    }
    let key = app.store.api_key(&session.key_id).await.ok()??;
    let good: bool = mac(app, &session.payload(), &key).ct_eq(&tag[..]).into();
    if !good || key.expires_at.is_some_and(|t| t <= now_micros()) {
        return None;
    }
    // A store that cannot say counts as signed out: the safe side.
    if app
        .store
        .session_signed_out(&session.nonce)
        .await
        .unwrap_or(true)
    {
        return None;
    }
    let refresh = (now - session.seen >= REFRESH).then(|| {
        let renewed = Session {
            seen: now,
            ..session.clone()
        };
        set_cookie(app, &renewed.encode(app, &key))
    });
    let user = User {
        who: principal_of(&key),
        csrf: session.csrf(app),
        key,
        session,
    };
    Some((user, refresh))
}

/// The user `ui::layer` found signed in (it reads the session once per
/// request); without one, the sign-in page, then back here.
impl FromRequestParts<App> for User {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &App) -> Result<Self, Refusal> {
        parts.extensions.get::<User>().cloned().ok_or_else(|| {
            Refusal::SignIn(
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
    }
}

/// The sign-in page asks whether someone is signed in already.
impl axum::extract::OptionalFromRequestParts<App> for User {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &App,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<User>().cloned())
    }
}

/// A form posted by a signed-in user with the session's CSRF token: any
/// other post is refused before anything is done. At most `LIMIT` bytes
/// (1 MiB; a CSV import takes more).
pub struct Posted<const LIMIT: usize = { 1 << 20 }> {
    pub user: User,
    pub form: Form,
}

impl<const LIMIT: usize> FromRequest<App> for Posted<LIMIT> {
    type Rejection = Refusal;

    async fn from_request(req: Request, app: &App) -> Result<Self, Refusal> {
        let (mut parts, body) = req.into_parts();
        let user = User::from_request_parts(&mut parts, app).await?;
        let bytes = crate::http::read_body(&parts.headers, body, LIMIT)
            .await
            .map_err(|e| match e {
                // read_body's text names the message size limit: not this.
                crate::http::error::ApiError::TooLarge(_) => Refusal::BadRequest(format!(
                    "This form is larger than the {} MiB the dashboard takes: send less (a CSV file: split it into smaller ones and import each).",
                    LIMIT >> 20
                )),
                other => Refusal::BadRequest(other.to_string()),
            })?;
        let form = crate::http::form::parse_form(&parts.headers, bytes, None)
            .await
            .map_err(|e| Refusal::BadRequest(e.to_string()))?;
        let sent = form.get("csrf").unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(user.csrf.as_bytes())) {
            return Err(Refusal::Forbidden(
                "This form was refused: its security token is missing or belongs to another session. Reload the page and send it again.".into(),
            ));
        }
        Ok(Posted { user, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_parses_back_and_rejects_extra_parts() {
        let s = Session::new("0123abcd-4567ef01", 1_000);
        let text = format!("{}.{}", s.payload(), "ab".repeat(32));
        let (back, tag) = Session::parse(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(tag.len(), 32);
        assert!(Session::parse(&format!("x.{text}")).is_none());
        assert!(Session::parse("a.b.c").is_none());
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old() {
        let s = Session::new("k", 1_000);
        assert!(s.alive(1_000 + IDLE - 1));
        assert!(!s.alive(1_000 + IDLE));
        let busy = Session {
            seen: 1_000 + MAX_AGE - 10,
            ..s.clone()
        };
        assert!(busy.alive(1_000 + MAX_AGE - 1));
        assert!(!busy.alive(1_000 + MAX_AGE));
    }
}
