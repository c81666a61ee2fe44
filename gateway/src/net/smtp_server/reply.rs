//! Every answer the SMTP servers give, with its enhanced status code
//! (RFC 3463), made here and nowhere else. The type is `net::reply::Reply`.

pub use crate::net::reply::{EnhancedCode, Reply};

/// How a client may authenticate on its connection, for the 530 that asks
/// it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHow {
    /// STARTTLS is offered and AUTH comes after it.
    StartTlsFirst,
    /// AUTH is offered now.
    Auth,
    /// Neither: no certificate, and the client is not on loopback.
    NotHere,
}

impl Reply {
    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, EnhancedCode(2, 0, 0), text)
    }
    pub fn greeting(host: &str) -> Reply {
        Reply::new(220, None, format!("{host} ESMTP envoi"))
    }
    pub fn bye() -> Reply {
        Reply::new(221, EnhancedCode(2, 0, 0), "bye")
    }
    pub fn start_data() -> Reply {
        Reply::new(354, None, "end data with <CR><LF>.<CR><LF>")
    }
    pub fn ready_for_tls() -> Reply {
        Reply::new(220, EnhancedCode(2, 0, 0), "ready to start TLS")
    }
    pub fn auth_ok() -> Reply {
        Reply::new(235, EnhancedCode(2, 7, 0), "authentication succeeded")
    }
    pub fn challenge(text: &str) -> Reply {
        Reply::new(334, None, text)
    }

    // Sequence and syntax.
    pub fn bad_sequence(what: &str) -> Reply {
        Reply::new(503, EnhancedCode(5, 5, 1), what)
    }
    pub fn unknown_command() -> Reply {
        Reply::new(
            500,
            EnhancedCode(5, 5, 1),
            "command not recognised: this is an SMTP submission server (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT)",
        )
    }
    pub fn not_implemented(cmd: &str) -> Reply {
        Reply::new(
            502,
            EnhancedCode(5, 5, 1),
            format!("{cmd} is not implemented"),
        )
    }
    pub fn syntax(what: impl Into<String>) -> Reply {
        Reply::new(501, EnhancedCode(5, 5, 4), what)
    }
    pub fn line_too_long(max: usize) -> Reply {
        Reply::new(
            500,
            EnhancedCode(5, 5, 2),
            format!("line too long: at most {max} octets per command line"),
        )
    }
    pub fn bad_param(what: impl Into<String>) -> Reply {
        Reply::new(555, EnhancedCode(5, 5, 4), what)
    }
    pub fn too_many_errors() -> Reply {
        Reply::new(
            421,
            EnhancedCode(4, 7, 0),
            "too many errors; closing the connection",
        )
    }
    pub fn bare_lf() -> Reply {
        Reply::new(
            521,
            EnhancedCode(5, 5, 2),
            "bare LF in the message: lines must end with CRLF; nothing was stored",
        )
    }

    // Limits.
    pub fn too_large(max: usize) -> Reply {
        Reply::new(
            552,
            EnhancedCode(5, 3, 4),
            format!("message too large: the limit is {max} bytes; nothing was stored"),
        )
    }
    pub fn too_many_recipients(max: usize) -> Reply {
        Reply::new(
            452,
            EnhancedCode(4, 5, 3),
            format!(
                "too many recipients: at most {max} per message; send the rest in another message"
            ),
        )
    }
    pub fn idle() -> Reply {
        Reply::new(
            421,
            EnhancedCode(4, 4, 2),
            "idle for too long; closing the connection",
        )
    }
    pub fn too_busy() -> Reply {
        Reply::new(
            421,
            EnhancedCode(4, 7, 0),
            "too many connections; try again later",
        )
    }
    pub fn shutting_down() -> Reply {
        Reply::new(421, EnhancedCode(4, 3, 2), "shutting down; try again later")
    }

    // Authentication and relaying.
    /// MAIL without AUTH: says how to authenticate on this connection.
    pub fn auth_required(how: AuthHow) -> Reply {
        let text = match how {
            AuthHow::StartTlsFirst => {
                "authentication required: issue STARTTLS, then AUTH as login@domain with the domain's SMTP credentials (no relaying without it)"
            }
            AuthHow::Auth => {
                "authentication required: AUTH as login@domain with the domain's SMTP credentials (no relaying without it)"
            }
            AuthHow::NotHere => {
                "authentication required, but AUTH needs TLS and this server has no certificate: connect from the server itself (loopback), or ask its operator to set [smtp] tls_cert and tls_key"
            }
        };
        Reply::new(530, EnhancedCode(5, 7, 0), text)
    }
    /// AUTH before TLS where TLS is required.
    pub fn encryption_required(tls_available: bool) -> Reply {
        let text = if tls_available {
            "encryption required: issue STARTTLS before AUTH"
        } else {
            "encryption required: AUTH needs TLS and this server has no certificate; connect from the server itself (loopback), or ask its operator to set [smtp] tls_cert and tls_key"
        };
        Reply::new(538, EnhancedCode(5, 7, 11), text)
    }
    /// Credentials that did not match. A login without a domain is the
    /// usual mistake (credentials are `login@domain`): said so.
    pub fn bad_credentials(login: &str) -> Reply {
        let text = if login.contains('@') {
            "authentication failed: wrong login or password (the login is the full login@domain the credential was created with)".to_string()
        } else {
            format!(
                "authentication failed: log in with the full login, login@domain ({:?} names no domain)",
                login.chars().take(64).collect::<String>()
            )
        };
        Reply::new(535, EnhancedCode(5, 7, 8), text)
    }
    pub fn auth_throttled() -> Reply {
        Reply::new(
            454,
            EnhancedCode(4, 7, 0),
            "too many failed authentications; try again later",
        )
    }
    pub fn auth_unavailable() -> Reply {
        Reply::new(
            454,
            EnhancedCode(4, 7, 0),
            "authentication is temporarily unavailable; try again later",
        )
    }
    pub fn auth_cancelled() -> Reply {
        Reply::new(501, EnhancedCode(5, 7, 0), "authentication cancelled")
    }
    pub fn unsupported_mechanism() -> Reply {
        Reply::new(
            504,
            EnhancedCode(5, 5, 4),
            "unsupported mechanism: use PLAIN or LOGIN",
        )
    }
    pub fn not_your_domain(sender: &str, allowed: &[String]) -> Reply {
        Reply::new(
            550,
            EnhancedCode(5, 7, 1),
            format!(
                "sender {sender:?} is not in your domain: you may send only as @{}",
                allowed.join(", @")
            ),
        )
    }
    pub fn relay_denied(bounce_domain: &str) -> Reply {
        Reply::new(
            550,
            EnhancedCode(5, 7, 1),
            format!("relaying denied: this server takes reports for @{bounce_domain} only"),
        )
    }
    pub fn tls_unavailable() -> Reply {
        Reply::new(454, EnhancedCode(4, 7, 0), "TLS not available")
    }
    pub fn bad_sender(why: impl Into<String>) -> Reply {
        Reply::new(501, EnhancedCode(5, 1, 7), why)
    }
    pub fn bad_recipient(why: impl Into<String>) -> Reply {
        Reply::new(501, EnhancedCode(5, 1, 3), why)
    }
    pub fn no_valid_recipients() -> Reply {
        Reply::new(554, EnhancedCode(5, 5, 1), "no valid recipients")
    }

    // After DATA.
    pub fn queued(id: &str) -> Reply {
        Reply::new(250, EnhancedCode(2, 0, 0), format!("OK: queued as <{id}>"))
    }
    pub fn bad_message(why: impl Into<String>) -> Reply {
        Reply::new(550, EnhancedCode(5, 6, 0), why)
    }
    /// From or Sender of another domain (`policy::sender`).
    pub fn not_your_author(refusal: &policy::sender::Refusal) -> Reply {
        Reply::new(550, EnhancedCode(5, 7, 1), refusal.to_string())
    }
    pub fn sending_limit(domain: &str, l: &policy::limits::Limited) -> Reply {
        let text = if l.too_big {
            format!(
                "sending limit for {domain}: {} messages, and this one alone has more recipients; split it. Nothing was stored",
                l.rate
            )
        } else {
            format!(
                "sending limit reached for {domain}: {} messages; try again in {} s. Nothing was stored",
                l.rate,
                l.retry_after.as_secs().max(1)
            )
        };
        Reply::new(451, EnhancedCode(4, 7, 1), text)
    }
    pub fn suspended(why: &str) -> Reply {
        Reply::new(
            554,
            EnhancedCode(5, 7, 1),
            format!("{why}; nothing was stored"),
        )
    }
    pub fn busy_receiving() -> Reply {
        Reply::new(
            451,
            EnhancedCode(4, 3, 1),
            "too much mail is being received at once; nothing was stored, try again in a few minutes",
        )
    }
    pub fn store_failed() -> Reply {
        Reply::new(
            451,
            EnhancedCode(4, 3, 0),
            "the message could not be stored; nothing was kept, please retry",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_replies_use_dashes_and_crlf() {
        let r = Reply {
            code: 250,
            enhanced: None,
            lines: vec!["host".into(), "SIZE 10".into(), "PIPELINING".into()],
        };
        let mut out = Vec::new();
        r.write_to(&mut out);
        assert_eq!(out, b"250-host\r\n250-SIZE 10\r\n250 PIPELINING\r\n");
    }

    #[test]
    fn replies_carry_the_enhanced_code_and_no_forged_lines() {
        let mut out = Vec::new();
        Reply::bad_message("a\r\n250 ok").write_to(&mut out);
        assert_eq!(out, b"550 5.6.0 a250 ok\r\n");
    }
}
