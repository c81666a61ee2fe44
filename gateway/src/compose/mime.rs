//! RFC 5322 / MIME building (mail-builder) and the CRLF normalisation every
//! way in shares.

use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::headers::HeaderType;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use serde_json::Value;

use super::address::Mailbox;
use super::options::{fill_variables, substitute};
use super::{ComposeError, File};

#[derive(Clone, Copy)]
pub struct Content<'a> {
    pub from: &'a Mailbox,
    pub subject: &'a str,
    pub text: Option<&'a str>,
    pub html: Option<&'a str>,
    pub amp_html: Option<&'a str>,
    pub attachments: &'a [File],
    pub inlines: &'a [File],
    pub headers: &'a [(&'a str, &'a str)],
    /// `v:` variables, sent as `X-Mailgun-Variables` (filled in per
    /// recipient in batch mode).
    pub user_variables: &'a serde_json::Map<String, Value>,
}

fn addr(m: &Mailbox) -> Address<'static> {
    match &m.name {
        Some(n) => Address::new_address(Some(n.clone()), m.addr.clone()),
        None => Address::new_address(None::<String>, m.addr.clone()),
    }
}

fn addr_list(list: &[Mailbox]) -> Address<'static> {
    Address::new_list(list.iter().map(addr).collect())
}

pub fn content_type_of(f: &File) -> String {
    if let Some(ct) = f
        .content_type
        .as_deref()
        .filter(|c| !c.is_empty() && *c != "application/octet-stream")
    {
        return ct.to_string();
    }
    let ext = f
        .filename
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "json" => "application/json",
        "zip" => "application/zip",
        "ics" => "text/calendar",
        _ => "application/octet-stream",
    }
    .to_string()
}

fn header_value(v: String) -> HeaderType<'static> {
    // Plain ASCII that fits a line goes as written; anything else is folded
    // and, when not ASCII, encoded (RFC 2047).
    if v.is_ascii() && v.len() < 900 {
        HeaderType::Raw(Raw::new(v))
    } else {
        HeaderType::Text(Text::new(v))
    }
}

/// Build one message. `subst` is `Some(vars)` in batch mode: `%recipient.KEY%`
/// is then replaced in the subject, bodies and custom headers.
pub fn build(
    c: &Content<'_>,
    to: &[Mailbox],
    cc: &[Mailbox],
    message_id: &str,
    subst: Option<Option<&Value>>,
) -> Result<Vec<u8>, ComposeError> {
    let vars = subst.flatten().and_then(Value::as_object);
    let fill = |s: &str| {
        if subst.is_some() {
            substitute(s, vars)
        } else {
            s.to_string()
        }
    };

    // Checked after substitution: a recipient variable is input too.
    let header = |field: &str, s: &str| {
        let v = fill(s);
        super::check_single_line(field, &v).map(|()| v)
    };
    let mut alternatives = Vec::new();
    for (field, ctype, text) in [
        ("text", "text/plain", c.text),
        ("amp-html", "text/x-amp-html", c.amp_html),
        ("html", "text/html", c.html),
    ] {
        if let Some(t) = text {
            alternatives.push(MimePart::new(ctype, body_text(field, &fill(t))?));
        }
    }
    let mut body = if alternatives.len() == 1 {
        alternatives.pop().expect("one part")
    } else {
        MimePart::new("multipart/alternative", alternatives)
    };
    if !c.inlines.is_empty() {
        let mut parts = vec![body];
        for f in c.inlines {
            parts.push(
                MimePart::new(content_type_of(f), f.data.to_vec())
                    .inline()
                    .cid(f.filename.clone())
                    .header(
                        "Content-Disposition",
                        Raw::new(format!("inline; filename=\"{}\"", quote(&f.filename))),
                    ),
            );
        }
        body = MimePart::new("multipart/related", parts);
    }
    if !c.attachments.is_empty() {
        let mut parts = vec![body];
        for f in c.attachments {
            let name = if f.filename.is_empty() {
                "attachment".to_string()
            } else {
                f.filename.clone()
            };
            parts.push(MimePart::new(content_type_of(f), f.data.to_vec()).attachment(name));
        }
        body = MimePart::new("multipart/mixed", parts);
    }

    let mut b = MessageBuilder::new()
        .from(addr(c.from))
        .to(addr_list(to))
        .subject(header("subject", c.subject)?)
        .message_id(message_id.to_string())
        .date(chrono::Utc::now().timestamp());
    if !cc.is_empty() {
        b = b.cc(addr_list(cc));
    }
    for (name, value) in c.headers {
        let value = header(&format!("h:{name}"), value)?;
        b = b.header(name.to_string(), header_value(value));
    }
    if !c.user_variables.is_empty() {
        let filled = match subst {
            Some(_) => fill_variables(c.user_variables, vars),
            None => c.user_variables.clone(),
        };
        let v = Value::Object(filled).to_string();
        b = b.header("X-Mailgun-Variables", header_value(v));
    }
    b.body(body)
        .write_to_vec()
        .map_err(|e| ComposeError::BadMime(e.to_string()))
}

/// A text part: NUL is refused (only a base64 part could carry it), and
/// every line ending becomes CRLF, so no bare CR or LF reaches a receiver.
fn body_text(field: &'static str, text: &str) -> Result<String, ComposeError> {
    if text.contains('\0') {
        return Err(ComposeError::NulInBody(field));
    }
    let crlf = normalise_line_endings(text.as_bytes());
    Ok(String::from_utf8(crlf).expect("only CR and LF were added"))
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `normalise_line_endings`, without a copy when every line already ends
/// in CRLF (SMTP DATA always does: a bare LF is refused there).
pub fn into_crlf(raw: Vec<u8>) -> Vec<u8> {
    let crlf = memchr::memchr2_iter(b'\r', b'\n', &raw).all(|i| match raw[i] {
        b'\r' => raw.get(i + 1) == Some(&b'\n'),
        _ => i > 0 && raw[i - 1] == b'\r',
    });
    if crlf {
        raw
    } else {
        normalise_line_endings(&raw)
    }
}

/// Bare LF and bare CR become CRLF: what SMTP carries and DKIM signs.
pub fn normalise_line_endings(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 50);
    let mut rest = raw;
    // Copy the runs between line-ending bytes whole (found with SIMD).
    while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(b"\r\n");
        let crlf = rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n');
        rest = &rest[i + 1 + usize::from(crlf)..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings() {
        assert_eq!(normalise_line_endings(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
        assert_eq!(normalise_line_endings(b"\r\r\n\n\r"), b"\r\n\r\n\r\n\r\n");
        assert_eq!(normalise_line_endings(b"no ending"), b"no ending");
        assert_eq!(normalise_line_endings(b""), b"");
    }

    #[test]
    fn into_crlf_keeps_crlf_text_and_normalises_the_rest() {
        for raw in [
            &b"a\r\nb\r\n"[..],
            b"a\nb",
            b"a\rb\r\n",
            b"\r",
            b"\n",
            b"x\r\n\r",
            b"",
        ] {
            assert_eq!(
                into_crlf(raw.to_vec()),
                normalise_line_endings(raw),
                "{raw:?}"
            );
        }
    }
}
