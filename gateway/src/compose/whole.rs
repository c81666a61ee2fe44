//! Messages given whole (`messages.mime`, SMTP submission): checked and
//! made ready to queue. Exactly one From, no field RFC 5322 allows once given
//! twice, no header envoi adds at delivery, no control characters in the
//! header section, no NUL at all, CRLF line endings.

use super::address::Mailbox;
use super::ComposeError;

/// What `messages.mime` needs from a whole message.
pub struct Prepared {
    pub mime: Vec<u8>,
    pub message_id: String,
    /// The first From mailbox (what events show).
    pub from: Mailbox,
    /// Every mailbox of From and Sender, groups and lists alike.
    pub authors: Vec<Mailbox>,
    pub to: String,
    pub subject: String,
}

/// Header fields of a header section, unfolded: `(name, raw value)`.
fn fields(headers: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut lines = headers.split_inclusive(|&b| b == b'\n').peekable();
    std::iter::from_fn(move || {
        let first = lines.next()?;
        let colon = first.iter().position(|&b| b == b':').unwrap_or(first.len());
        let start = first.as_ptr() as usize - headers.as_ptr() as usize;
        let mut end = start + first.len();
        while let Some(next) = lines.next_if(|l| matches!(l.first(), Some(b' ' | b'\t'))) {
            end += next.len();
        }
        let value_start = (start + colon + 1).min(end);
        Some((&first[..colon], &headers[value_start..end]))
    })
}

/// Every header line is `Name: value` (or a continuation), and no field
/// holds NUL or another C0 control but TAB.
fn check_header_section(headers: &[u8]) -> Result<(), ComposeError> {
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let colon = line.iter().position(|&b| b == b':');
        let ok = colon.is_some_and(|c| c > 0 && line[..c].iter().all(|&b| (33..=126).contains(&b)));
        if !ok {
            return Err(ComposeError::BadMime(format!(
                "header line {:?} is not \"Name: value\"",
                String::from_utf8_lossy(&line[..line.len().min(60)])
            )));
        }
    }
    for (name, value) in fields(headers) {
        let bad = value
            .iter()
            .find(|&&b| b < b' ' && !matches!(b, b'\t' | b'\r' | b'\n'));
        if let Some(&b) = bad {
            return Err(ComposeError::ControlCharacter {
                field: format!("the {} header", String::from_utf8_lossy(name)),
                code: u32::from(b),
            });
        }
    }
    Ok(())
}

/// Fields RFC 5322 (and RFC 2045 for MIME) allow at most once; From, exactly
/// once, is counted on its own.
const AT_MOST_ONCE: &[&str] = &[
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Headers envoi adds to every delivered message: a message that brings
/// its own would go out with two.
const ADDED_BY_ENVOI: &[&str] = &["list-unsubscribe", "list-unsubscribe-post"];

/// No single field twice, and none of the fields envoi adds.
fn check_single_fields(headers: &[u8]) -> Result<(), ComposeError> {
    for name in AT_MOST_ONCE {
        let n = fields(headers)
            .filter(|(f, _)| f.eq_ignore_ascii_case(name.as_bytes()))
            .count();
        if n > 1 {
            return Err(ComposeError::BadMime(format!(
                "it has {n} {} header fields, and RFC 5322 allows at most one; send it once",
                display_name(name)
            )));
        }
    }
    for (f, _) in fields(headers) {
        if let Some(name) = ADDED_BY_ENVOI
            .iter()
            .find(|n| f.eq_ignore_ascii_case(n.as_bytes()))
        {
            return Err(ComposeError::BadMime(format!(
                "it carries its own {} header; envoi adds List-Unsubscribe and List-Unsubscribe-Post to every message (one-click, tied to its suppression lists), so remove it",
                display_name(name)
            )));
        }
    }
    Ok(())
}

/// `message-id` → `Message-Id`, for messages.
fn display_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The mailboxes of an address header (lists and groups alike); each must
/// hold an address envoi accepts.
fn mailboxes(
    field: &'static str,
    value: Option<&mail_parser::Address<'_>>,
) -> Result<Vec<Mailbox>, ComposeError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for a in value.iter() {
        let addr = a.address().ok_or_else(|| {
            ComposeError::BadMime(format!("a mailbox of the {field} header has no address"))
        })?;
        out.push(super::address::parse_mailbox(field, addr)?);
    }
    if out.is_empty() {
        return Err(ComposeError::BadMime(format!(
            "the {field} header holds no address"
        )));
    }
    Ok(out)
}

/// Check a message given whole and make it ready to queue: CRLF line endings,
/// exactly one From we can parse, a header section without control
/// characters, no NUL at all (only BINARYMIME could carry one, and envoi
/// does not offer it), a Message-ID (added when missing).
pub fn prepare_whole(raw: impl Into<Vec<u8>>, domain: &str) -> Result<Prepared, ComposeError> {
    // Owned, so a message whose lines end in CRLF is not copied.
    let raw = raw.into();
    if raw.is_empty() {
        return Err(ComposeError::BadMime("the message is empty".into()));
    }
    let mut mime = super::mime::into_crlf(raw);
    let header_end = find_header_end(&mime)
        .ok_or_else(|| ComposeError::BadMime("no blank line ends the header section".into()))?;
    check_header_section(&mime[..header_end])?;
    if memchr::memchr(0, &mime[header_end..]).is_some() {
        return Err(ComposeError::NulInBody("the message body"));
    }
    let from_fields = fields(&mime[..header_end])
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"from"))
        .count();
    if from_fields != 1 {
        return Err(ComposeError::FromCount(from_fields));
    }
    check_single_fields(&mime[..header_end])?;
    let parsed = mail_parser::MessageParser::default()
        .parse_headers(&mime[..header_end + 2])
        .ok_or_else(|| ComposeError::BadMime("the header section cannot be parsed".into()))?;
    let mut authors = mailboxes("from", parsed.from())?;
    authors.extend(mailboxes("sender", parsed.sender())?);
    let from = authors[0].clone();
    let to = parsed
        .to()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.address())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let subject = parsed.subject().unwrap_or("").to_string();
    let message_id = match parsed.message_id() {
        Some(id) => id.to_string(),
        None => {
            let id = super::new_message_id(domain);
            let field = format!("Message-ID: <{id}>\r\n");
            mime.splice(0..0, field.bytes());
            id
        }
    };
    Ok(Prepared {
        mime,
        message_id,
        from,
        authors,
        to,
        subject,
    })
}

/// Removes Mailgun's option headers (`X-Mailgun-*`, folded lines included)
/// from a CRLF message's header section; returns them unfolded, in order.
pub fn take_mailgun_headers(mime: &mut Vec<u8>) -> Vec<(String, String)> {
    let Some(end) = find_header_end(mime) else {
        return Vec::new();
    };
    let mut taken = Vec::new();
    let mut kept = Vec::with_capacity(mime.len());
    let mut dropping = false;
    for line in mime[..end].split_inclusive(|&b| b == b'\n') {
        let folded = matches!(line.first(), Some(b' ' | b'\t'));
        if !folded {
            dropping = line.len() >= 10 && line[..10].eq_ignore_ascii_case(b"x-mailgun-");
            if dropping {
                let text = String::from_utf8_lossy(line);
                if let Some((name, value)) = text.split_once(':') {
                    taken.push((name.trim().to_string(), value.trim().to_string()));
                }
                continue;
            }
        } else if dropping {
            if let Some((_, value)) = taken.last_mut() {
                value.push(' ');
                value.push_str(String::from_utf8_lossy(line).trim());
            }
            continue;
        }
        kept.extend_from_slice(line);
    }
    if taken.is_empty() {
        return taken;
    }
    kept.extend_from_slice(&mime[end..]);
    *mime = kept;
    taken
}

/// Offset of the CRLF that ends the header section (the first of CRLFCRLF).
pub fn find_header_end(mime: &[u8]) -> Option<usize> {
    if mime.starts_with(b"\r\n") {
        return Some(0);
    }
    mime.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailgun_headers_are_taken_out_folded_lines_and_all() {
        let mut m = b"From: a@x.com\r\nX-Mailgun-Tag: one\r\nSubject: hi\r\nx-mailgun-variables: {\"a\":\r\n 1}\r\n\r\nX-Mailgun-Tag: body\r\n".to_vec();
        let taken = take_mailgun_headers(&mut m);
        assert_eq!(
            taken,
            [
                ("X-Mailgun-Tag".to_string(), "one".to_string()),
                ("x-mailgun-variables".to_string(), "{\"a\": 1}".to_string())
            ]
        );
        assert_eq!(
            m,
            b"From: a@x.com\r\nSubject: hi\r\n\r\nX-Mailgun-Tag: body\r\n".to_vec()
        );
    }

    #[test]
    fn whole_message_gets_a_message_id() {
        let p = prepare_whole(
            b"From: a@x.com\nTo: b@y.com\nSubject: hi\n\nbody\n",
            "x.com",
        )
        .unwrap();
        assert!(p.mime.starts_with(b"Message-ID: <"));
        assert!(p.message_id.ends_with("@x.com"));
        assert_eq!(p.from.addr, "a@x.com");
        assert!(p.mime.windows(4).any(|w| w == b"\r\n\r\n"));
    }

    #[test]
    fn whole_message_keeps_its_message_id() {
        let p = prepare_whole(
            b"Message-ID: <abc@x.com>\r\nFrom: a@x.com\r\n\r\nhi",
            "x.com",
        )
        .unwrap();
        assert_eq!(p.message_id, "abc@x.com");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(prepare_whole(b"this is not a message", "x.com").is_err());
        assert!(prepare_whole(b"no colon here\r\n\r\nbody", "x.com").is_err());
        assert!(prepare_whole(b"Subject: no from\r\n\r\nbody", "x.com").is_err());
    }

    #[test]
    fn every_from_mailbox_is_an_author() {
        let p = prepare_whole(
            b"From: <x@a.test>,\r\n <ceo@b.test>\r\nSender: s@c.test\r\n\r\nhi",
            "a.test",
        )
        .unwrap();
        let got: Vec<_> = p.authors.iter().map(|m| m.addr.as_str()).collect();
        assert_eq!(got, ["x@a.test", "ceo@b.test", "s@c.test"]);
        let p = prepare_whole(b"From: team: x@a.test, ceo@b.test;\r\n\r\nhi", "a.test").unwrap();
        assert_eq!(p.authors.len(), 2);
        assert_eq!(p.authors[1].addr, "ceo@b.test");
    }

    #[test]
    fn two_from_fields_or_none_are_refused() {
        let two = prepare_whole(b"From: x@a.test\r\nFrom: ceo@b.test\r\n\r\nhi", "a.test");
        assert!(matches!(two, Err(ComposeError::FromCount(2))));
        let none = prepare_whole(b"Subject: hi\r\n\r\nhi", "a.test");
        assert!(matches!(none, Err(ComposeError::FromCount(0))));
    }

    #[test]
    fn control_characters_in_headers_and_nul_in_the_body_are_refused() {
        let e = prepare_whole(b"From: x@a.test\r\nSubject: a\0b\r\n\r\nhi", "a.test");
        assert!(
            matches!(e, Err(ComposeError::ControlCharacter { ref field, code: 0 }) if field.contains("Subject"))
        );
        let e = prepare_whole(b"From: x@a.test\r\n\r\nh\0i", "a.test");
        assert!(matches!(e, Err(ComposeError::NulInBody(_))));
        assert!(prepare_whole(b"From: x@a.test\r\nSubject: a\tb\r\n\r\nhi", "a.test").is_ok());
    }

    #[test]
    fn a_single_field_twice_or_envoi_s_own_headers_are_refused() {
        for (m, named) in [
            (
                &b"From: x@a.test\r\nSubject: a\r\nsubject: b\r\n\r\nhi"[..],
                "2 Subject",
            ),
            (
                b"From: x@a.test\r\nTo: a@b.test\r\nTo: c@d.test\r\n\r\nhi",
                "2 To",
            ),
            (
                b"From: x@a.test\r\nSender: a@a.test\r\nSender: b@a.test\r\n\r\nhi",
                "2 Sender",
            ),
            (
                b"From: x@a.test\r\nList-Unsubscribe: <mailto:u@a.test>\r\n\r\nhi",
                "List-Unsubscribe header",
            ),
        ] {
            let e = prepare_whole(m, "a.test")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(named), "{named}: {e}");
        }
        assert!(prepare_whole(
            b"From: x@a.test\r\nReceived: a\r\nReceived: b\r\n\r\nhi",
            "a.test"
        )
        .is_ok());
    }

    #[test]
    fn header_fields_are_unfolded_by_name() {
        let h = b"From: a\r\n b\r\nTo: c\r\n";
        let got: Vec<_> = fields(h).map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        assert_eq!(
            got,
            [
                (b"From".to_vec(), b" a\r\n b\r\n".to_vec()),
                (b"To".to_vec(), b" c\r\n".to_vec())
            ]
        );
    }
}
