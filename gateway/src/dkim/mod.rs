//! The gateway side of DKIM keys: sealing them at rest, bound to their domain
//! and selector so a key can never be used for another domain.

use signer::PrivateKey;

use crate::crypto::{CryptoError, MasterKey};
use crate::store::domains::NewDkimKey;

pub mod rotation;

/// A key ready to store: sealed for its domain and selector, with the TXT
/// value to publish.
pub struct SealedKey {
    pub selector: String,
    pub algorithm: &'static str,
    pub bits: i64,
    pub sealed: Vec<u8>,
    pub dns_value: String,
}

impl SealedKey {
    pub fn new(master: &MasterKey, domain: &str, selector: &str, key: &PrivateKey) -> SealedKey {
        SealedKey {
            selector: selector.to_string(),
            algorithm: key.algorithm.as_str(),
            bits: key.bits as i64,
            sealed: seal_key(master, domain, selector, key),
            dns_value: signer::dns::dkim_txt_value(key),
        }
    }

    pub fn row<'a>(&'a self, active: bool, replaces: Option<&'a str>) -> NewDkimKey<'a> {
        NewDkimKey {
            selector: &self.selector,
            algorithm: self.algorithm,
            bits: self.bits,
            sealed_private_key: &self.sealed,
            dns_value: &self.dns_value,
            active,
            replaces,
        }
    }
}

fn context(domain: &str, selector: &str) -> Vec<u8> {
    format!("dkim:{}:{}", domain.to_ascii_lowercase(), selector).into_bytes()
}

pub fn seal_key(master: &MasterKey, domain: &str, selector: &str, key: &PrivateKey) -> Vec<u8> {
    master.seal(&context(domain, selector), key.pkcs8_der())
}

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("the DKIM key {selector} of {domain} cannot be decrypted: {source}")]
    Decrypt {
        domain: String,
        selector: String,
        source: CryptoError,
    },
    #[error("the DKIM key {selector} of {domain} is unreadable: {source}")]
    Parse {
        domain: String,
        selector: String,
        source: signer::KeyError,
    },
}

pub fn open_key(
    master: &MasterKey,
    domain: &str,
    selector: &str,
    sealed: &[u8],
) -> Result<PrivateKey, KeyLoadError> {
    let der = master
        .open(&context(domain, selector), sealed)
        .map_err(|source| KeyLoadError::Decrypt {
            domain: domain.into(),
            selector: selector.into(),
            source,
        })?;
    PrivateKey::from_pkcs8_der(&der).map_err(|source| KeyLoadError::Parse {
        domain: domain.into(),
        selector: selector.into(),
        source,
    })
}

/// A selector is a DNS label sequence (RFC 6376 §3.1).
pub fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_sealed_for_one_domain_never_opens_for_another() {
        let master = MasterKey::from_bytes(&[1; 32]);
        let key = PrivateKey::generate(signer::KeySpec::Ed25519).unwrap();
        let sealed = seal_key(&master, "a.com", "k1", &key);
        assert!(open_key(&master, "a.com", "k1", &sealed).is_ok());
        assert!(open_key(&master, "b.com", "k1", &sealed).is_err());
        assert!(open_key(&master, "a.com", "k2", &sealed).is_err());
    }

    #[test]
    fn selectors() {
        assert!(valid_selector("k1"));
        assert!(valid_selector("s2026.mail"));
        assert!(!valid_selector("bad selector"));
        assert!(!valid_selector(""));
    }
}
