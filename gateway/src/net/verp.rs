//! VERP return paths: every message goes out with a `MAIL FROM` whose local
//! part names the message and carries a MAC, so a report that comes back is
//! matched to its message, domain and recipients, and a forged one to
//! nothing. The host is the domain's own return-path host (`bounce.{domain}`,
//! once its MX is at envoi: SPF then aligns), else `[inbound].bounce_domain`,
//! else the sending domain.

use crate::crypto::MasterKey;

const PURPOSE: &str = "verp v1";
/// MAC bytes kept: 80 bits keeps the local part short (RFC 5321: ≤ 64).
const TAG: usize = 10;

/// `b-{message id, hex}-{tag}`: at most 2 + 16 + 1 + 20 characters.
pub fn local_part(key: &MasterKey, message_id: i64) -> String {
    let id = format!("{message_id:x}");
    let tag = key.mac(PURPOSE, id.as_bytes());
    format!("b-{id}-{}", hex::encode(&tag[..TAG]))
}

pub fn address(key: &MasterKey, message_id: i64, bounce_domain: &str) -> String {
    format!("{}@{bounce_domain}", local_part(key, message_id))
}

/// A domain's own return-path host, whose MX the tenant points at envoi.
pub fn host_of(domain: &str) -> String {
    format!("bounce.{domain}")
}

/// Whether `local@domain` may be a return path at a domain's own
/// return-path host (the MAC is checked when the report arrives).
pub fn may_be_own_return_path(local: &str, domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    d.strip_prefix("bounce.")
        .is_some_and(|rest| rest.contains('.'))
        && local.to_ascii_lowercase().starts_with("b-")
}

/// The message a VERP local part names, if its MAC holds.
pub fn message_of(key: &MasterKey, local: &str) -> Option<i64> {
    let rest = local.to_ascii_lowercase();
    let rest = rest.strip_prefix("b-")?;
    let (id, tag) = rest.split_once('-')?;
    let tag = hex::decode(tag).ok()?;
    if tag.len() != TAG || !key.mac_matches(PURPOSE, id.as_bytes(), &tag) {
        return None;
    }
    i64::from_str_radix(id, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_path_names_its_message_and_nothing_else() {
        let key = MasterKey::from_bytes(&[3; 32]);
        let local = local_part(&key, 12345);
        assert!(local.len() <= 64);
        assert_eq!(message_of(&key, &local), Some(12345));
        assert_eq!(message_of(&key, &local.to_ascii_uppercase()), Some(12345));
        let forged = local.replacen("3039", "303a", 1);
        assert_eq!(message_of(&key, &forged), None);
        assert_eq!(message_of(&MasterKey::from_bytes(&[4; 32]), &local), None);
        assert_eq!(message_of(&key, "postmaster"), None);
    }

    #[test]
    fn own_return_path_hosts_are_bounce_dot_a_domain() {
        assert_eq!(host_of("shop.test"), "bounce.shop.test");
        assert!(may_be_own_return_path("b-1f-00", "Bounce.Shop.test"));
        assert!(!may_be_own_return_path("postmaster", "bounce.shop.test"));
        assert!(!may_be_own_return_path("b-1f-00", "bounce.test"));
        assert!(!may_be_own_return_path("b-1f-00", "shop.test"));
    }
}
