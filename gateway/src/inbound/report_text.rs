//! Plain-text bounces, read as a person would: the addresses in the
//! explanation, the status code nearest each, and words that say "not yet".

use super::report::Failure;
use policy::delivery::EnhancedCode;

/// The first enhanced status code in `text` (`5.1.1`, `4.2.2`).
pub(super) fn enhanced_code(text: &str) -> Option<EnhancedCode> {
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
            return EnhancedCode::parse_prefix(&format!("{c}.{s}.{d}"));
        }
    }
    None
}

/// Words of a bounce that mean "not yet / not for good".
pub(super) fn sounds_temporary(text: &str) -> bool {
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

/// The explanation part of a text bounce: from its start to where the
/// returned message begins, when it is quoted in the same text.
fn explanation(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for l in text.lines() {
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
        out.push(l);
    }
    out
}

/// Failed recipients read from a text bounce: addresses in the explanation,
/// except those of a quoted header line and of the reporting system.
pub(super) fn text_failures(text: &str) -> Vec<Failure> {
    let part = explanation(text);
    let text = part.join("\n");
    let temporary = sounds_temporary(&text);
    let mut found: Vec<(String, Option<EnhancedCode>)> = Vec::new();
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
        .map(|(a, code)| Failure::new(a, code.or(fallback), temporary))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_found_in_text() {
        assert_eq!(
            enhanced_code("550 5.1.1 <a@b.c>... User Unknown"),
            Some(EnhancedCode(5, 1, 1))
        );
        assert_eq!(enhanced_code("(#5.5.0)"), Some(EnhancedCode(5, 5, 0)));
        assert_eq!(enhanced_code("version 10.4.5.1 of x"), None);
        assert_eq!(enhanced_code("no code"), None);
    }
}
