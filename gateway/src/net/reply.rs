//! One SMTP reply type, for what envoi's servers say and what MXs answer
//! envoi's client: a code, the enhanced status code (RFC 3463, one type:
//! `policy::delivery::EnhancedCode`) and the text, line by line.

use std::fmt::Write;

pub use policy::delivery::EnhancedCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    /// Each line's text, without the code or the enhanced code.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(
        code: u16,
        enhanced: impl Into<Option<EnhancedCode>>,
        text: impl Into<String>,
    ) -> Reply {
        Reply {
            code,
            enhanced: enhanced.into(),
            lines: vec![text.into()],
        }
    }

    /// 2xx and 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The lines' text, joined by a space, without any code (borrowed for
    /// the usual one-line reply: this runs for every recipient delivered).
    pub fn message(&self) -> std::borrow::Cow<'_, str> {
        match self.lines.as_slice() {
            [one] => std::borrow::Cow::Borrowed(one.as_str()),
            lines => std::borrow::Cow::Owned(lines.join(" ")),
        }
    }

    /// The text as the server wrote it after the code: the enhanced code,
    /// if any, then the message.
    pub fn text(&self) -> String {
        match self.enhanced {
            Some(e) => format!("{e} {}", self.message()),
            None => self.message().into_owned(),
        }
    }

    /// A reply as smtp-proto read it off the wire (lines joined by LF).
    pub fn from_wire(r: smtp_proto::Response<String>) -> Reply {
        let [class, subject, detail] = r.esc;
        Reply {
            code: r.code,
            enhanced: (matches!(class, 2 | 4 | 5))
                .then(|| EnhancedCode(class, subject.into(), detail.into())),
            lines: r.message.split('\n').map(str::to_string).collect(),
        }
    }

    /// On the wire: `250-` for every line but the last, CRLF after each.
    /// Text is stripped of CR/LF so nothing a client sent can forge a line.
    /// EHLO keywords (250 lines after the first) carry no enhanced code.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let sep = if i + 1 == n { ' ' } else { '-' };
            let text: String = self
                .lines
                .get(i)
                .map(|l| l.chars().filter(|c| *c != '\r' && *c != '\n').collect())
                .unwrap_or_default();
            match self.enhanced {
                Some(e) if !(i > 0 && self.code == 250) => {
                    let _ = write!(s, "{}{sep}{e} {text}\r\n", self.code);
                }
                _ => {
                    let _ = write!(s, "{}{sep}{text}\r\n", self.code);
                }
            }
        }
        out.extend_from_slice(s.as_bytes());
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(wire: &str) -> Reply {
        let mut it = wire.as_bytes().iter();
        Reply::from_wire(
            smtp_proto::response::parser::ResponseReceiver::default()
                .parse(&mut it)
                .unwrap(),
        )
    }

    #[test]
    fn a_reply_read_keeps_its_code_enhanced_code_and_lines() {
        let r = read("550-5.1.1 no such user\r\n550 5.1.1 see the docs\r\n");
        assert_eq!(r.code, 550);
        assert_eq!(r.enhanced, Some(EnhancedCode(5, 1, 1)));
        assert_eq!(r.lines, ["no such user", "see the docs"]);
        assert_eq!(r.text(), "5.1.1 no such user see the docs");
        assert_eq!(r.to_string(), "550 5.1.1 no such user see the docs");
    }

    #[test]
    fn a_reply_without_an_enhanced_code_has_none() {
        let r = read("220 mx.example ESMTP ready\r\n");
        assert_eq!((r.code, r.enhanced), (220, None));
        assert_eq!(r.message(), "mx.example ESMTP ready");
    }

    #[test]
    fn a_reply_written_reads_back_the_same() {
        let r = Reply {
            code: 452,
            enhanced: Some(EnhancedCode(4, 5, 3)),
            lines: vec!["too many".into(), "recipients".into()],
        };
        let mut out = Vec::new();
        r.write_to(&mut out);
        assert_eq!(out, b"452-4.5.3 too many\r\n452 4.5.3 recipients\r\n");
        assert_eq!(read(std::str::from_utf8(&out).unwrap()), r);
    }
}
