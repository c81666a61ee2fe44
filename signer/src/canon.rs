//! RFC 6376 §3.4 canonicalisation. The body is fed to a hasher line by line,
//! straight from the message bytes: nothing is copied but a count of pending
//! empty lines and, in relaxed mode, a line that canonicalisation changes.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Canon {
    Simple,
    #[default]
    Relaxed,
}

impl Canon {
    pub fn as_str(self) -> &'static str {
        match self {
            Canon::Simple => "simple",
            Canon::Relaxed => "relaxed",
        }
    }
}

/// `c=` header/body pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Canonicalization {
    pub header: Canon,
    pub body: Canon,
}

impl Canonicalization {
    pub fn tag(self) -> String {
        format!("{}/{}", self.header.as_str(), self.body.as_str())
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Lines of `data` without their terminator (`\r\n` or a bare `\n`). A last
/// line without a terminator is still a line; a trailing terminator does not
/// start an empty one.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// SHA-256 of the canonicalised body (`bh=`).
pub fn body_hash(body: &[u8], canon: Canon) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut pending_empty = 0usize;
    let mut wrote_any = false;
    let mut buf = Vec::new();
    for line in lines(body) {
        let line: &[u8] = match canon {
            Canon::Simple => line,
            Canon::Relaxed => relax_line(line, &mut buf),
        };
        if line.is_empty() {
            pending_empty += 1;
            continue;
        }
        for _ in 0..pending_empty {
            h.update(b"\r\n");
        }
        pending_empty = 0;
        h.update(line);
        h.update(b"\r\n");
        wrote_any = true;
    }
    // Simple: an empty body is one CRLF. Relaxed: it is nothing at all.
    if !wrote_any && canon == Canon::Simple {
        h.update(b"\r\n");
    }
    h.finalize().into()
}

/// Relaxed body line: runs of WSP become one SP, WSP at the end goes.
/// Most lines are already relaxed (single spaces between words): those are
/// found with SIMD scans and hashed in place; only the others are rebuilt.
fn relax_line<'a>(line: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
    let already = memchr::memchr(b'\t', line).is_none()
        && memchr::memmem::find(line, b"  ").is_none()
        && line.last() != Some(&b' ');
    if already {
        return line;
    }
    out.clear();
    let mut in_wsp = false;
    for &b in line {
        if is_wsp(b) {
            in_wsp = true;
        } else {
            if in_wsp {
                out.push(b' ');
                in_wsp = false;
            }
            out.push(b);
        }
    }
    out
}

/// One header field as it appears in the message, terminator included.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub raw: &'a [u8],
}

/// Splits a message into its header fields and its body (after the empty
/// line). A message without an empty line is all header and no body.
pub fn split_message(msg: &[u8]) -> (Vec<Field<'_>>, &[u8]) {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    while pos < msg.len() {
        let end = msg[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |i| pos + i + 1);
        let line = &msg[pos..end];
        if line == b"\r\n" || line == b"\n" {
            return (fields, &msg[end..]);
        }
        if is_wsp(line[0]) {
            // Continuation of the previous field (or stray whitespace at the top).
            if let Some(last) = fields.last_mut() {
                let start = last.raw.as_ptr() as usize - msg.as_ptr() as usize;
                last.raw = &msg[start..end];
            }
        } else {
            let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            let mut name = &line[..colon];
            while name.last().is_some_and(|&b| is_wsp(b)) {
                name = &name[..name.len() - 1];
            }
            fields.push(Field { name, raw: line });
        }
        pos = end;
    }
    (fields, &msg[msg.len()..])
}

/// Appends a canonicalised header field to `out`, with its CRLF.
pub fn header(field: &[u8], canon: Canon, out: &mut Vec<u8>) {
    match canon {
        Canon::Simple => {
            // Sent as CRLF lines, so signed as CRLF lines.
            for (i, line) in lines(field).enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(line);
            }
            out.extend_from_slice(b"\r\n");
        }
        Canon::Relaxed => {
            let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
            let name = &field[..colon];
            let trimmed_len = name.len() - name.iter().rev().take_while(|&&b| is_wsp(b)).count();
            out.extend(name[..trimmed_len].iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            let value = field.get(colon + 1..).unwrap_or_default();
            let mut in_wsp = false;
            let mut started = false;
            for &b in value {
                match b {
                    b'\r' | b'\n' => {}
                    b' ' | b'\t' => in_wsp = true,
                    _ => {
                        if in_wsp && started {
                            out.push(b' ');
                        }
                        in_wsp = false;
                        started = true;
                        out.push(b);
                    }
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn bh(body: &[u8], c: Canon) -> String {
        base64::engine::general_purpose::STANDARD.encode(body_hash(body, c))
    }

    #[test]
    fn empty_body_hashes_per_rfc_6376() {
        // RFC 6376 §3.4.3 / §3.4.4: simple empty body is CRLF, relaxed is "".
        assert_eq!(
            bh(b"", Canon::Simple),
            "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY="
        );
        assert_eq!(
            bh(b"", Canon::Relaxed),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn relaxed_lines_are_rebuilt_only_when_they_change() {
        let mut buf = Vec::new();
        for (line, relaxed, in_place) in [
            (
                &b"Thank you for your order."[..],
                &b"Thank you for your order."[..],
                true,
            ),
            (b" leading single space", b" leading single space", true),
            (b"", b"", true),
            (b"two  spaces", b"two spaces", false),
            (b"a\ttab", b"a tab", false),
            (b"  \t lead and trail \t ", b" lead and trail", false),
            (b" ", b"", false),
        ] {
            let got = relax_line(line, &mut buf);
            assert_eq!(got, relaxed, "{:?}", String::from_utf8_lossy(line));
            assert_eq!(got.as_ptr() == line.as_ptr(), in_place, "{line:?}");
        }
    }

    #[test]
    fn rfc_6376_body_example() {
        // §3.4.5: " C \r\nD \t E\r\n\r\n\r\n" → relaxed " C\r\nD E\r\n".
        let body = b" C \r\nD \t E\r\n\r\n\r\n";
        let expect = Sha256::digest(b" C\r\nD E\r\n");
        assert_eq!(body_hash(body, Canon::Relaxed), <[u8; 32]>::from(expect));
        let expect = Sha256::digest(b" C \r\nD \t E\r\n");
        assert_eq!(body_hash(body, Canon::Simple), <[u8; 32]>::from(expect));
    }

    #[test]
    fn bare_lf_and_missing_final_crlf_hash_like_crlf() {
        for c in [Canon::Simple, Canon::Relaxed] {
            assert_eq!(body_hash(b"a\nb\n", c), body_hash(b"a\r\nb\r\n", c));
            assert_eq!(body_hash(b"a\r\nb", c), body_hash(b"a\r\nb\r\n", c));
        }
    }

    #[test]
    fn rfc_6376_header_example() {
        let mut out = Vec::new();
        header(b"A: X\r\n", Canon::Relaxed, &mut out);
        header(b"B : Y\t\r\n\tZ  \r\n", Canon::Relaxed, &mut out);
        assert_eq!(out, b"a:X\r\nb:Y Z\r\n");
    }

    #[test]
    fn splits_folded_headers_and_body() {
        let msg = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\n\r\nbody\r\n";
        let (fields, body) = split_message(msg);
        let names: Vec<_> = fields.iter().map(|f| f.name).collect();
        assert_eq!(names, [&b"From"[..], b"Subject", b"To"]);
        assert_eq!(fields[1].raw, b"Subject: one\r\n two\r\n");
        assert_eq!(body, b"body\r\n");
    }
}
