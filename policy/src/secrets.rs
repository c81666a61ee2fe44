//! Whether a presented secret (an API key, an SMTP password) is good now.
//! A rotated secret keeps working through its grace period; after that it is
//! refused as *rotated*, not merely wrong, so the client's operator learns why.
//! Times are microseconds since the epoch, as stored.

/// Which stored hash the presented secret matched (the caller compares in
/// constant time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Current,
    /// The secret replaced by the last rotation.
    Previous,
    Neither,
}

/// What is known of a stored secret besides its hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// The key stops working at this time (set at creation).
    pub expires_at: Option<i64>,
    /// The previous secret works until this time.
    pub previous_valid_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Wrong,
    Expired {
        at: i64,
    },
    /// The previous secret, after its grace period ended at `at`.
    Rotated {
        at: i64,
    },
}

pub fn check(matched: Matched, life: Lifetime, now: i64) -> Result<(), Refusal> {
    if let Some(at) = life.expires_at.filter(|&at| at <= now) {
        return match matched {
            Matched::Neither => Err(Refusal::Wrong),
            _ => Err(Refusal::Expired { at }),
        };
    }
    match (matched, life.previous_valid_until) {
        (Matched::Current, _) => Ok(()),
        (Matched::Previous, Some(until)) if now < until => Ok(()),
        (Matched::Previous, Some(until)) => Err(Refusal::Rotated { at: until }),
        (Matched::Previous, None) | (Matched::Neither, _) => Err(Refusal::Wrong),
    }
}

/// When a secret replaced now with `grace` stops working: a zero grace means
/// at once.
pub fn grace_end(now: i64, grace_micros: i64) -> i64 {
    now.saturating_add(grace_micros.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn rotated(until: i64) -> Lifetime {
        Lifetime {
            expires_at: None,
            previous_valid_until: Some(until),
        }
    }

    #[test]
    fn the_current_secret_works() {
        assert_eq!(check(Matched::Current, Lifetime::default(), NOW), Ok(()));
        assert_eq!(check(Matched::Current, rotated(NOW - 1), NOW), Ok(()));
    }

    #[test]
    fn the_previous_secret_works_during_its_grace_only() {
        assert_eq!(check(Matched::Previous, rotated(NOW + 1), NOW), Ok(()));
        assert_eq!(
            check(Matched::Previous, rotated(NOW), NOW),
            Err(Refusal::Rotated { at: NOW })
        );
    }

    #[test]
    fn a_zero_grace_ends_at_once() {
        let until = grace_end(NOW, 0);
        assert_eq!(
            check(Matched::Previous, rotated(until), NOW),
            Err(Refusal::Rotated { at: NOW })
        );
    }

    #[test]
    fn an_expired_key_fails_whichever_secret() {
        let life = Lifetime {
            expires_at: Some(NOW),
            previous_valid_until: Some(NOW + 10),
        };
        assert_eq!(
            check(Matched::Current, life, NOW),
            Err(Refusal::Expired { at: NOW })
        );
        assert_eq!(
            check(Matched::Previous, life, NOW),
            Err(Refusal::Expired { at: NOW })
        );
        assert_eq!(check(Matched::Neither, life, NOW), Err(Refusal::Wrong));
    }

    #[test]
    fn a_wrong_secret_says_nothing_more() {
        assert_eq!(
            check(Matched::Neither, rotated(NOW + 10), NOW),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check(Matched::Previous, Lifetime::default(), NOW),
            Err(Refusal::Wrong)
        );
    }
}
