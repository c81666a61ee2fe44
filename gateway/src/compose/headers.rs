//! `h:` fields against the headers envoi writes itself: a message never
//! carries two of one. A few replace envoi's value as Mailgun allows
//! (From, Subject) or are single fields envoi does not write (Sender,
//! Reply-To); the others envoi writes are refused, naming the header.

use super::ComposeError;

/// Headers envoi writes (or a receiver relies on being written once by the
/// sending system): an `h:` copy would be a second one.
const WRITTEN_BY_ENVOI: &[&str] = &[
    "to",
    "cc",
    "bcc",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "dkim-signature",
    "return-path",
    "received",
    "x-mailgun-variables",
];

/// The `h:` fields of a send, sorted by what they do.
#[derive(Debug, Default)]
pub struct CustomHeaders<'a> {
    /// `h:From`: replaces the `from` field.
    pub from: Option<&'a str>,
    /// `h:Subject`: replaces the `subject` field.
    pub subject: Option<&'a str>,
    /// `h:Sender`: a mailbox, checked like From.
    pub sender: Option<&'a str>,
    /// Everything else, in order (Reply-To and custom headers).
    pub rest: Vec<(&'a str, &'a str)>,
}

/// A header value must be one line of text: no CR or LF (a second header
/// smuggled in), no NUL or other C0 control but TAB (receivers cut or
/// mangle them).
pub fn check_value(field: &str, value: &str) -> Result<(), ComposeError> {
    if value.contains(['\r', '\n']) {
        return Err(ComposeError::HeaderInjection(field.to_string()));
    }
    if let Some(c) = value.chars().find(|&c| c < ' ' && c != '\t') {
        return Err(ComposeError::ControlCharacter {
            field: field.to_string(),
            code: c as u32,
        });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), ComposeError> {
    if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(ComposeError::BadHeaderName(name.to_string()));
    }
    Ok(())
}

/// Sorts `h:` fields (`("Name", value)`), refusing a header envoi writes and
/// a second copy of a single one.
pub fn classify<'a>(headers: &[(&'a str, &'a str)]) -> Result<CustomHeaders<'a>, ComposeError> {
    let mut out = CustomHeaders::default();
    let mut reply_to = false;
    for &(name, value) in headers {
        check_name(name)?;
        check_value(&format!("h:{name}"), value)?;
        let lower = name.to_ascii_lowercase();
        if WRITTEN_BY_ENVOI.contains(&lower.as_str()) {
            return Err(ComposeError::ReservedHeader(name.to_string()));
        }
        let slot = match lower.as_str() {
            "from" => &mut out.from,
            "subject" => &mut out.subject,
            "sender" => &mut out.sender,
            "reply-to" => {
                if std::mem::replace(&mut reply_to, true) {
                    return Err(ComposeError::DuplicateHeader(name.to_string()));
                }
                out.rest.push((name, value));
                continue;
            }
            _ => {
                out.rest.push((name, value));
                continue;
            }
        };
        if slot.replace(value).is_some() {
            return Err(ComposeError::DuplicateHeader(name.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_and_subject_replace_envoi_s_sender_and_reply_to_pass() {
        let h = classify(&[
            ("From", "a@x.test"),
            ("subject", "Hi"),
            ("Sender", "b@x.test"),
            ("Reply-To", "c@y.test"),
            ("X-Custom", "1"),
            ("X-Custom", "2"),
        ])
        .unwrap();
        assert_eq!(h.from, Some("a@x.test"));
        assert_eq!(h.subject, Some("Hi"));
        assert_eq!(h.sender, Some("b@x.test"));
        assert_eq!(
            h.rest,
            [
                ("Reply-To", "c@y.test"),
                ("X-Custom", "1"),
                ("X-Custom", "2")
            ]
        );
    }

    #[test]
    fn headers_envoi_writes_are_refused_by_name() {
        for name in [
            "To",
            "Message-Id",
            "DKIM-Signature",
            "content-type",
            "List-Unsubscribe-Post",
            "Received",
        ] {
            let e = classify(&[(name, "x")]).unwrap_err();
            assert!(
                matches!(&e, ComposeError::ReservedHeader(n) if n == name),
                "{e}"
            );
            assert!(e.to_string().contains(name));
        }
    }

    #[test]
    fn a_second_single_header_is_refused() {
        for name in ["From", "Subject", "Sender", "Reply-To"] {
            let e = classify(&[(name, "a@x.test"), (name, "b@x.test")]).unwrap_err();
            assert!(matches!(e, ComposeError::DuplicateHeader(_)), "{name}");
        }
    }

    #[test]
    fn control_characters_are_named() {
        let e = check_value("subject", "a\0b").unwrap_err().to_string();
        assert!(e.contains("subject") && e.contains("NUL"), "{e}");
        assert!(check_value("subject", "a\tb").is_ok());
        assert!(check_value("h:X", "a\u{1b}b").is_err());
        assert!(matches!(
            check_value("h:X", "a\rb"),
            Err(ComposeError::HeaderInjection(_))
        ));
    }
}
