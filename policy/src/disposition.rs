//! The one table from what happened to a recipient to what becomes of it:
//! its new state, the failure its event records, and the list it joins.
//! Delivery attempts (a reply, or a local error made into one) and reports
//! that come back later (DSN) both go through it, so a 5.1.1 means the same
//! whichever way it arrives.

use std::time::Duration;

use crate::delivery::{next_attempt, PermanentReason, Verdict};
use crate::events::Failure;
use crate::suppression::List;

/// A recipient's next state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Failed for good.
    Failed,
    /// Tried again after this long.
    RetryIn(Duration),
    /// As it was (a report of a temporary failure after delivery).
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disposition {
    pub next: Next,
    /// `None` for a delivery; the `failed` event's severity and reason.
    pub failure: Option<Failure>,
    /// The list the address joins.
    pub suppress: Option<List>,
}

fn permanent(reason: PermanentReason) -> Disposition {
    Disposition {
        next: Next::Failed,
        failure: Some(Failure::permanent(reason)),
        suppress: reason.suppresses().then_some(List::Bounce),
    }
}

/// What a delivery attempt's verdict means for the recipient, given how
/// many attempts it has had (this one included), the retry schedule, the
/// message's age and `max_age`: a temporary failure is retried until the
/// next try would come too late, then fails as `old`.
pub fn of_attempt(
    verdict: Verdict,
    attempt_no: u32,
    schedule: &[Duration],
    age: Duration,
    max_age: Duration,
) -> Disposition {
    match verdict {
        Verdict::Delivered => Disposition {
            next: Next::Delivered,
            failure: None,
            suppress: None,
        },
        Verdict::Temporary => match next_attempt(attempt_no, schedule, age, max_age) {
            Some(delay) => Disposition {
                next: Next::RetryIn(delay),
                failure: Some(Failure::TEMPORARY),
                suppress: None,
            },
            None => permanent(PermanentReason::Old),
        },
        Verdict::Permanent(reason) => permanent(reason),
    }
}

/// What a report that came back after delivery (RFC 3464) means: a
/// permanent failure is final (a bounce joins the list, a block of the
/// sender does not); a temporary one is recorded and changes nothing.
pub fn of_report(permanent_failure: bool, reason: PermanentReason) -> Disposition {
    if permanent_failure {
        permanent(reason)
    } else {
        Disposition {
            next: Next::Unchanged,
            failure: Some(Failure::TEMPORARY),
            suppress: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Reason, Severity};

    const S: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(300)];
    const DAY: Duration = Duration::from_secs(86_400);

    fn attempt(v: Verdict, n: u32, age: Duration) -> Disposition {
        of_attempt(v, n, &S, age, DAY)
    }

    #[test]
    fn a_delivery_is_delivered_with_no_failure() {
        let d = attempt(Verdict::Delivered, 1, Duration::ZERO);
        assert_eq!(
            (d.next, d.failure, d.suppress),
            (Next::Delivered, None, None)
        );
    }

    #[test]
    fn a_temporary_failure_is_retried_on_the_schedule() {
        assert_eq!(
            attempt(Verdict::Temporary, 1, Duration::ZERO).next,
            Next::RetryIn(S[0])
        );
        let d = attempt(Verdict::Temporary, 2, Duration::ZERO);
        assert_eq!(d.next, Next::RetryIn(S[1]));
        assert_eq!(d.failure, Some(Failure::TEMPORARY));
        assert_eq!(d.suppress, None);
        // The schedule's last entry repeats.
        assert_eq!(
            attempt(Verdict::Temporary, 9, Duration::ZERO).next,
            Next::RetryIn(S[1])
        );
    }

    #[test]
    fn a_temporary_failure_too_late_to_retry_fails_as_old() {
        let d = attempt(Verdict::Temporary, 3, DAY - Duration::from_secs(10));
        assert_eq!(d.next, Next::Failed);
        assert_eq!(
            d.failure.map(|f| (f.severity, f.reason)),
            Some((Severity::Permanent, Reason::Old))
        );
        assert_eq!(d.suppress, None);
    }

    #[test]
    fn a_bounce_fails_and_joins_the_bounce_list() {
        let d = attempt(
            Verdict::Permanent(PermanentReason::Bounce),
            1,
            Duration::ZERO,
        );
        assert_eq!(d.next, Next::Failed);
        assert_eq!(d.failure.map(|f| f.reason), Some(Reason::Bounce));
        assert_eq!(d.suppress, Some(List::Bounce));
    }

    #[test]
    fn a_block_of_the_sender_and_an_unreachable_domain_suppress_nothing() {
        for (r, reason) in [
            (PermanentReason::EspBlock, Reason::EspBlock),
            (PermanentReason::Generic, Reason::Generic),
        ] {
            let d = attempt(Verdict::Permanent(r), 1, Duration::ZERO);
            assert_eq!(
                (d.next, d.failure.map(|f| f.reason), d.suppress),
                (Next::Failed, Some(reason), None)
            );
        }
    }

    #[test]
    fn a_report_of_a_permanent_failure_is_final_and_a_temporary_one_changes_nothing() {
        let d = of_report(true, PermanentReason::Bounce);
        assert_eq!((d.next, d.suppress), (Next::Failed, Some(List::Bounce)));
        let d = of_report(true, PermanentReason::EspBlock);
        assert_eq!((d.next, d.suppress), (Next::Failed, None));
        let d = of_report(false, PermanentReason::Bounce);
        assert_eq!(
            (d.next, d.failure, d.suppress),
            (Next::Unchanged, Some(Failure::TEMPORARY), None)
        );
    }
}
