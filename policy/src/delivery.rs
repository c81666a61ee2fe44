//! What an SMTP reply means for a recipient, and when to try again.

use std::time::Duration;

/// An enhanced status code (RFC 3463), e.g. 5.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedCode(pub u8, pub u16, pub u16);

impl std::fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl EnhancedCode {
    /// Reads `x.y.z` at the start of a reply text.
    pub fn parse_prefix(text: &str) -> Option<EnhancedCode> {
        let word = text.split_whitespace().next()?;
        let mut it = word.split('.');
        let class: u8 = it.next()?.parse().ok()?;
        let subject: u16 = it.next()?.parse().ok()?;
        let detail: u16 = it.next()?.parse().ok()?;
        if it.next().is_some() || !(2..=5).contains(&class) {
            return None;
        }
        Some(EnhancedCode(class, subject, detail))
    }
}

/// Why a recipient failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentReason {
    /// The receiver refused the address (5xx): it joins the bounce list.
    Bounce,
    /// The receiver blocked the sender, not the address: no suppression.
    EspBlock,
    /// Older than `max_age`.
    Old,
    /// No way to reach the domain (NXDOMAIN, null MX).
    Generic,
}

impl PermanentReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PermanentReason::Bounce => "bounce",
            PermanentReason::EspBlock => "espblock",
            PermanentReason::Old => "old",
            PermanentReason::Generic => "generic",
        }
    }

    /// Whether the address joins the domain's bounce list.
    pub fn suppresses(self) -> bool {
        self == PermanentReason::Bounce
    }
}

/// The verdict on one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Temporary,
    Permanent(PermanentReason),
}

/// Words receivers use when they reject the sending host rather than the
/// address ("blocked", "blacklisted", "listed at spamhaus", ...).
const SENDER_BLOCK_WORDS: [&str; 7] = [
    "blocked",
    "blacklist",
    "blocklist",
    "denylist",
    "listed",
    "spamhaus",
    "reputation",
];

/// Contract §3: 2xx delivered, 4xx retry, 5xx bounce unless it is a block of
/// the sender (5.7.x, or no enhanced code and a text naming a block).
pub fn classify(code: u16, enhanced: Option<EnhancedCode>, text: &str) -> Verdict {
    match code / 100 {
        2 => Verdict::Delivered,
        5 => {
            let block = match enhanced {
                Some(EnhancedCode(5, 7, _)) => true,
                Some(_) => false,
                None => {
                    let t = text.to_ascii_lowercase();
                    SENDER_BLOCK_WORDS.iter().any(|w| t.contains(w))
                }
            };
            Verdict::Permanent(if block {
                PermanentReason::EspBlock
            } else {
                PermanentReason::Bounce
            })
        }
        _ => Verdict::Temporary,
    }
}

/// After `attempts` failed tries, how long to wait before the next one: the
/// schedule's entry, its last one repeating.
pub fn retry_delay(attempts: u32, schedule: &[Duration]) -> Duration {
    let i = (attempts.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    schedule.get(i).copied().unwrap_or(Duration::from_secs(60))
}

/// `Some(delay)` to try again, or `None` when the next try would come after
/// the message's `max_age` (it then fails permanently, reason `old`).
pub fn next_attempt(
    attempts: u32,
    schedule: &[Duration],
    age: Duration,
    max_age: Duration,
) -> Option<Duration> {
    let delay = retry_delay(attempts, schedule);
    (age + delay <= max_age).then_some(delay)
}

/// The longest a destination is held after its MX hosts refused connections.
pub const MAX_HOLD: Duration = Duration::from_secs(300);

/// How long a destination none of whose MX hosts could be connected to is
/// held (its due recipients deferred without connecting or signing, as
/// Postfix's "delivery temporarily suspended"), after `failures` such
/// attempts in a row: doubling from `base` up to `MAX_HOLD`. `base` is the
/// first retry of the schedule, at most 10 s, so that a destination that
/// comes back is tried again soon.
pub fn unreachable_hold(failures: u32, schedule: &[Duration]) -> Duration {
    let base = schedule
        .first()
        .copied()
        .unwrap_or(Duration::from_secs(10))
        .min(Duration::from_secs(10));
    let doublings = failures.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_HOLD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundreds_are_delivered() {
        assert_eq!(classify(250, None, "ok"), Verdict::Delivered);
    }

    #[test]
    fn four_hundreds_are_retried() {
        assert_eq!(
            classify(
                451,
                EnhancedCode::parse_prefix("4.7.1 try later"),
                "4.7.1 try later"
            ),
            Verdict::Temporary
        );
    }

    #[test]
    fn unknown_user_is_a_bounce() {
        let t = "5.1.1 <x@example.org>: user unknown";
        assert_eq!(
            classify(550, EnhancedCode::parse_prefix(t), t),
            Verdict::Permanent(PermanentReason::Bounce)
        );
    }

    #[test]
    fn policy_rejection_is_an_esp_block() {
        let t = "5.7.1 Service unavailable; client host blocked";
        assert_eq!(
            classify(554, EnhancedCode::parse_prefix(t), t),
            Verdict::Permanent(PermanentReason::EspBlock)
        );
    }

    #[test]
    fn block_named_without_enhanced_code_is_an_esp_block() {
        assert_eq!(
            classify(554, None, "Your IP 192.0.2.1 is listed at zen.spamhaus.org"),
            Verdict::Permanent(PermanentReason::EspBlock)
        );
        assert_eq!(
            classify(550, None, "No such user here"),
            Verdict::Permanent(PermanentReason::Bounce)
        );
    }

    #[test]
    fn enhanced_code_other_than_5_7_is_a_bounce_even_if_text_says_blocked() {
        let t = "5.2.1 mailbox blocked";
        assert_eq!(
            classify(550, EnhancedCode::parse_prefix(t), t),
            Verdict::Permanent(PermanentReason::Bounce)
        );
    }

    #[test]
    fn retry_schedule_last_entry_repeats() {
        let s = [Duration::from_secs(60), Duration::from_secs(300)];
        assert_eq!(retry_delay(1, &s), Duration::from_secs(60));
        assert_eq!(retry_delay(2, &s), Duration::from_secs(300));
        assert_eq!(retry_delay(9, &s), Duration::from_secs(300));
    }

    #[test]
    fn past_max_age_gives_up() {
        let s = [Duration::from_secs(60)];
        let max = Duration::from_secs(600);
        assert_eq!(
            next_attempt(1, &s, Duration::from_secs(100), max),
            Some(Duration::from_secs(60))
        );
        assert_eq!(next_attempt(1, &s, Duration::from_secs(590), max), None);
    }

    #[test]
    fn parses_enhanced_codes() {
        assert_eq!(
            EnhancedCode::parse_prefix("5.1.1 nope"),
            Some(EnhancedCode(5, 1, 1))
        );
        assert_eq!(EnhancedCode::parse_prefix("nope 5.1.1"), None);
        assert_eq!(EnhancedCode::parse_prefix("1.2.3 x"), None);
    }

    #[test]
    fn an_unreachable_destination_is_held_longer_each_time() {
        let schedule = [Duration::from_secs(60), Duration::from_secs(300)];
        assert_eq!(unreachable_hold(1, &schedule), Duration::from_secs(10));
        assert_eq!(unreachable_hold(2, &schedule), Duration::from_secs(20));
        assert_eq!(unreachable_hold(4, &schedule), Duration::from_secs(80));
        assert_eq!(unreachable_hold(9, &schedule), MAX_HOLD);
        assert_eq!(unreachable_hold(u32::MAX, &schedule), MAX_HOLD);
        // It starts at the first retry when that is shorter.
        let quick = [Duration::from_secs(1)];
        assert_eq!(unreachable_hold(1, &quick), Duration::from_secs(1));
        assert_eq!(unreachable_hold(3, &quick), Duration::from_secs(4));
    }
}
