//! API key secrets: making them, checking them, rotating them. Shared by the
//! HTTP API (`/v1/keys`), start-up (the admin key) and `envoi rotate-admin-key`.

use std::time::Duration;

use policy::secrets::Matched;

use crate::crypto::{hash_secret, random_hex, secret_matches};
use crate::store::audit::Audit;
use crate::store::keys::ApiKey;
use crate::store::{now_micros, Result, Store};

/// The id of the account (admin) key's row.
pub const ADMIN_KEY_ID: &str = "admin";

/// The grace of a rotation when none is given.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// A new secret for key `id`: `{32 hex}-{id}`, so a lookup is by id and the
/// secret is then compared in constant time (see `http::auth::key_id_of`).
/// The admin key's secret embeds a random id instead: it is found by its row.
pub fn new_secret(id: &str) -> String {
    let embedded = if id == ADMIN_KEY_ID {
        new_key_id()
    } else {
        id.to_string()
    };
    format!("{}-{embedded}", random_hex(16))
}

pub fn new_key_id() -> String {
    format!("{}-{}", random_hex(4), random_hex(4))
}

/// Which of the key's stored hashes `secret` is.
pub fn matched(secret: &str, key: &ApiKey) -> Matched {
    if secret_matches(secret, &key.secret_hash) {
        Matched::Current
    } else if key
        .previous_hash
        .as_deref()
        .is_some_and(|h| secret_matches(secret, h))
    {
        Matched::Previous
    } else {
        Matched::Neither
    }
}

/// Gives key `id` a new secret, returned once; the old one keeps working for
/// `grace`. `None` when there is no such key.
pub async fn rotate(
    store: &Store,
    id: &str,
    grace: Duration,
    actor: &str,
) -> Result<Option<(String, ApiKey)>> {
    let secret = new_secret(id);
    let until = policy::secrets::grace_end(now_micros(), grace.as_micros() as i64);
    let detail = format!("grace {}", humantime::format_duration(grace));
    let audit = Audit {
        actor,
        action: "key.rotated",
        target: id,
        domain: None,
        detail: &detail,
    };
    let key = store
        .rotate_api_key(id, &hash_secret(&secret), until, &audit)
        .await?;
    Ok(key.map(|k| (secret, k)))
}

#[derive(Debug, thiserror::Error)]
pub enum RotateAdminError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("there is no account key yet: run `envoi serve` once (it creates one), or set ENVOI_ADMIN_KEY")]
    NoAdminKey,
}

/// `envoi rotate-admin-key`: the new account key, to print once.
pub async fn rotate_admin(
    config: &crate::config::Config,
    grace: Duration,
) -> std::result::Result<String, RotateAdminError> {
    let store = Store::open_existing(&config.store.url, config.store.connect_timeout.0).await?;
    store.migrate().await?;
    let rotated = rotate(&store, ADMIN_KEY_ID, grace, "cli").await;
    store.close().await;
    let (secret, _) = rotated?.ok_or(RotateAdminError::NoAdminKey)?;
    tracing::info!(grace = %humantime::format_duration(grace), "account key rotated");
    Ok(secret)
}
