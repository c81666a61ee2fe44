//! Dot-stuffing without copying the message.

/// The message as DATA sends it, in pieces: a line that starts with "."
/// gets one more (RFC 5321 §4.5.2). Only "\n." needs looking at (a SIMD
/// search); the runs between are passed on whole, never copied.
pub(super) fn dot_stuffed<'a>(parts: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at_line_start = true;
    for part in parts.iter().filter(|p| !p.is_empty()) {
        if at_line_start && part[0] == b'.' {
            out.push(&b"."[..]);
        }
        let mut rest: &'a [u8] = part;
        while let Some(i) = memchr::memmem::find(rest, b"\n.") {
            out.push(&rest[..=i]);
            out.push(&b"."[..]);
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            out.push(rest);
        }
        at_line_start = part[part.len() - 1] == b'\n';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dot_stuffed;

    fn sent(parts: &[&[u8]]) -> Vec<u8> {
        dot_stuffed(parts).concat()
    }

    #[test]
    fn lines_starting_with_a_dot_get_another() {
        assert_eq!(
            sent(&[b"a\r\n.b\r\n..c\r\nd.e\r\n"]),
            b"a\r\n..b\r\n...c\r\nd.e\r\n"
        );
        assert_eq!(sent(&[b".first\r\n.\r\n"]), b"..first\r\n..\r\n");
    }

    #[test]
    fn a_dot_after_a_part_boundary_is_stuffed_too() {
        assert_eq!(
            sent(&[b"List-Unsubscribe: x\r\n", b".hidden\r\n"]),
            b"List-Unsubscribe: x\r\n..hidden\r\n"
        );
        assert_eq!(
            sent(&[b"no newline", b".not a line start"]),
            b"no newline.not a line start"
        );
        assert_eq!(sent(&[b"", b".x", b""]), b"..x");
    }
}
