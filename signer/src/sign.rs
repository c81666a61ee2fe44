//! RFC 6376 signing (`rsa-sha256`) and RFC 8463 (`ed25519-sha256`).
//!
//! Which path a key takes: RSA keys of 2048 bits and more, and every Ed25519
//! key, are signed by `aws-lc-rs` (AWS-LC, constant-time, the same library
//! rustls uses here), which picks the fastest code for the CPU at run time:
//! on CPUs with AVX-512 IFMA it signs RSA-2048 about 1.8 times as fast as
//! `ring` (bench/RESULTS.md). Both refuse RSA keys under 2048 bits, so legacy
//! 1024-bit keys are signed by the `rsa` crate, with blinding. The `ring`
//! path stays for the benchmark's comparison.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::canon::{self, Canon, Canonicalization};
use crate::keys::{Algorithm, KeyError, PrivateKey};

/// Headers signed when present, in this order. From is signed once more than
/// it appears, so no From can be added after signing.
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the message has no From header: it cannot be DKIM-signed")]
    NoFrom,
    #[error("the message has no header/body separator (empty line)")]
    NoBody,
    #[error("signing failed: {0}")]
    Crypto(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

enum Engine_ {
    AwsLc(aws_lc_rs::signature::RsaKeyPair),
    Ring(ring::signature::RsaKeyPair),
    Legacy(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
    Ed25519(aws_lc_rs::signature::Ed25519KeyPair),
}

/// Which library signs with a key (README says which key takes which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningPath {
    AwsLc,
    Ring,
    RsaCrate,
}

/// A key ready to sign for one domain and selector.
pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: Algorithm,
    engine: Engine_,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DkimKey {
    pub fn new(domain: &str, selector: &str, key: &PrivateKey) -> Result<Self, SignError> {
        Self::with_path(domain, selector, key, None)
    }

    /// Forces the RSA path (benchmarks compare them); `None` picks the default.
    pub fn with_path(
        domain: &str,
        selector: &str,
        key: &PrivateKey,
        path: Option<SigningPath>,
    ) -> Result<Self, SignError> {
        let engine = match key.algorithm {
            Algorithm::Ed25519 => Engine_::Ed25519(
                aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.pkcs8_der())
                    .map_err(|e| SignError::Crypto(e.to_string()))?,
            ),
            Algorithm::Rsa => {
                let path = path.unwrap_or(if key.bits >= 2048 {
                    SigningPath::AwsLc
                } else {
                    SigningPath::RsaCrate
                });
                match path {
                    SigningPath::AwsLc => Engine_::AwsLc(
                        aws_lc_rs::signature::RsaKeyPair::from_pkcs8(key.pkcs8_der())
                            .map_err(|e| SignError::Crypto(e.to_string()))?,
                    ),
                    SigningPath::Ring => Engine_::Ring(
                        ring::signature::RsaKeyPair::from_pkcs8(key.pkcs8_der())
                            .map_err(|e| SignError::Crypto(e.to_string()))?,
                    ),
                    SigningPath::RsaCrate => {
                        use rsa::pkcs8::DecodePrivateKey;
                        let k = rsa::RsaPrivateKey::from_pkcs8_der(key.pkcs8_der())
                            .map_err(|e| SignError::Crypto(e.to_string()))?;
                        Engine_::Legacy(Box::new(rsa::pkcs1v15::SigningKey::new(k)))
                    }
                }
            }
        };
        Ok(DkimKey {
            domain: domain.to_ascii_lowercase(),
            selector: selector.to_string(),
            algorithm: key.algorithm,
            engine,
        })
    }

    pub fn path(&self) -> SigningPath {
        match self.engine {
            Engine_::Legacy(_) => SigningPath::RsaCrate,
            Engine_::Ring(_) => SigningPath::Ring,
            Engine_::AwsLc(_) | Engine_::Ed25519(_) => SigningPath::AwsLc,
        }
    }

    fn a_tag(&self) -> &'static str {
        match self.algorithm {
            Algorithm::Rsa => "rsa-sha256",
            Algorithm::Ed25519 => "ed25519-sha256",
        }
    }

    fn sign_bytes(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.engine {
            Engine_::AwsLc(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|e| SignError::Crypto(e.to_string()))?;
                Ok(sig)
            }
            Engine_::Ring(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|e| SignError::Crypto(e.to_string()))?;
                Ok(sig)
            }
            Engine_::Legacy(key) => {
                use rsa::signature::{RandomizedSigner, SignatureEncoding};
                let sig = key
                    .try_sign_with_rng(&mut rand::rngs::OsRng, data)
                    .map_err(|e| SignError::Crypto(e.to_string()))?;
                Ok(sig.to_vec())
            }
            // RFC 8463: Ed25519 signs the SHA-256 of the canonical data.
            Engine_::Ed25519(pair) => Ok(pair.sign(&Sha256::digest(data)).as_ref().to_vec()),
        }
    }
}

/// How to sign: canonicalisation and the `t=` timestamp (seconds).
#[derive(Debug, Clone, Copy)]
pub struct SignOptions {
    pub canon: Canonicalization,
    pub timestamp: u64,
}

/// Signs `message` with each key and returns the `DKIM-Signature` fields to
/// put in front of it (CRLF-terminated). The body hash is computed once for
/// all keys; the message itself is neither copied nor changed.
pub fn sign(message: &[u8], keys: &[DkimKey], opts: SignOptions) -> Result<Vec<u8>, SignError> {
    let (fields, body) = canon::split_message(message);
    if !fields.iter().any(|f| f.name.eq_ignore_ascii_case(b"from")) {
        return Err(SignError::NoFrom);
    }
    let bh =
        base64::engine::general_purpose::STANDARD.encode(canon::body_hash(body, opts.canon.body));

    // h=: each present instance of a signed header, plus one more From.
    let mut names: Vec<&str> = Vec::new();
    let mut data = Vec::with_capacity(1024);
    for wanted in SIGNED_HEADERS {
        let instances: Vec<_> = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(wanted.as_bytes()))
            .collect();
        // Instances are signed from the bottom up (RFC 6376 §5.4.2).
        for f in instances.iter().rev() {
            names.push(wanted);
            canon::header(f.raw, opts.canon.header, &mut data);
        }
        if wanted == "From" {
            names.push(wanted);
        }
    }
    let h = names.join(":");

    let mut out = Vec::with_capacity(keys.len() * 600);
    for key in keys {
        let prefix = format!(
            "DKIM-Signature: v=1; a={}; c={}; d={}; s={};\r\n\tt={}; h={};\r\n\tbh={};\r\n\tb=",
            key.a_tag(),
            opts.canon.tag(),
            key.domain,
            key.selector,
            opts.timestamp,
            h,
            bh
        );
        let mut signed = data.clone();
        canon::header(prefix.as_bytes(), opts.canon.header, &mut signed);
        // The signature field is hashed without its final CRLF.
        signed.truncate(signed.len() - 2);
        let sig = key.sign_bytes(&signed)?;
        let b = base64::engine::general_purpose::STANDARD.encode(sig);
        out.extend_from_slice(prefix.as_bytes());
        // Folding inside b= is removed with the value by verifiers.
        for (i, chunk) in b.as_bytes().chunks(72).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n\t");
            }
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// Convenience for callers that want relaxed/relaxed now.
pub fn default_options(timestamp: u64) -> SignOptions {
    SignOptions {
        canon: Canonicalization {
            header: Canon::Relaxed,
            body: Canon::Relaxed,
        },
        timestamp,
    }
}
