//! The account's HTTP signing key (`/v5/accounts/http_signing_key`) and the
//! signature of each call: hex HMAC-SHA256(key, timestamp + token), as
//! Mailgun's SDKs verify it. The key is kept sealed under the master key:
//! unlike API keys it must be shown again, so it cannot be only a hash.

use base64::Engine;
use serde::Serialize;

use crate::crypto::{hmac_sha256, random_hex, MasterKey};
use crate::store::{Store, StoreError};

const SETTING: &str = "http_signing_key";
const CONTEXT: &[u8] = b"envoi http signing key";

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored HTTP signing key cannot be opened with this master key")]
    Sealed,
}

fn new_key() -> String {
    format!("key-{}", random_hex(16))
}

fn seal(master_key: &MasterKey, key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(master_key.seal(CONTEXT, key.as_bytes()))
}

fn open(master_key: &MasterKey, stored: &str) -> Result<String, SigningKeyError> {
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|_| SigningKeyError::Sealed)?;
    let plain = master_key
        .open(CONTEXT, &sealed)
        .map_err(|_| SigningKeyError::Sealed)?;
    String::from_utf8(plain).map_err(|_| SigningKeyError::Sealed)
}

/// The account's signing key, made on first use.
pub async fn key(store: &Store, master_key: &MasterKey) -> Result<String, SigningKeyError> {
    let stored = match store.setting(SETTING).await? {
        Some(s) => s,
        None => {
            store
                .setting_or_insert(SETTING, &seal(master_key, &new_key()))
                .await?
        }
    };
    open(master_key, &stored)
}

/// A new signing key; calls made from now on are signed with it.
pub async fn regenerate(store: &Store, master_key: &MasterKey) -> Result<String, SigningKeyError> {
    let key = new_key();
    store.set_setting(SETTING, &seal(master_key, &key)).await?;
    Ok(key)
}

/// The `signature` object of a call.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    pub timestamp: String,
    pub token: String,
    pub signature: String,
}

/// Signs a call made at `timestamp` (epoch seconds) with a fresh token.
pub fn sign(key: &str, timestamp: u64) -> Signature {
    let timestamp = timestamp.to_string();
    // 50 characters, as Mailgun's.
    let token = random_hex(25);
    let signature = signature(key, &timestamp, &token);
    Signature {
        timestamp,
        token,
        signature,
    }
}

pub fn signature(key: &str, timestamp: &str, token: &str) -> String {
    let mut msg = Vec::with_capacity(timestamp.len() + token.len());
    msg.extend_from_slice(timestamp.as_bytes());
    msg.extend_from_slice(token.as_bytes());
    hex::encode(hmac_sha256(key.as_bytes(), &msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256_of_timestamp_then_token() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", "what do ya want ", "for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn each_call_has_a_fresh_50_character_token() {
        let a = sign("key-x", 1_700_000_000);
        let b = sign("key-x", 1_700_000_000);
        assert_eq!(a.token.len(), 50);
        assert_ne!(a.token, b.token);
        assert_eq!(a.timestamp, "1700000000");
        assert_eq!(a.signature, signature("key-x", &a.timestamp, &a.token));
    }
}
