//! VERP return paths: every message goes out with `MAIL FROM` at
//! `[inbound].bounce_domain`, whose local part names the message and carries
//! a MAC, so a report that comes back is matched to its message, domain and
//! recipients, and a forged one to nothing.

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
}
