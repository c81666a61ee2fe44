//! HTTP Basic auth (user `api`, password = a key) and key scope: the account
//! (admin) key can do everything; a domain sending key can only send for its
//! own domain.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::Engine;

use policy::secrets::{Matched, Refusal};

use super::error::ApiError;
use crate::api_keys::{self, ADMIN_KEY_ID};
use crate::app::App;
use crate::store::keys::{ApiKey, KeyScope};
use crate::store::now_micros;
use crate::time::rfc2822;

/// Who is calling, by key id (for audit and per-key limits).
#[derive(Debug, Clone)]
pub enum Principal {
    Admin { key_id: String },
    Sending { key_id: String, domain: String },
}

impl Principal {
    pub fn key_id(&self) -> &str {
        match self {
            Principal::Admin { key_id } | Principal::Sending { key_id, .. } => key_id,
        }
    }

    pub fn require_admin(self) -> Result<Principal, ApiError> {
        match self {
            Principal::Admin { .. } => Ok(self),
            Principal::Sending { domain, .. } => Err(ApiError::Forbidden(format!(
                "This is a domain sending key for {domain}: it can only send messages (POST /v3/{domain}/messages or /messages.mime). Use the account (admin) key for this endpoint."
            ))),
        }
    }

    pub fn require_sender_for(&self, target: &str) -> Result<(), ApiError> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Sending { domain, .. } if domain.eq_ignore_ascii_case(target) => Ok(()),
            Principal::Sending { domain, .. } => Err(ApiError::Forbidden(format!(
                "This sending key belongs to domain {domain} and cannot send for {target}. Use a sending key of {target} or the account (admin) key."
            ))),
        }
    }
}

/// An account (admin) key, checked before anything else a handler does
/// (axum runs it before the path, query and body extractors after it), so
/// a wrong key learns nothing more.
pub struct Admin(pub Principal);

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        authenticate(app, &parts.headers)
            .await?
            .require_admin()
            .map(Admin)
    }
}

const NEED_KEY: &str = "Use HTTP Basic auth with user \"api\" and, as the password, the account (admin) key or a domain sending key created with POST /v1/keys.";

fn basic_password(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized(format!("Missing API key. {NEED_KEY}")))?;
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthorized(format!("Malformed Authorization header. {NEED_KEY}"))
    })?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "Authorization must use the Basic scheme. {NEED_KEY}"
            ))
        })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::Unauthorized(format!("Malformed Basic credentials. {NEED_KEY}"))
        })?;
    let (_user, password) = decoded.split_once(':').ok_or_else(|| {
        ApiError::Unauthorized(format!("Malformed Basic credentials. {NEED_KEY}"))
    })?;
    Ok(password.to_string())
}

/// Key ids are embedded in secrets: `{32 hex}-{id}` with `id` = `{8 hex}-{8 hex}`,
/// so a lookup is by id and the secret is then compared in constant time.
pub fn key_id_of(secret: &str) -> Option<&str> {
    let (random, id) = secret.split_at_checked(33)?;
    let ok = random.len() == 33
        && random.as_bytes()[32] == b'-'
        && id.len() == 17
        && id.as_bytes()[8] == b'-'
        && id
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_hexdigit());
    ok.then_some(id)
}

/// The key behind `secret` and which of its hashes matched: looked up by the
/// id embedded in the secret, else it may be the account key.
async fn find_key(app: &App, secret: &str) -> Result<Option<(ApiKey, Matched)>, ApiError> {
    if let Some(id) = key_id_of(secret) {
        if let Some(key) = app.store.api_key(id).await? {
            match api_keys::matched(secret, &key) {
                Matched::Neither => {}
                m => return Ok(Some((key, m))),
            }
        }
    }
    Ok(app
        .store
        .api_key(ADMIN_KEY_ID)
        .await?
        .map(|key| {
            let m = api_keys::matched(secret, &key);
            (key, m)
        })
        .filter(|(_, m)| *m != Matched::Neither))
}

/// Who the caller is, once its key is good now and within its request rate.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let secret = basic_password(headers)?;
    authenticate_secret(app, &secret).await.map(|(who, _)| who)
}

/// Who holds `secret` (and its key), once the key is good now and within
/// its request rate: the API's Basic auth and the dashboard's sign-in alike.
pub async fn authenticate_secret(app: &App, secret: &str) -> Result<(Principal, ApiKey), ApiError> {
    let invalid = || ApiError::InvalidKey(format!("Invalid API key. {NEED_KEY}"));
    let (key, matched) = find_key(app, secret).await?.ok_or_else(invalid)?;
    let now = now_micros();
    match policy::secrets::check(matched, key.lifetime(), now) {
        Ok(()) => {}
        Err(Refusal::Wrong) => return Err(invalid()),
        Err(Refusal::Expired { at }) => {
            return Err(ApiError::Unauthorized(format!(
                "API key {} expired at {}. Create a new key with POST /v1/keys.",
                key.id,
                rfc2822(at)
            )))
        }
        Err(Refusal::Rotated { at }) => {
            return Err(ApiError::Unauthorized(format!(
                "API key {} was rotated: this secret stopped working at {}. Use the new secret that POST /v1/keys/{}/rotate returned.",
                key.id,
                rfc2822(at),
                key.id
            )))
        }
    }
    app.limits.request(&key.id).await.map_err(|l| {
        ApiError::RateLimited(
            l,
            "requests with this API key ([limits].requests_per_second_per_key)".into(),
        )
    })?;
    // last_used_at is informative: refresh it at most once a minute.
    if key.last_used_at.is_none_or(|t| now - t > 60_000_000) {
        let store = app.store.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            let _ = store.touch_api_key(&id, now).await;
        });
    }
    Ok((principal_of(&key), key))
}

/// What a key may do, as the caller it makes.
pub fn principal_of(key: &ApiKey) -> Principal {
    match &key.scope {
        KeyScope::Account => Principal::Admin {
            key_id: key.id.clone(),
        },
        KeyScope::Sending { domain } => Principal::Sending {
            key_id: key.id.clone(),
            domain: domain.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_found_in_secrets() {
        let s = format!("{}-{}", "a".repeat(32), "0123abcd-4567ef01");
        assert_eq!(key_id_of(&s), Some("0123abcd-4567ef01"));
        assert_eq!(key_id_of("key-0123"), None);
        assert_eq!(
            key_id_of(&format!("{}-{}", "a".repeat(32), "0123abcd_4567ef01")),
            None
        );
        assert_eq!(key_id_of("é".repeat(30).as_str()), None);
    }
}
