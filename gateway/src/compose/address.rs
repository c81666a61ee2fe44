//! Address lists as senders write them: `a@x.com`, `Name <a@x.com>`,
//! `"Last, First" <a@x.com>`, comma-separated or repeated.

use super::ComposeError;
pub use crate::net::mailbox::valid as valid_addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub addr: String,
}

impl Mailbox {
    pub fn domain(&self) -> &str {
        self.addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The address for comparisons and suppression lists.
    pub fn key(&self) -> String {
        self.addr.to_lowercase()
    }
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(
                f,
                "\"{}\" <{}>",
                n.replace('\\', "\\\\").replace('"', "\\\""),
                self.addr
            ),
            None => f.write_str(&self.addr),
        }
    }
}

/// Split on commas that are outside quotes and angle brackets.
fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' | ';' if !quoted && !angle => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

pub fn parse_mailbox(field: &'static str, item: &str) -> Result<Mailbox, ComposeError> {
    let invalid = || ComposeError::InvalidAddress {
        field,
        value: item.to_string(),
    };
    let item = item.trim();
    let (name, addr) = match (item.rfind('<'), item.ends_with('>')) {
        (Some(open), true) => {
            let name = item[..open].trim();
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .unwrap_or(name);
            let name = name.replace("\\\"", "\"").replace("\\\\", "\\");
            (
                Some(name).filter(|n| !n.is_empty()),
                item[open + 1..item.len() - 1].trim(),
            )
        }
        (None, false) => (None, item),
        _ => return Err(invalid()),
    };
    if !valid_addr(addr) {
        return Err(invalid());
    }
    if name
        .as_deref()
        .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err(invalid());
    }
    Ok(Mailbox {
        name,
        addr: addr.to_string(),
    })
}

/// Every value of a field, each a list: `to=a&to=b` and `to=a,b` alike.
pub fn parse_list<'a>(
    field: &'static str,
    values: impl Iterator<Item = &'a str>,
) -> Result<Vec<Mailbox>, ComposeError> {
    let mut out = Vec::new();
    for v in values {
        for item in split_list(v) {
            out.push(parse_mailbox(field, item)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_named_and_quoted() {
        let l = parse_list(
            "to",
            ["a@x.com, Bob <b@y.org>", "\"Last, First\" <c@z.net>"].into_iter(),
        )
        .unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1].name.as_deref(), Some("Bob"));
        assert_eq!(l[2].name.as_deref(), Some("Last, First"));
        assert_eq!(l[2].addr, "c@z.net");
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "nobody",
            "a@b",
            "a@@b.com",
            "<a@b.com",
            "a b@c.com",
            "a@-b.com",
            ".a@b.com",
            "a@b.com\r\nBcc: x@y.com",
        ] {
            assert!(parse_mailbox("to", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utf8_addresses_are_allowed() {
        assert!(valid_addr("josé@exemple.fr"));
        assert!(valid_addr("a+tag@mail.example.co.uk"));
    }
}
