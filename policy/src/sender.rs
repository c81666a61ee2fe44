//! Who a message may say it is from. A sending domain's mail names, in From
//! (and Sender), an address of that domain or of a subdomain of it, so DMARC
//! alignment holds by construction and no tenant passes as another. The
//! domain's owner may open that up (`FromPolicy::Any`, for a newsletter
//! tool that sends "on behalf of"), but never to a domain registered by
//! another tenant of the same envoi.

use std::fmt;
use std::str::FromStr;

/// A domain's setting (`from_policy` of `PUT /v3/domains/{d}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FromPolicy {
    /// The From domain is the sending domain or a subdomain of it.
    #[default]
    Aligned,
    /// Any From domain, except one registered by another tenant.
    Any,
}

impl FromPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FromPolicy::Aligned => "aligned",
            FromPolicy::Any => "any",
        }
    }
}

impl fmt::Display for FromPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("from_policy must be aligned or any, not {0:?}")]
pub struct UnknownPolicy(pub String);

impl FromStr for FromPolicy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aligned" => Ok(FromPolicy::Aligned),
            "any" => Ok(FromPolicy::Any),
            other => Err(UnknownPolicy(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `aligned`, and the From domain is outside the sending domain.
    NotAligned { from: String, sending: String },
    /// The From domain belongs to another domain registered here.
    OtherTenant {
        from: String,
        sending: String,
        owner: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotAligned { from, sending } => write!(
                f,
                "the From domain {from} is not the sending domain {sending} nor a subdomain of it, \
                 and {sending} has from_policy = aligned: send from an address @{sending}, or set \
                 from_policy=any with PUT /v3/domains/{sending}"
            ),
            Refusal::OtherTenant {
                from,
                sending,
                owner,
            } => write!(
                f,
                "the From domain {from} belongs to {owner}, another domain of this envoi: \
                 {sending} cannot send as it whatever its from_policy; send through {owner}"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// True when `domain` is `parent` or a subdomain of it (ASCII case ignored).
pub fn within(domain: &str, parent: &str) -> bool {
    let (d, p) = (domain.to_ascii_lowercase(), parent.to_ascii_lowercase());
    d == p || d.strip_suffix(&p).is_some_and(|rest| rest.ends_with('.'))
}

/// The domain itself and each parent with at least two labels, most
/// specific first: where to look for a registered owner.
pub fn owner_candidates(domain: &str) -> Vec<String> {
    let d = domain.to_ascii_lowercase();
    let mut out = vec![d.clone()];
    let mut rest = d.as_str();
    while let Some((_, parent)) = rest.split_once('.') {
        if !parent.contains('.') {
            break;
        }
        out.push(parent.to_string());
        rest = parent;
    }
    out
}

/// May `sending` put an address at `from` in From or Sender? `owner` is the
/// most specific domain registered in envoi that `from` is within (itself or
/// a parent), if any.
pub fn check(
    from: &str,
    sending: &str,
    policy: FromPolicy,
    owner: Option<&str>,
) -> Result<(), Refusal> {
    if let Some(owner) = owner.filter(|o| !o.eq_ignore_ascii_case(sending)) {
        // A subdomain that is registered on its own is another tenant's,
        // even under the sending domain.
        return Err(Refusal::OtherTenant {
            from: from.to_ascii_lowercase(),
            sending: sending.to_string(),
            owner: owner.to_string(),
        });
    }
    match policy {
        FromPolicy::Any => Ok(()),
        FromPolicy::Aligned if within(from, sending) => Ok(()),
        FromPolicy::Aligned => Err(Refusal::NotAligned {
            from: from.to_ascii_lowercase(),
            sending: sending.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sending_domain_and_its_subdomains_are_aligned() {
        assert_eq!(
            check("ha.test", "ha.test", FromPolicy::Aligned, Some("ha.test")),
            Ok(())
        );
        assert_eq!(
            check(
                "News.HA.test",
                "ha.test",
                FromPolicy::Aligned,
                Some("ha.test")
            ),
            Ok(())
        );
        assert_eq!(
            check("sub.ha.test", "ha.test", FromPolicy::Aligned, None),
            Ok(())
        );
    }

    #[test]
    fn another_domain_is_refused_when_aligned() {
        let r = check("evil.test", "ha.test", FromPolicy::Aligned, None).unwrap_err();
        assert!(matches!(r, Refusal::NotAligned { .. }));
        let text = r.to_string();
        assert!(
            text.contains("evil.test") && text.contains("ha.test") && text.contains("from_policy")
        );
        // A suffix that is not a label boundary is no subdomain.
        assert!(check("notha.test", "ha.test", FromPolicy::Aligned, None).is_err());
    }

    #[test]
    fn any_allows_unregistered_domains_only() {
        assert_eq!(
            check("partner.example", "ha.test", FromPolicy::Any, None),
            Ok(())
        );
        let r = check("hb.test", "ha.test", FromPolicy::Any, Some("hb.test")).unwrap_err();
        assert!(matches!(r, Refusal::OtherTenant { ref owner, .. } if owner == "hb.test"));
    }

    #[test]
    fn a_registered_subdomain_is_another_tenant() {
        let r = check(
            "x.mg.ha.test",
            "ha.test",
            FromPolicy::Aligned,
            Some("mg.ha.test"),
        );
        assert!(matches!(r, Err(Refusal::OtherTenant { .. })));
    }

    #[test]
    fn owner_candidates_stop_at_two_labels() {
        assert_eq!(
            owner_candidates("a.b.Example.com"),
            ["a.b.example.com", "b.example.com", "example.com"]
        );
        assert_eq!(owner_candidates("example.com"), ["example.com"]);
    }

    #[test]
    fn policy_round_trips_and_refuses_unknown_values() {
        for p in [FromPolicy::Aligned, FromPolicy::Any] {
            assert_eq!(p.as_str().parse::<FromPolicy>(), Ok(p));
        }
        assert!("strict".parse::<FromPolicy>().is_err());
    }
}
