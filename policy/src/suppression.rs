//! Whether a suppression list stops a message to an address. Bounces and
//! complaints stop everything sent to the address; an unsubscribe stops
//! everything when its tags hold `*`, otherwise only the messages that carry
//! one of its tags (Mailgun's tag unsubscribes), so that unsubscribing from a
//! newsletter never stops a password reset.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum List {
    Bounce,
    Complaint,
    Unsubscribe,
}

crate::named_values!(List, "a suppression list", {
    Bounce => "bounce",
    Complaint => "complaint",
    Unsubscribe => "unsubscribe",
});

/// One entry of an address on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub list: List,
    /// Unsubscribes only; empty means the whole domain, as `*` does.
    pub tags: Vec<String>,
}

/// The list that stops a message carrying `message_tags`, if any; when
/// several do, bounce before complaint before unsubscribe.
pub fn stopping(entries: &[Entry], message_tags: &[String]) -> Option<List> {
    entries
        .iter()
        .filter(|e| match e.list {
            List::Bounce | List::Complaint => true,
            List::Unsubscribe => {
                e.tags.is_empty()
                    || e.tags
                        .iter()
                        .any(|t| t == "*" || message_tags.iter().any(|m| m.eq_ignore_ascii_case(t)))
            }
        })
        .map(|e| e.list)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsub(tags: &[&str]) -> Entry {
        Entry {
            list: List::Unsubscribe,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn bounces_and_complaints_stop_everything() {
        let e = [Entry {
            list: List::Complaint,
            tags: vec![],
        }];
        assert_eq!(stopping(&e, &[]), Some(List::Complaint));
        assert_eq!(stopping(&e, &tags(&["receipt"])), Some(List::Complaint));
    }

    #[test]
    fn a_whole_domain_unsubscribe_stops_everything() {
        assert_eq!(stopping(&[unsub(&["*"])], &[]), Some(List::Unsubscribe));
        assert_eq!(
            stopping(&[unsub(&[])], &tags(&["x"])),
            Some(List::Unsubscribe)
        );
    }

    #[test]
    fn a_tag_unsubscribe_stops_only_that_tag() {
        let e = [unsub(&["newsletter"])];
        assert_eq!(
            stopping(&e, &tags(&["Newsletter"])),
            Some(List::Unsubscribe)
        );
        assert_eq!(stopping(&e, &tags(&["password-reset"])), None);
        assert_eq!(stopping(&e, &[]), None);
    }

    #[test]
    fn a_bounce_wins_over_other_lists() {
        let e = [
            unsub(&["*"]),
            Entry {
                list: List::Bounce,
                tags: vec![],
            },
        ];
        assert_eq!(stopping(&e, &[]), Some(List::Bounce));
    }
}
