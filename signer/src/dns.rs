//! The DNS TXT records a domain publishes for DKIM.

use crate::keys::{Algorithm, PrivateKey};

/// `v=DKIM1; k=rsa; p=...` for the key.
pub fn dkim_txt_value(key: &PrivateKey) -> String {
    let k = match key.algorithm {
        Algorithm::Rsa => "rsa",
        Algorithm::Ed25519 => "ed25519",
    };
    format!("v=DKIM1; k={k}; p={}", key.public_key_base64())
}

/// The owner name of a DKIM record: `{selector}._domainkey.{domain}`.
pub fn dkim_record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// A TXT value as DNS carries it: character-strings of at most 255 bytes
/// (RFC 1035 §3.3). A 2048-bit key's record does not fit in one.
pub fn split_txt(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 255 + 1);
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + 255).min(bytes.len());
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        out.push(&value[start..end]);
        start = end;
    }
    out
}

/// Zone-file form: `"part1" "part2"`.
pub fn zone_file_txt(value: &str) -> String {
    split_txt(value)
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySpec;

    #[test]
    fn rsa_2048_record_is_split_into_255_byte_strings() {
        let key = PrivateKey::generate(KeySpec::Rsa { bits: 2048 }).unwrap();
        let value = dkim_txt_value(&key);
        assert!(value.starts_with("v=DKIM1; k=rsa; p=MII"));
        let parts = split_txt(&value);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.len() <= 255));
        assert_eq!(parts.concat(), value);
    }

    #[test]
    fn ed25519_record_fits_in_one_string() {
        let key = PrivateKey::generate(KeySpec::Ed25519).unwrap();
        let value = dkim_txt_value(&key);
        assert!(value.starts_with("v=DKIM1; k=ed25519; p="));
        assert_eq!(split_txt(&value).len(), 1);
    }

    #[test]
    fn record_name() {
        assert_eq!(
            dkim_record_name("s1", "example.com"),
            "s1._domainkey.example.com"
        );
    }
}
