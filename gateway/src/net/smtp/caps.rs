//! What an MX's EHLO reply advertised, as smtp-proto reads it.

use smtp_proto::EhloResponse;

/// What EHLO advertised.
#[derive(Debug, Default, Clone)]
pub struct Capabilities {
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    pub size: Option<u64>,
}

impl Capabilities {
    pub(super) fn from_ehlo(ehlo: &EhloResponse<String>) -> Capabilities {
        use smtp_proto::{EXT_8BIT_MIME, EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS};
        let has = |c| ehlo.has_capability(c);
        Capabilities {
            starttls: has(EXT_START_TLS),
            pipelining: has(EXT_PIPELINING),
            eightbitmime: has(EXT_8BIT_MIME),
            smtputf8: has(EXT_SMTP_UTF8),
            size: (has(EXT_SIZE) && ehlo.size > 0).then_some(ehlo.size as u64),
        }
    }
}

/// EHLO replies of real MXs, read by smtp-proto.
#[cfg(test)]
mod ehlo {
    use super::*;
    use smtp_proto::EhloResponse;

    fn caps(wire: &str) -> Capabilities {
        let wire = wire.replace('\n', "\r\n");
        Capabilities::from_ehlo(&EhloResponse::parse(&mut wire.as_bytes().iter()).unwrap())
    }

    #[test]
    fn gmail() {
        let c = caps("250-mx.google.com at your service, [192.0.2.1]\n250-SIZE 157286400\n250-8BITMIME\n250-STARTTLS\n250-ENHANCEDSTATUSCODES\n250-PIPELINING\n250-CHUNKING\n250 SMTPUTF8\n");
        assert!(c.starttls && c.pipelining && c.eightbitmime && c.smtputf8);
        assert_eq!(c.size, Some(157286400));
    }

    #[test]
    fn exchange_with_its_private_keywords() {
        let c = caps("250-EX.example.com Hello [192.0.2.1]\n250-SIZE 37748736\n250-PIPELINING\n250-DSN\n250-ENHANCEDSTATUSCODES\n250-STARTTLS\n250-X-ANONYMOUSTLS\n250-AUTH NTLM\n250-X-EXPS GSSAPI NTLM\n250-8BITMIME\n250-BINARYMIME\n250-CHUNKING\n250-XEXCH50\n250-XRDST\n250 XSHADOWREQUEST\n");
        assert!(c.starttls && c.pipelining && c.eightbitmime && !c.smtputf8);
        assert_eq!(c.size, Some(37748736));
    }

    #[test]
    fn postfix_with_old_auth_and_size_without_a_value() {
        let c = caps("250-mail.example.org\n250-PIPELINING\n250-SIZE\n250-VRFY\n250-ETRN\n250-AUTH PLAIN LOGIN\n250-AUTH=PLAIN LOGIN\n250-XCLIENT NAME ADDR PROTO HELO\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250 DSN\n");
        assert!(c.pipelining && c.eightbitmime && !c.starttls);
        assert_eq!(c.size, None);
    }
}
