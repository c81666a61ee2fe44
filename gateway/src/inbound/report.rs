//! What an incoming report says: a delivery status notification (RFC 3464,
//! or the plain-text bounces many servers still send) with its failed
//! recipients and status codes, or a feedback report (RFC 5965 ARF, and
//! Hotmail's JMRP) with the complained-about recipients. Pure parsing: no
//! I/O. Works on raw bytes, any line endings.

/// One failed (or delayed) recipient of a DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Lower case.
    pub address: String,
    /// Enhanced status code, e.g. `5.1.1`; `5.0.0` / `4.0.0` when only the
    /// class could be inferred.
    pub status: String,
    pub permanent: bool,
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

/// Lines with CRLF or LF endings, as text (invalid UTF-8 replaced).
fn lines(raw: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(raw)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect()
}

/// The field blocks of the first part whose Content-Type is `mime_type`:
/// header-style `Name: value` fields (folded lines joined), one block per
/// blank-line-separated group, up to the next MIME boundary.
fn field_blocks(lines: &[String], mime_type: &str) -> Option<Vec<Vec<(String, String)>>> {
    let start = lines.iter().position(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("content-type:") && l.contains(mime_type)
    })?;
    // Skip the rest of the part's own headers.
    let mut i = start + 1;
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for l in &lines[i..] {
        if l.starts_with("--") {
            break;
        }
        if l.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        if l.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.last_mut() {
                v.push(' ');
                v.push_str(l.trim());
            }
            continue;
        }
        if let Some((name, value)) = l.split_once(':') {
            current.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    Some(blocks)
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `rfc822; Alice@Example.org` → `alice@example.org`.
fn address_of(value: &str) -> String {
    let v = value.split_once(';').map_or(value, |(_, a)| a);
    v.trim()
        .trim_matches(['<', '>'])
        .trim()
        .to_ascii_lowercase()
}

/// The first enhanced status code in `text` (`5.1.1`, `4.2.2`).
fn enhanced_code(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !(b[i] == b'4' || b[i] == b'5')
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            continue;
        }
        let rest = &text[i..];
        let mut parts = rest.splitn(3, '.');
        let (Some(c), Some(s), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let d: String = d.chars().take_while(|ch| ch.is_ascii_digit()).collect();
        let ok = c.len() == 1
            && (1..=3).contains(&s.len())
            && s.bytes().all(|x| x.is_ascii_digit())
            && (1..=3).contains(&d.len());
        let after = rest[c.len() + s.len() + d.len() + 2..].chars().next();
        if ok && !after.is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '.') {
            return Some(format!("{c}.{s}.{d}"));
        }
    }
    None
}

/// Words of a bounce that mean "not yet / not for good".
fn sounds_temporary(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "delayed",
        "will retry",
        "will be retried",
        "temporar",
        "deferred",
        "try again",
        "not responding",
        "queue period",
        "not yet been delivered",
    ]
    .iter()
    .any(|w| t.contains(w))
}

fn failure(address: String, code: Option<String>, temporary_hint: bool) -> Failure {
    let status = code.unwrap_or_else(|| if temporary_hint { "4.0.0" } else { "5.0.0" }.into());
    let permanent = status.starts_with('5');
    Failure {
        address,
        status,
        permanent,
    }
}

/// Addresses in free text, lower case, in order, without repeats.
fn addresses_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "<>()[]\"',;:".contains(c)) {
        let w = word.trim_matches('.');
        let Some((local, domain)) = w.split_once('@') else {
            continue;
        };
        if local.is_empty() || !domain.contains('.') || domain.contains('@') {
            continue;
        }
        let a = w.to_ascii_lowercase();
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The headers of the report itself (up to the first blank line).
fn top_headers(lines: &[String]) -> (Vec<(String, String)>, usize) {
    let end = lines
        .iter()
        .position(|l| l.trim().is_empty())
        .unwrap_or(lines.len());
    let mut h: Vec<(String, String)> = Vec::new();
    for l in &lines[..end] {
        if l.starts_with([' ', '\t']) {
            if let Some((_, v)) = h.last_mut() {
                v.push(' ');
                v.push_str(l.trim());
            }
        } else if let Some((n, v)) = l.split_once(':') {
            h.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (h, end)
}

/// The explanation part of a text bounce: from the body's start to where
/// the returned message (or the machine-readable part) begins.
fn explanation(lines: &[String], body_start: usize) -> Vec<&str> {
    let mut out = Vec::new();
    for l in &lines[body_start..] {
        let low = l.to_ascii_lowercase();
        let returned = low.contains("copy of the message")
            || low.contains("below this line")
            || low.contains("original message follows")
            || low.contains("original message ---")
            || low.starts_with("return-path:")
            || low.starts_with("received:")
            || low.starts_with("content-type: message/")
            || low.starts_with("content-type: text/rfc822-headers");
        if returned {
            break;
        }
        out.push(l.as_str());
    }
    out
}

/// Failed recipients read from a text bounce: addresses in the explanation,
/// except those of a quoted header line and of the reporting system.
fn text_failures(lines: &[String], body_start: usize) -> Vec<Failure> {
    let part = explanation(lines, body_start);
    let text = part.join("\n");
    let temporary = sounds_temporary(&text);
    let mut found: Vec<(String, Option<String>)> = Vec::new();
    for (i, l) in part.iter().enumerate() {
        let t = l.trim_start().to_ascii_lowercase();
        if [
            "to:",
            "from:",
            "sent:",
            "cc:",
            "subject:",
            "reply-to:",
            "date:",
        ]
        .iter()
        .any(|h| t.starts_with(h))
        {
            continue;
        }
        for a in addresses_in(l) {
            let system = ["postmaster@", "mailer-daemon@", "root@"]
                .iter()
                .any(|p| a.starts_with(p));
            if system || found.iter().any(|(f, _)| *f == a) {
                continue;
            }
            // The code nearest after the address, within a few lines.
            let near = part[i..part.len().min(i + 4)].join(" ");
            let code =
                enhanced_code(&near[near.find(&a[..a.find('@').unwrap_or(0)]).unwrap_or(0)..])
                    .or_else(|| enhanced_code(&near));
            found.push((a, code));
        }
    }
    let fallback = enhanced_code(&text);
    found
        .into_iter()
        .map(|(a, code)| failure(a, code.or_else(|| fallback.clone()), temporary))
        .collect()
}

pub fn classify(raw: &[u8]) -> Report {
    let lines = lines(raw);
    let (headers, head_end) = top_headers(&lines);
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();

    // RFC 5965 feedback report.
    if let Some(blocks) = field_blocks(&lines, "message/feedback-report") {
        let fields: Vec<(String, String)> = blocks.into_iter().flatten().collect();
        let feedback_type = field(&fields, "feedback-type")
            .unwrap_or("abuse")
            .to_ascii_lowercase();
        let recipients = fields
            .iter()
            .filter(|(n, _)| n == "original-rcpt-to" || n == "removal-recipient")
            .map(|(_, v)| address_of(v))
            .collect();
        return Report::Feedback {
            feedback_type,
            recipients,
        };
    }
    // Hotmail's JMRP: the complained-about message, with the recipient in
    // X-HmXmrOriginalRecipient.
    if let Some(l) = lines.iter().find(|l| {
        l.to_ascii_lowercase()
            .starts_with("x-hmxmroriginalrecipient:")
    }) {
        let value = l.split_once(':').map_or("", |(_, v)| v);
        return Report::Feedback {
            feedback_type: "abuse".into(),
            recipients: vec![address_of(value)],
        };
    }

    // RFC 3464 delivery status.
    if let Some(blocks) = field_blocks(&lines, "message/delivery-status") {
        let mut failures = Vec::new();
        for b in blocks.iter().skip(1) {
            // An Internet address: Final-Recipient unless it is of another
            // type (x400...) and Original-Recipient is one.
            let is_rfc822 = |v: &&str| {
                v.split_once(';').is_some_and(|(t, a)| {
                    t.trim().eq_ignore_ascii_case("rfc822") && a.contains('@')
                })
            };
            let Some(rcpt) = [field(b, "final-recipient"), field(b, "original-recipient")]
                .into_iter()
                .flatten()
                .find(is_rfc822)
                .or_else(|| field(b, "final-recipient"))
            else {
                continue;
            };
            let action = field(b, "action").unwrap_or("failed").to_ascii_lowercase();
            if action == "delivered" || action == "relayed" || action == "expanded" {
                continue;
            }
            let code = field(b, "status").and_then(enhanced_code);
            let f = failure(address_of(rcpt), code, action == "delayed");
            // Some servers repeat a recipient's block.
            if !failures.iter().any(|g: &Failure| g.address == f.address) {
                failures.push(f);
            }
        }
        if failures.is_empty() {
            // Per-message fields only: the recipients are in the text part.
            failures = text_failures(&lines, head_end);
        }
        if !failures.is_empty() {
            return Report::Delivery(failures);
        }
    }

    // Plain-text bounces, recognised by who sends them or what they say.
    let from = headers
        .iter()
        .find(|(n, _)| n == "from")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let subject = headers
        .iter()
        .find(|(n, _)| n == "subject")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let looks_like_bounce = from.contains("mailer-daemon")
        || from.contains("postmaster")
        || content_type.contains("report-type=delivery-status")
        || [
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
        ]
        .iter()
        .any(|w| subject.contains(w));
    if looks_like_bounce {
        let failures = text_failures(&lines, head_end);
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
    fn enhanced_codes_are_found_in_text() {
        assert_eq!(
            enhanced_code("550 5.1.1 <a@b.c>... User Unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(enhanced_code("(#5.5.0)").as_deref(), Some("5.5.0"));
        assert_eq!(enhanced_code("version 10.4.5.1 of x"), None);
        assert_eq!(enhanced_code("no code"), None);
    }

    #[test]
    fn an_rfc3464_report_gives_each_recipient_and_status() {
        let dsn = "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\nFinal-Recipient: rfc822; Alice@Dest.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\nFinal-Recipient: rfc822; bob@dest.test\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n--b--\r\n";
        assert_eq!(
            classify(dsn.as_bytes()),
            Report::Delivery(vec![
                Failure {
                    address: "alice@dest.test".into(),
                    status: "5.1.1".into(),
                    permanent: true
                },
                Failure {
                    address: "bob@dest.test".into(),
                    status: "4.2.2".into(),
                    permanent: false
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
