//! What an incoming report says: a delivery status notification (RFC 3464,
//! or the plain-text bounces many servers still send) with its failed
//! recipients and status codes, or a feedback report (RFC 5965 ARF, and
//! Hotmail's JMRP) with the complained-about recipients. Pure parsing: no
//! I/O. mail-parser finds the parts and reads the fields; the plain-text
//! heuristics are `report_text`.

use mail_parser::{Message, MessageParser, MimeHeaders};
use policy::delivery::EnhancedCode;

use super::report_text::{enhanced_code, text_failures};

/// One failed (or delayed) recipient of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Lower case.
    pub address: String,
    /// `5.0.0` / `4.0.0` when only the class could be inferred.
    pub status: EnhancedCode,
}

impl Failure {
    /// With the report's status, or the class the words suggest.
    pub(super) fn new(address: String, code: Option<EnhancedCode>, temporary: bool) -> Failure {
        let status = code.unwrap_or(if temporary {
            EnhancedCode(4, 0, 0)
        } else {
            EnhancedCode(5, 0, 0)
        });
        Failure { address, status }
    }

    /// A 5.x.x status: the address failed for good.
    pub fn permanent(&self) -> bool {
        self.status.0 == 5
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Delivery(Vec<Failure>),
    Feedback {
        feedback_type: String,
        /// Lower case; empty when the reporter redacted them.
        recipients: Vec<String>,
    },
    /// Neither: refused politely, never relayed.
    Other,
}

/// One group of `Name: value` fields of a report part.
struct Fields<'x>(Message<'x>);

impl Fields<'_> {
    /// Every value of the field `name`, unfolded.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = String> + 'a {
        self.0
            .headers()
            .iter()
            .filter(move |h| h.name().eq_ignore_ascii_case(name))
            .filter_map(|h| h.value().as_text())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.all(name).next()
    }
}

/// The field groups (blank-line separated) of the first part whose type is
/// `message/{subtype}`, each read by mail-parser as a header block.
fn report_fields<'x>(msg: &'x Message<'x>, subtypes: &[&str]) -> Option<Vec<Fields<'x>>> {
    let part = msg.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)))
        })
    })?;
    let mut rest = part.contents();
    let mut groups = Vec::new();
    let parser = MessageParser::new();
    loop {
        // Blank lines between groups.
        while let Some(r) = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
        {
            rest = r;
        }
        if rest.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        let Some(block) = parser.parse_headers(rest) else {
            break;
        };
        // Where the group's last field ends (with its line end).
        let end = block.headers().last().map_or(0, |h| h.offset_end as usize);
        if end == 0 || end > rest.len() {
            break;
        }
        rest = &rest[end..];
        if !block.headers().is_empty() {
            groups.push(Fields(block));
        }
    }
    Some(groups)
}

/// `rfc822; Alice@Example.org` → `alice@example.org`.
fn address_of(value: &str) -> String {
    let v = value.split_once(';').map_or(value, |(_, a)| a);
    v.trim()
        .trim_matches(['<', '>'])
        .trim()
        .to_ascii_lowercase()
}

/// The complained-about recipient of a Hotmail JMRP report, in the report's
/// headers or those of the message it returns.
fn jmrp_recipient(msg: &Message<'_>) -> Option<String> {
    const NAME: &str = "X-HmXmrOriginalRecipient";
    std::iter::once(msg)
        .chain(msg.parts.iter().filter_map(|p| p.message()))
        .find_map(|m| m.header_raw(NAME))
        .map(address_of)
}

/// The recipients of an RFC 3464 report, from its per-recipient groups
/// (the first group is the per-message one).
fn delivery_failures(groups: &[Fields<'_>]) -> Vec<Failure> {
    let mut failures: Vec<Failure> = Vec::new();
    for g in groups.iter().skip(1) {
        // An Internet address: Final-Recipient unless it is of another
        // type (x400...) and Original-Recipient is one.
        let is_rfc822 = |v: &String| {
            v.split_once(';')
                .is_some_and(|(t, a)| t.trim().eq_ignore_ascii_case("rfc822") && a.contains('@'))
        };
        let Some(rcpt) = [g.get("final-recipient"), g.get("original-recipient")]
            .into_iter()
            .flatten()
            .find(is_rfc822)
            .or_else(|| g.get("final-recipient"))
        else {
            continue;
        };
        let action = g
            .get("action")
            .unwrap_or("failed".into())
            .to_ascii_lowercase();
        if matches!(action.as_str(), "delivered" | "relayed" | "expanded") {
            continue;
        }
        let code = g.get("status").and_then(|s| enhanced_code(&s));
        let f = Failure::new(address_of(&rcpt), code, action == "delayed");
        // Some servers repeat a recipient's block.
        if !failures.iter().any(|g| g.address == f.address) {
            failures.push(f);
        }
    }
    failures
}

/// The human-readable text of the report (its first text part, decoded).
fn explanation_text(msg: &Message<'_>) -> String {
    msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// Subjects of plain-text bounces.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliver",
    "delivery status",
    "failure notice",
    "returned mail",
    "delivery failure",
    "not delivered",
    "delivery has failed",
    "could not be delivered",
    "delivery notification",
    "nondeliverable",
    "delayed mail",
    "warning:",
];

pub fn classify(raw: &[u8]) -> Report {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Report::Other;
    };

    // RFC 5965 feedback report.
    if let Some(groups) = report_fields(&msg, &["feedback-report"]) {
        let feedback_type = groups
            .iter()
            .find_map(|g| g.get("feedback-type"))
            .unwrap_or("abuse".into())
            .to_ascii_lowercase();
        let recipients = groups
            .iter()
            .flat_map(|g| g.all("original-rcpt-to").chain(g.all("removal-recipient")))
            .map(|v| address_of(&v))
            .collect();
        return Report::Feedback {
            feedback_type,
            recipients,
        };
    }
    if let Some(rcpt) = jmrp_recipient(&msg) {
        return Report::Feedback {
            feedback_type: "abuse".into(),
            recipients: vec![rcpt],
        };
    }

    // RFC 3464 delivery status (RFC 6533's global one too).
    if let Some(groups) = report_fields(&msg, &["delivery-status", "global-delivery-status"]) {
        let mut failures = delivery_failures(&groups);
        if failures.is_empty() {
            // Per-message fields only: the recipients are in the text part.
            failures = text_failures(&explanation_text(&msg));
        }
        if !failures.is_empty() {
            return Report::Delivery(failures);
        }
    }

    // Plain-text bounces, recognised by who sends them or what they say.
    let header = |name: &str| {
        msg.header_raw(name)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let from = header("From");
    let subject = msg.subject().unwrap_or_default().to_ascii_lowercase();
    let looks_like_bounce = from.contains("mailer-daemon")
        || from.contains("postmaster")
        || header("Content-Type").contains("report-type=delivery-status")
        || BOUNCE_SUBJECTS.iter().any(|w| subject.contains(w));
    if looks_like_bounce {
        let failures = text_failures(&explanation_text(&msg));
        if !failures.is_empty() {
            return Report::Delivery(failures);
        }
    }
    Report::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rfc3464_report_gives_each_recipient_and_status() {
        let dsn = "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\nFinal-Recipient: rfc822; Alice@Dest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; bob@dest.test\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n--b--\r\n";
        assert_eq!(
            classify(dsn.as_bytes()),
            Report::Delivery(vec![
                Failure {
                    address: "alice@dest.test".into(),
                    status: EnhancedCode(5, 1, 1),
                },
                Failure {
                    address: "bob@dest.test".into(),
                    status: EnhancedCode(4, 2, 2),
                },
            ])
        );
    }

    #[test]
    fn an_arf_report_gives_its_type_and_recipient() {
        let arf = "From: fbl@isp.test\nContent-Type: multipart/report; report-type=feedback-report; boundary=x\n\n--x\nContent-Type: text/plain\n\nA complaint.\n--x\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: <Carol@Dest.test>\n\n--x--\n";
        assert_eq!(
            classify(arf.as_bytes()),
            Report::Feedback {
                feedback_type: "abuse".into(),
                recipients: vec!["carol@dest.test".into()]
            }
        );
    }

    #[test]
    fn ordinary_mail_is_neither() {
        assert_eq!(
            classify(b"From: a@b.test\r\nSubject: hello\r\n\r\nHi there, bob@c.test\r\n"),
            Report::Other
        );
    }
}
