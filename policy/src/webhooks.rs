//! Webhooks: which events a kind of webhook is told of, and what to do after
//! the receiver answered (Mailgun's rules: 2xx is done, 406 refuses for
//! good, anything else is retried on a schedule, then given up).

use std::time::Duration;

use crate::events::{EventKind, Severity};

/// The webhook ids a domain can set (Mailgun's, plus envoi's `warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Accepted,
    Delivered,
    PermanentFail,
    TemporaryFail,
    Complained,
    Unsubscribed,
    /// The domain's acceptable-use state got worse (warning or suspended).
    Warning,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Accepted,
        Kind::Delivered,
        Kind::PermanentFail,
        Kind::TemporaryFail,
        Kind::Complained,
        Kind::Unsubscribed,
        Kind::Warning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Accepted => "accepted",
            Kind::Delivered => "delivered",
            Kind::PermanentFail => "permanent_fail",
            Kind::TemporaryFail => "temporary_fail",
            Kind::Complained => "complained",
            Kind::Unsubscribed => "unsubscribed",
            Kind::Warning => "warning",
        }
    }

    pub fn parse(id: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == id)
    }

    /// The webhook an event goes to: `failed` splits by its severity. A
    /// failure without one is a damaged row, named as such (never quietly
    /// no webhook).
    pub fn of_event(event: EventKind, severity: Option<Severity>) -> Result<Kind, String> {
        match (event, severity) {
            (EventKind::Accepted, _) => Ok(Kind::Accepted),
            (EventKind::Delivered, _) => Ok(Kind::Delivered),
            (EventKind::Failed, Some(Severity::Permanent)) => Ok(Kind::PermanentFail),
            (EventKind::Failed, Some(Severity::Temporary)) => Ok(Kind::TemporaryFail),
            (EventKind::Failed, None) => Err("field severity: a failure without one".into()),
            (EventKind::Complained, _) => Ok(Kind::Complained),
            (EventKind::Unsubscribed, _) => Ok(Kind::Unsubscribed),
            (EventKind::Warning, _) => Ok(Kind::Warning),
        }
    }
}

/// At most this many URLs per webhook, as Mailgun.
pub const MAX_URLS: usize = 3;

/// How a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this HTTP status.
    Status(u16),
    /// No answer: connection refused, TLS failure, timeout.
    Unreachable,
}

/// What to do with a call after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// 2xx: the receiver has it.
    Done,
    /// 406: the receiver refuses it; never retried.
    Refused,
    /// Try again after this long.
    RetryIn(Duration),
    /// Every retry of the schedule was used.
    GaveUp,
}

/// After attempt number `attempt` (1 for the first call) got `answer`:
/// the `schedule` lists the waits before each retry.
pub fn after(answer: Answer, attempt: u32, schedule: &[Duration]) -> Next {
    match answer {
        Answer::Status(s) if (200..300).contains(&s) => Next::Done,
        Answer::Status(406) => Next::Refused,
        _ => match schedule.get(attempt.saturating_sub(1) as usize) {
            Some(&wait) => Next::RetryIn(wait),
            None => Next::GaveUp,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: [Duration; 2] = [Duration::from_secs(300), Duration::from_secs(600)];

    #[test]
    fn ids_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("opened"), None);
    }

    #[test]
    fn failed_events_split_by_severity() {
        assert_eq!(
            Kind::of_event(EventKind::Failed, Some(Severity::Permanent)),
            Ok(Kind::PermanentFail)
        );
        assert_eq!(
            Kind::of_event(EventKind::Failed, Some(Severity::Temporary)),
            Ok(Kind::TemporaryFail)
        );
        assert_eq!(Kind::of_event(EventKind::Warning, None), Ok(Kind::Warning));
    }

    #[test]
    fn a_failure_without_severity_is_an_error_naming_the_field() {
        let e = Kind::of_event(EventKind::Failed, None).unwrap_err();
        assert!(e.contains("severity"), "{e}");
    }

    #[test]
    fn success_is_done_and_406_refuses() {
        assert_eq!(after(Answer::Status(200), 1, &S), Next::Done);
        assert_eq!(after(Answer::Status(204), 3, &S), Next::Done);
        assert_eq!(after(Answer::Status(406), 1, &S), Next::Refused);
    }

    #[test]
    fn other_failures_follow_the_schedule_then_give_up() {
        assert_eq!(after(Answer::Status(500), 1, &S), Next::RetryIn(S[0]));
        assert_eq!(after(Answer::Unreachable, 2, &S), Next::RetryIn(S[1]));
        assert_eq!(after(Answer::Status(404), 3, &S), Next::GaveUp);
        assert_eq!(after(Answer::Status(500), 1, &[]), Next::GaveUp);
    }
}
