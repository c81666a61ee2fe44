//! What the event log records, as types: an event's kind, a failure's
//! severity and reason. They are stored and shown as Mailgun's strings; a
//! stored string that is none of them is a damaged row (`Unknown`), never a
//! default.

use crate::delivery::PermanentReason;
use crate::suppression::List;

/// A stored string that names no value of the type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not {what}")]
pub struct Unknown {
    pub what: &'static str,
    pub value: String,
}

/// `as_str`, `Display` and `FromStr` over a fixed table of strings, for a
/// type stored as text: a string that is none of them is `Unknown`.
#[macro_export]
macro_rules! named_values {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::events::Unknown;
            fn from_str(s: &str) -> Result<Self, $crate::events::Unknown> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err($crate::events::Unknown { what: $what, value: other.to_string() }),
                }
            }
        }
    };
}

/// The events envoi records (Mailgun's names, and envoi's `warning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Accepted,
    Delivered,
    Failed,
    Complained,
    Unsubscribed,
    /// A domain's acceptable-use state got worse.
    Warning,
}

crate::named_values!(EventKind, "an event kind", {
    Accepted => "accepted",
    Delivered => "delivered",
    Failed => "failed",
    Complained => "complained",
    Unsubscribed => "unsubscribed",
    Warning => "warning",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Permanent,
    Temporary,
}

crate::named_values!(Severity, "a severity (permanent or temporary)", {
    Permanent => "permanent",
    Temporary => "temporary",
});

/// Why a recipient failed: Mailgun's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Generic,
    Bounce,
    EspBlock,
    Old,
    SuppressBounce,
    SuppressUnsubscribe,
    SuppressComplaint,
}

crate::named_values!(Reason, "a failure reason", {
    Generic => "generic",
    Bounce => "bounce",
    EspBlock => "espblock",
    Old => "old",
    SuppressBounce => "suppress-bounce",
    SuppressUnsubscribe => "suppress-unsubscribe",
    SuppressComplaint => "suppress-complaint",
});

impl From<PermanentReason> for Reason {
    fn from(r: PermanentReason) -> Reason {
        match r {
            PermanentReason::Bounce => Reason::Bounce,
            PermanentReason::EspBlock => Reason::EspBlock,
            PermanentReason::Old => Reason::Old,
            PermanentReason::Generic => Reason::Generic,
        }
    }
}

impl Reason {
    /// The reason a recipient on `list` is not contacted.
    pub fn suppressed_by(list: List) -> Reason {
        match list {
            List::Bounce => Reason::SuppressBounce,
            List::Unsubscribe => Reason::SuppressUnsubscribe,
            List::Complaint => Reason::SuppressComplaint,
        }
    }

    /// A recipient that was never contacted because of a list.
    pub fn is_suppression(self) -> bool {
        matches!(
            self,
            Reason::SuppressBounce | Reason::SuppressUnsubscribe | Reason::SuppressComplaint
        )
    }
}

/// How a `failed` event failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub severity: Severity,
    pub reason: Reason,
}

impl Failure {
    /// Retried later (Mailgun's reason for those is always `generic`).
    pub const TEMPORARY: Failure = Failure {
        severity: Severity::Temporary,
        reason: Reason::Generic,
    };

    pub fn permanent(reason: impl Into<Reason>) -> Failure {
        Failure {
            severity: Severity::Permanent,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_string() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(*k));
        }
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(*s));
        }
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(*r));
        }
    }

    #[test]
    fn an_unknown_string_is_named_not_defaulted() {
        let e = "delivred".parse::<EventKind>().unwrap_err();
        assert_eq!(e.value, "delivred");
        assert!(e.to_string().contains("event kind"));
        assert!("fatal".parse::<Severity>().is_err());
    }

    #[test]
    fn suppression_reasons_follow_the_list() {
        assert_eq!(
            Reason::suppressed_by(List::Unsubscribe).as_str(),
            "suppress-unsubscribe"
        );
        assert!(Reason::suppressed_by(List::Bounce).is_suppression());
        assert!(!Reason::from(PermanentReason::Bounce).is_suppression());
    }
}
