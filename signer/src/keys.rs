//! DKIM key material. RSA keys are generated and imported with the `rsa` crate
//! (PKCS#8 / PKCS#1 PEM); Ed25519 keys with `aws-lc-rs`. Keys are held as PKCS#8
//! DER, the one form every signing path can load.

use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" => Some(Algorithm::Rsa),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

/// What key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    Rsa { bits: usize },
    Ed25519,
}

pub const RSA_SIZES: [usize; 3] = [1024, 2048, 4096];
/// Below this an RSA key is refused outright (RFC 8301 deprecates < 1024).
pub const RSA_MIN_BITS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported RSA key size {0}: use 1024, 2048 or 4096")]
    UnsupportedSize(usize),
    #[error(
        "RSA key of {0} bits is too weak: DKIM keys must be at least 1024 bits (2048 recommended)"
    )]
    TooWeak(usize),
    #[error("the PEM could not be read as an RSA or Ed25519 private key (PKCS#8 or PKCS#1): {0}")]
    BadPem(String),
    #[error("key generation failed: {0}")]
    Generation(String),
}

/// A private key as PKCS#8 DER plus what we know of it.
#[derive(Clone)]
pub struct PrivateKey {
    pub algorithm: Algorithm,
    pub bits: usize,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl std::fmt::Debug for PrivateKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        match spec {
            KeySpec::Rsa { bits } => {
                if !RSA_SIZES.contains(&bits) {
                    return Err(KeyError::UnsupportedSize(bits));
                }
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
                    .map_err(|e| KeyError::Generation(e.to_string()))?;
                Self::from_rsa(&key)
            }
            KeySpec::Ed25519 => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|e| KeyError::Generation(e.to_string()))?;
                Self::from_pkcs8_der(doc.as_ref())
            }
        }
    }

    fn from_rsa(key: &rsa::RsaPrivateKey) -> Result<Self, KeyError> {
        let bits = key.size() * 8;
        if bits < RSA_MIN_BITS {
            return Err(KeyError::TooWeak(bits));
        }
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::BadPem(e.to_string()))?;
        let public = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| KeyError::BadPem(e.to_string()))?;
        Ok(PrivateKey {
            algorithm: Algorithm::Rsa,
            bits,
            pkcs8: pkcs8.as_bytes().to_vec(),
            public: public.as_bytes().to_vec(),
        })
    }

    /// Load a stored PKCS#8 DER key (RSA or Ed25519).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
            return Self::from_rsa(&key);
        }
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| KeyError::BadPem(e.to_string()))?;
        use aws_lc_rs::signature::KeyPair;
        Ok(PrivateKey {
            algorithm: Algorithm::Ed25519,
            bits: 256,
            pkcs8: der.to_vec(),
            public: pair.public_key().as_ref().to_vec(),
        })
    }

    /// Import a PEM: `PRIVATE KEY` (PKCS#8, RSA or Ed25519) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|e| KeyError::BadPem(e.to_string()))?;
            return Self::from_rsa(&key);
        }
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            return Self::from_rsa(&key);
        }
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|e| KeyError::BadPem(e.to_string()))?;
        // An RSA key that failed above for being weak must say so, not "bad PEM".
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_der(&der) {
            return Self::from_rsa(&key);
        }
        Self::from_pkcs8_der(&der)
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as it goes in `p=`: SubjectPublicKeyInfo DER for RSA
    /// (RFC 6376), the raw 32 bytes for Ed25519 (RFC 8463).
    pub fn public_key_bytes(&self) -> &[u8] {
        &self.public
    }

    pub fn public_key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_each_supported_kind() {
        for spec in [
            KeySpec::Rsa { bits: 1024 },
            KeySpec::Rsa { bits: 2048 },
            KeySpec::Ed25519,
        ] {
            let key = PrivateKey::generate(spec).unwrap();
            let again = PrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
            assert_eq!(again.algorithm, key.algorithm);
            assert_eq!(again.public_key_bytes(), key.public_key_bytes());
        }
    }

    #[test]
    fn ed25519_public_key_is_raw_32_bytes() {
        let key = PrivateKey::generate(KeySpec::Ed25519).unwrap();
        assert_eq!(key.public_key_bytes().len(), 32);
        assert_eq!(key.bits, 256);
    }

    #[test]
    fn refuses_odd_sizes() {
        assert!(matches!(
            PrivateKey::generate(KeySpec::Rsa { bits: 3000 }),
            Err(KeyError::UnsupportedSize(3000))
        ));
    }

    #[test]
    fn refuses_512_bit_import() {
        let weak = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 512).unwrap();
        let pem = weak.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        assert!(matches!(
            PrivateKey::from_pem(&pem),
            Err(KeyError::TooWeak(512))
        ));
    }

    #[test]
    fn imports_pkcs1_pem() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let imported = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(imported.bits, 1024);
    }
}
