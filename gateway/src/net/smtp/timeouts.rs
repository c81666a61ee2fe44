//! How long each phase of a session may take.

use std::time::Duration;

/// How long each phase of a session may take: the reply to each command,
/// and each write (a server that stops reading cannot hold a delivery slot).
/// RFC 5321 §4.5.3.2's minimums; `[delivery]`'s `*_timeout` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub greeting: Duration,
    pub ehlo: Duration,
    /// The STARTTLS reply and the handshake.
    pub starttls: Duration,
    /// MAIL FROM (and RSET).
    pub mail: Duration,
    pub rcpt: Duration,
    /// The reply to DATA.
    pub data: Duration,
    /// Each write of the message's content.
    pub transfer: Duration,
    /// The reply to the final dot: the receiver may scan the message first.
    pub final_dot: Duration,
}
