//! DMARC aggregate reports and SMTP TLS reports as they arrive at a `rua`
//! address: a mail with the report attached (any MIME shape), or the
//! report bare; XML or JSON, plain, gzip or zip. Pure reading: no I/O.
//! A report that cannot be read whole is refused with what is wrong.

pub mod aggregate;
pub mod tlsrpt;

use std::io::Read;

use mail_parser::{MessageParser, MimeHeaders, PartType};

pub use aggregate::Aggregate;
pub use tlsrpt::TlsReport;

#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Aggregate(Aggregate),
    Tls(TlsReport),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("no DMARC aggregate or SMTP TLS report found: {0}")]
    NotAReport(String),
    #[error("the report cannot be read: {0}")]
    Invalid(String),
    #[error("the report unpacks to more than {} MiB", MAX_UNPACKED >> 20)]
    TooLarge,
}

/// Bytes a compressed report may unpack to: a real one is kilobytes; this
/// stops a compression bomb.
const MAX_UNPACKED: u64 = 32 << 20;
/// Mail in zip in gzip...: deeper is not a report.
const MAX_DEPTH: usize = 4;

/// The report in `bytes`, whatever its wrapping.
pub fn read(bytes: &[u8]) -> Result<Report, ReportError> {
    read_at(bytes, 0)
}

fn read_at(bytes: &[u8], depth: usize) -> Result<Report, ReportError> {
    if depth > MAX_DEPTH {
        return Err(ReportError::Invalid("wrapped too many times".into()));
    }
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = start.trim_ascii_start();
    match start {
        [0x1f, 0x8b, ..] => read_at(&gunzip(bytes)?, depth + 1),
        [b'P', b'K', 3, 4, ..] => read_at(&unzip(bytes)?, depth + 1),
        [b'<', ..] => aggregate::parse(start).map(Report::Aggregate),
        [b'{', ..] => tlsrpt::parse(start).map(Report::Tls),
        _ => from_mail(bytes, depth),
    }
}

/// The first attachment (or body) that reads as a report.
fn from_mail(bytes: &[u8], depth: usize) -> Result<Report, ReportError> {
    let msg = MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| ReportError::NotAReport("the message is empty".into()))?;
    let mut failure = None;
    for part in &msg.parts {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let contents = part.contents();
        if !looks_like_report(part, contents) {
            continue;
        }
        match read_at(contents, depth + 1) {
            Ok(r) => return Ok(r),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| {
        ReportError::NotAReport(
            "nothing attached is XML, JSON, gzip or zip (application/gzip, application/zip, text/xml, application/tlsrpt+gzip)".into(),
        )
    }))
}

/// A part worth reading: its type or file name says report, or its bytes do.
fn looks_like_report(part: &mail_parser::MessagePart<'_>, contents: &[u8]) -> bool {
    let typed = part.content_type().is_some_and(|ct| {
        let sub = ct.subtype().unwrap_or("").to_ascii_lowercase();
        match ct.ctype().to_ascii_lowercase().as_str() {
            "application" => [
                "gzip",
                "x-gzip",
                "zip",
                "x-zip-compressed",
                "x-zip",
                "xml",
                "json",
                "tlsrpt+gzip",
                "tlsrpt+json",
                "octet-stream",
            ]
            .contains(&sub.as_str()),
            "text" => sub == "xml",
            _ => false,
        }
    });
    let named = part.attachment_name().is_some_and(|n| {
        let n = n.to_ascii_lowercase();
        [".xml", ".gz", ".zip", ".json"]
            .iter()
            .any(|ext| n.ends_with(ext))
    });
    let start = contents.trim_ascii_start();
    typed
        || named
        || start.starts_with(b"<?xml")
        || start.starts_with(b"<feedback")
        || start.starts_with(b"{")
}

/// One gzip member. Bytes after it are ignored; a member cut short is kept
/// as far as it goes (the XML then says whether it is whole).
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(bytes)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut out);
    if out.len() as u64 > MAX_UNPACKED {
        return Err(ReportError::TooLarge);
    }
    match read {
        Ok(_) => Ok(out),
        Err(_) if !out.is_empty() => Ok(out),
        Err(e) => Err(ReportError::Invalid(format!("gzip: {e}"))),
    }
}

/// The first XML or JSON file of a zip archive (else its first file).
fn unzip(bytes: &[u8]) -> Result<Vec<u8>, ReportError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ReportError::Invalid(format!("zip: {e}")))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let name = names
        .iter()
        .find(|n| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".xml") || n.ends_with(".json")
        })
        .or(names.first())
        .ok_or_else(|| ReportError::Invalid("zip: the archive is empty".into()))?;
    let file = zip
        .by_name(name)
        .map_err(|e| ReportError::Invalid(format!("zip: {name}: {e}")))?;
    let mut out = Vec::new();
    file.take(MAX_UNPACKED + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReportError::Invalid(format!("zip: {name}: {e}")))?;
    if out.len() as u64 > MAX_UNPACKED {
        return Err(ReportError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>r.test</org_name><email>a@r.test</email><report_id>7</report_id><date_range><begin>1</begin><end>2</end></date_range></report_metadata><policy_published><domain>Shop.test</domain><p>none</p></policy_published><record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>shop.test</header_from></identifiers></record></feedback>";

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn bare_xml_is_read() {
        let Report::Aggregate(a) = read(XML.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!((a.org.as_str(), a.report_id.as_str()), ("r.test", "7"));
        assert_eq!(a.domain, "shop.test");
        assert_eq!((a.messages(), a.passing(|r| r.dmarc_pass())), (3, 3));
    }

    #[test]
    fn gzip_with_trailing_bytes_is_read_up_to_its_end() {
        let mut data = gz(XML.as_bytes());
        data.extend_from_slice(b"\0\0garbage");
        assert!(matches!(read(&data), Ok(Report::Aggregate(_))));
    }

    #[test]
    fn a_truncated_report_is_refused_naming_the_problem() {
        let cut = &XML.as_bytes()[..XML.len() - 40];
        let e = read(&gz(cut)).unwrap_err();
        assert!(matches!(e, ReportError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("XML"), "{e}");
    }

    #[test]
    fn invalid_utf8_in_free_text_does_not_lose_the_report() {
        let bad = XML.replace("r.test</org_name>", "r\u{FFFD}.test</org_name>");
        let mut bytes = bad.into_bytes();
        let at = bytes
            .windows(3)
            .position(|w| w == "\u{FFFD}".as_bytes())
            .unwrap();
        bytes.splice(at..at + 3, [0xff]);
        let Report::Aggregate(a) = read(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(a.messages(), 3);
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        let big = vec![b' '; (MAX_UNPACKED + 10) as usize];
        assert_eq!(read(&gz(&big)), Err(ReportError::TooLarge));
    }

    #[test]
    fn a_mail_without_a_report_says_so() {
        let e = read(b"From: a@b.test\r\nSubject: hi\r\n\r\nhello\r\n").unwrap_err();
        assert!(matches!(e, ReportError::NotAReport(_)), "{e}");
    }
}
