//! A domain's settings that are one of a few values, as types: stored as
//! Mailgun's strings, and a stored string that is none of them is a damaged
//! row (`Corrupt` when read), never a default.

use std::fmt;
use std::str::FromStr;

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

macro_rules! named {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!("{other:?} is not valid: use {}", $what)),
                }
            }
        }
    };
}

named!(DomainState, "unverified, active or disabled", {
    Unverified => "unverified",
    Active => "active",
    Disabled => "disabled",
});

named!(SpamAction, "disabled, block or tag", {
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
        let e = "quarantine".parse::<SpamAction>().unwrap_err();
        assert!(e.contains("quarantine") && e.contains("block"), "{e}");
    }
}
