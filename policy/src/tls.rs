//! The TLS decision for one delivery attempt: contract §3's table, one cell per
//! (settings, what the MX offered) pair.

use serde::{Deserialize, Serialize};

/// Effective TLS settings for a message: the domain's connection settings,
/// overridden field by field by the message's `o:require-tls` / `o:skip-verification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct TlsSettings {
    pub require_tls: bool,
    pub skip_verification: bool,
}

impl TlsSettings {
    /// The message level overrides the domain level (Mailgun's documented rule).
    pub fn with_overrides(
        self,
        require_tls: Option<bool>,
        skip_verification: Option<bool>,
    ) -> Self {
        TlsSettings {
            require_tls: require_tls.unwrap_or(self.require_tls),
            skip_verification: skip_verification.unwrap_or(self.skip_verification),
        }
    }
}

/// What the receiving MX showed us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// EHLO did not advertise STARTTLS.
    NoStartTls,
    /// STARTTLS offered; `cert_valid` is whether the certificate chains to a
    /// trusted root, is in date and names the MX host.
    StartTls { cert_valid: bool },
}

/// How to carry the message over this MX, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS with a certificate that was verified.
    Verified,
    /// TLS, certificate accepted without verification.
    Unverified,
    /// No TLS: the message goes in clear.
    Plaintext,
    /// Do not send: a temporary failure (retried, then permanent when too old).
    Refuse(RefuseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    NoStartTls,
    BadCertificate,
}

impl RefuseReason {
    pub fn describe(self) -> &'static str {
        match self {
            RefuseReason::NoStartTls => "TLS is required but the MX does not offer STARTTLS",
            RefuseReason::BadCertificate => {
                "TLS is required with a verified certificate but the MX certificate failed verification"
            }
        }
    }
}

pub fn decide(settings: TlsSettings, offer: Offer) -> TlsMode {
    match offer {
        Offer::NoStartTls if settings.require_tls => TlsMode::Refuse(RefuseReason::NoStartTls),
        Offer::NoStartTls => TlsMode::Plaintext,
        Offer::StartTls { cert_valid: true } => TlsMode::Verified,
        Offer::StartTls { cert_valid: false } => match settings {
            TlsSettings {
                skip_verification: true,
                ..
            } => TlsMode::Unverified,
            TlsSettings {
                require_tls: true, ..
            } => TlsMode::Refuse(RefuseReason::BadCertificate),
            // Opportunistic: a certificate we cannot trust means no TLS at all,
            // recorded as such (Mailgun's documented behaviour).
            _ => TlsMode::Plaintext,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: Offer = Offer::StartTls { cert_valid: true };
    const BAD: Offer = Offer::StartTls { cert_valid: false };
    const NONE: Offer = Offer::NoStartTls;

    fn s(require_tls: bool, skip_verification: bool) -> TlsSettings {
        TlsSettings {
            require_tls,
            skip_verification,
        }
    }

    #[test]
    fn opportunistic_verified_when_cert_good() {
        assert_eq!(decide(s(false, false), GOOD), TlsMode::Verified);
    }
    #[test]
    fn opportunistic_falls_back_to_plaintext_on_bad_cert() {
        assert_eq!(decide(s(false, false), BAD), TlsMode::Plaintext);
    }
    #[test]
    fn opportunistic_plaintext_without_starttls() {
        assert_eq!(decide(s(false, false), NONE), TlsMode::Plaintext);
    }
    #[test]
    fn skip_verification_good_cert_is_tls() {
        assert_eq!(decide(s(false, true), GOOD), TlsMode::Verified);
    }
    #[test]
    fn skip_verification_bad_cert_is_unverified_tls() {
        assert_eq!(decide(s(false, true), BAD), TlsMode::Unverified);
    }
    #[test]
    fn skip_verification_without_starttls_is_plaintext() {
        assert_eq!(decide(s(false, true), NONE), TlsMode::Plaintext);
    }
    #[test]
    fn require_tls_good_cert_is_verified() {
        assert_eq!(decide(s(true, false), GOOD), TlsMode::Verified);
    }
    #[test]
    fn require_tls_bad_cert_is_refused() {
        assert_eq!(
            decide(s(true, false), BAD),
            TlsMode::Refuse(RefuseReason::BadCertificate)
        );
    }
    #[test]
    fn require_tls_without_starttls_is_refused() {
        assert_eq!(
            decide(s(true, false), NONE),
            TlsMode::Refuse(RefuseReason::NoStartTls)
        );
    }
    #[test]
    fn require_and_skip_good_cert_is_tls() {
        assert_eq!(decide(s(true, true), GOOD), TlsMode::Verified);
    }
    #[test]
    fn require_and_skip_bad_cert_is_unverified_tls() {
        assert_eq!(decide(s(true, true), BAD), TlsMode::Unverified);
    }
    #[test]
    fn require_and_skip_without_starttls_is_refused() {
        assert_eq!(
            decide(s(true, true), NONE),
            TlsMode::Refuse(RefuseReason::NoStartTls)
        );
    }
    #[test]
    fn message_overrides_domain_field_by_field() {
        let domain = s(true, false);
        assert_eq!(domain.with_overrides(Some(false), None), s(false, false));
        assert_eq!(domain.with_overrides(None, Some(true)), s(true, true));
        assert_eq!(domain.with_overrides(None, None), domain);
    }
}
