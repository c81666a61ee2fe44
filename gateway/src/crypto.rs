//! Secrets at rest. DKIM private keys and stored bodies are sealed with
//! AES-256-GCM under the master key; API secrets are kept only as SHA-256
//! hashes (they are 128-bit random, so a slow hash adds nothing) and compared
//! in constant time.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("ENVOI_MASTER_KEY must be 32 bytes as 64 hex digits or base64 (generate one with `openssl rand -hex 32`)")]
    BadMasterKey,
    #[error("cannot read or write the master key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("decryption failed: the data was altered, belongs to another record, or the master key is not the one it was sealed with")]
    Open,
}

#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// Derived from the master key for MACs (unsubscribe tokens), so the
    /// encryption key itself never keys anything else.
    mac_root: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> MasterKey {
        MasterKey {
            cipher: Aes256Gcm::new(bytes.into()),
            mac_root: hmac_sha256(bytes, b"envoi mac root v1"),
        }
    }

    /// HMAC-SHA256 of `data` for one `purpose` (keys differ per purpose).
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let key = hmac_sha256(&self.mac_root, purpose.as_bytes());
        hmac_sha256(&key, data)
    }

    /// Whether `tag` is `mac(purpose, data)` (or its prefix of at least 10
    /// bytes: 80 bits, where a return path must stay short), compared in
    /// constant time.
    pub fn mac_matches(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        let full = self.mac(purpose, data);
        tag.len() >= 10 && tag.len() <= 32 && bool::from(full[..tag.len()].ct_eq(tag))
    }

    /// A fingerprint of the key, safe to store and print: the store keeps
    /// it so a node started with another key is refused, and messages name
    /// keys by it.
    pub fn check_value(&self) -> String {
        hex::encode(&self.mac("master key check v1", b"envoi")[..8])
    }

    pub fn parse(text: &str) -> Result<MasterKey, CryptoError> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .ok_or(CryptoError::BadMasterKey)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self::from_bytes(&arr))
    }

    /// `ENVOI_MASTER_KEY` when set; otherwise the key file in `dir`, created
    /// (mode 0600) on first use. Returns whether a new key file was written.
    pub fn load(
        env: Option<&str>,
        path: &Path,
    ) -> Result<(MasterKey, Option<PathBuf>), CryptoError> {
        if let Some(v) = env.filter(|v| !v.trim().is_empty()) {
            return Ok((Self::parse(v)?, None));
        }
        let path = path.to_path_buf();
        let io = |source| CryptoError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::parse(&text)?, None)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&path).map_err(io)?;
                f.write_all(hex::encode(bytes).as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
                Ok((Self::from_bytes(&bytes), Some(path.clone())))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Seal `plain`, bound to `context` (the owning record) so a ciphertext
    /// moved to another record does not open.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // nonce ‖ ciphertext ‖ tag, encrypted where it lies: one buffer,
        // not a ciphertext copied behind the nonce (a 25 MB body would
        // briefly be held three times).
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), context, &mut out[NONCE_LEN..])
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        out.extend_from_slice(&tag);
        out
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: data,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Open)
    }
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut m =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn secret_matches(secret: &str, stored_hash: &[u8]) -> bool {
    hash_secret(secret).ct_eq(stored_hash).into()
}

/// A password (SMTP credentials) as an Argon2id PHC string: slow to guess
/// even if the store leaks.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Checks a password against its PHC string (argon2 compares in constant
/// time). A malformed stored hash never matches.
pub fn password_matches(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let key = MasterKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"domain:a.com", b"secret");
        assert_eq!(key.open(b"domain:a.com", &sealed).unwrap(), b"secret");
        assert!(key.open(b"domain:b.com", &sealed).is_err());
        let other = MasterKey::from_bytes(&[8; 32]);
        assert!(other.open(b"domain:a.com", &sealed).is_err());
    }

    #[test]
    fn master_key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("envoi-mk-{}", random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let (k1, created) = MasterKey::load(None, &dir.join("envoi.master-key")).unwrap();
        assert!(created.is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("envoi.master-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, created) = MasterKey::load(None, &dir.join("envoi.master-key")).unwrap();
        assert!(created.is_none());
        let sealed = k1.seal(b"x", b"y");
        assert_eq!(k2.open(b"x", &sealed).unwrap(), b"y");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_master_key_is_explained() {
        assert!(matches!(
            MasterKey::parse("short"),
            Err(CryptoError::BadMasterKey)
        ));
    }

    #[test]
    fn secret_hash_comparison() {
        let h = hash_secret("abc");
        assert!(secret_matches("abc", &h));
        assert!(!secret_matches("abd", &h));
    }
}
