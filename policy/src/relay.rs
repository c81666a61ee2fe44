//! Who may send what through the SMTP submission relay: never an open relay.
//! A client sends for one domain, the one its credentials belong to, or for
//! the domains whose IP allowlist holds its address, and only as an address
//! of that domain.

/// What a client has proved about itself so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authority {
    /// The domain of the SMTP credentials it authenticated with.
    pub credential_domain: Option<String>,
    /// Domains whose IP allowlist holds the client's address.
    pub allowlisted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Neither authenticated nor allowlisted: 530 5.7.0.
    AuthRequired,
    /// The sender is not an address of a domain the client may send for:
    /// 550 5.7.1.
    NotYourDomain {
        sender: String,
        allowed: Vec<String>,
    },
}

impl Authority {
    pub fn is_known(&self) -> bool {
        self.credential_domain.is_some() || !self.allowlisted.is_empty()
    }

    fn allowed(&self) -> Vec<String> {
        match &self.credential_domain {
            // Authenticated: its own domain only, whatever the address.
            Some(d) => vec![d.clone()],
            None => self.allowlisted.clone(),
        }
    }

    /// The domain `sender` (an envelope MAIL FROM or a From header address)
    /// may be sent as, or why not.
    pub fn may_send_as(&self, sender: &str) -> Result<String, Refusal> {
        if !self.is_known() {
            return Err(Refusal::AuthRequired);
        }
        let allowed = self.allowed();
        let domain = sender
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
            .unwrap_or_default();
        allowed
            .iter()
            .find(|d| d.eq_ignore_ascii_case(&domain))
            .cloned()
            .ok_or(Refusal::NotYourDomain {
                sender: sender.to_string(),
                allowed,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(d: &str) -> Authority {
        Authority {
            credential_domain: Some(d.into()),
            allowlisted: vec![],
        }
    }

    #[test]
    fn nobody_relays_without_credentials_or_allowlist() {
        assert_eq!(
            Authority::default().may_send_as("a@shop.test"),
            Err(Refusal::AuthRequired)
        );
    }

    #[test]
    fn a_credential_sends_only_as_its_domain() {
        let a = credential("shop.test");
        assert_eq!(a.may_send_as("Bob@Shop.Test").unwrap(), "shop.test");
        assert!(matches!(
            a.may_send_as("a@other.test"),
            Err(Refusal::NotYourDomain { .. })
        ));
        assert!(matches!(
            a.may_send_as("a@sub.shop.test"),
            Err(Refusal::NotYourDomain { .. })
        ));
        assert!(matches!(
            a.may_send_as(""),
            Err(Refusal::NotYourDomain { .. })
        ));
    }

    #[test]
    fn an_allowlisted_address_sends_as_the_allowlisting_domains() {
        let a = Authority {
            credential_domain: None,
            allowlisted: vec!["a.test".into(), "b.test".into()],
        };
        assert_eq!(a.may_send_as("x@b.test").unwrap(), "b.test");
        assert!(a.may_send_as("x@c.test").is_err());
    }

    #[test]
    fn a_credential_wins_over_the_allowlist() {
        let a = Authority {
            credential_domain: Some("a.test".into()),
            allowlisted: vec!["b.test".into()],
        };
        assert!(a.may_send_as("x@b.test").is_err());
    }
}
