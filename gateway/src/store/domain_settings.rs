//! A domain's settings that are one of a few values, as types: stored as
//! Mailgun's strings, and a stored string that is none of them is a damaged
//! row (`Corrupt` when read), never a default.

/// Where a domain stands with its DNS records (`PUT …/verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainState {
    Unverified,
    Active,
    Disabled,
}

/// Mailgun's `spam_action`: what to do with mail its filter flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamAction {
    Disabled,
    Block,
    Tag,
}

policy::named_values!(DomainState, "one of unverified, active or disabled", {
    Unverified => "unverified",
    Active => "active",
    Disabled => "disabled",
});

policy::named_values!(SpamAction, "one of disabled, block or tag", {
    Disabled => "disabled",
    Block => "block",
    Tag => "tag",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_others_are_named() {
        for s in [
            DomainState::Unverified,
            DomainState::Active,
            DomainState::Disabled,
        ] {
            assert_eq!(s.as_str().parse::<DomainState>(), Ok(s));
        }
        for a in [SpamAction::Disabled, SpamAction::Block, SpamAction::Tag] {
            assert_eq!(a.as_str().parse::<SpamAction>(), Ok(a));
        }
        let e = "quarantine".parse::<SpamAction>().unwrap_err().to_string();
        assert!(e.contains("quarantine") && e.contains("block"), "{e}");
    }
}
