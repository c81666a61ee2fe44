//! One-click unsubscribe (RFC 8058): every delivered message carries a link
//! whose token names the sending domain, the recipient and the message,
//! signed with a MAC derived from the master key, so that a forged or altered
//! token is refused and changes nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store::suppressions::NewSuppression;
use crate::store::{now_micros, Store, StoreError};

const PURPOSE: &str = "unsubscribe v1";
/// Bytes of MAC kept in a token: 128 bits.
const TAG: usize = 16;

/// Whom a link unsubscribes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// The one recipient of the copy the link came in.
    One(String),
    /// Every recipient of the message at this domain: one copy (one SMTP
    /// transaction) went to all of them, so the link cannot tell them apart.
    AllAt(String),
}

/// Who unsubscribes from what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The sending domain.
    pub domain: String,
    pub recipients: Recipients,
    /// The message the link came in (its storage key).
    pub storage_key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("this unsubscribe link is not valid: it was altered or did not come from this server")]
pub struct BadToken;

impl Token {
    pub fn seal(&self, key: &MasterKey) -> String {
        let who = match &self.recipients {
            Recipients::One(a) => a.clone(),
            Recipients::AllAt(d) => format!("@{d}"),
        };
        let payload = format!("{}\n{who}\n{}", self.domain, self.storage_key);
        let tag = key.mac(PURPOSE, payload.as_bytes());
        format!("{}.{}", B64.encode(payload), B64.encode(&tag[..TAG]))
    }

    pub fn open(key: &MasterKey, token: &str) -> Result<Token, BadToken> {
        let (payload, tag) = token.split_once('.').ok_or(BadToken)?;
        let payload = B64.decode(payload).map_err(|_| BadToken)?;
        let tag = B64.decode(tag).map_err(|_| BadToken)?;
        if tag.len() != TAG || !key.mac_matches(PURPOSE, &payload, &tag) {
            return Err(BadToken);
        }
        let text = String::from_utf8(payload).map_err(|_| BadToken)?;
        let mut parts = text.split('\n');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(who), Some(k), None) => Ok(Token {
                domain: d.into(),
                recipients: match who.strip_prefix('@') {
                    Some(dest) => Recipients::AllAt(dest.into()),
                    None => Recipients::One(who.into()),
                },
                storage_key: k.into(),
            }),
            _ => Err(BadToken),
        }
    }
}

/// What an unsubscribe changed.
#[derive(Debug)]
pub struct Unsubscribed {
    pub domain_id: i64,
    /// Lower case; empty when the message (and so its recipients at a
    /// destination) is gone.
    pub addresses: Vec<String>,
}

/// Adds whom `token` names to its domain's unsubscribes (all tags) and
/// records their `unsubscribed` events; the one-click POST and the mailto
/// both come here. `None` when the domain was deleted since.
pub async fn apply(store: &Store, token: &Token) -> Result<Option<Unsubscribed>, StoreError> {
    let Some(d) = store.domain(&token.domain.to_ascii_lowercase()).await? else {
        return Ok(None);
    };
    let now = now_micros();
    let message = store
        .message_by_storage_key(d.id, &token.storage_key)
        .await?;
    let addresses: Vec<String> = match &token.recipients {
        Recipients::One(a) => vec![a.clone()],
        Recipients::AllAt(dest) => match &message {
            None => Vec::new(),
            Some(m) => store
                .recipients_of(m.id)
                .await?
                .into_iter()
                .map(|r| r.address.to_ascii_lowercase())
                .filter(|a| a.rsplit_once('@').is_some_and(|(_, d)| d == dest))
                .collect(),
        },
    };
    let message_id = message.as_ref().map(|m| m.message_id.as_str());
    let entries: Vec<_> = addresses
        .iter()
        .map(|a| {
            let entry = NewSuppression {
                address: a.clone(),
                code: String::new(),
                error: String::new(),
                tags: vec!["*".into()],
                created_at: now,
            };
            let event = crate::events::unsubscribed(a, message_id, &token.storage_key, now);
            (entry, event)
        })
        .collect();
    store.unsubscribe(d.id, &entries).await?;
    Ok(Some(Unsubscribed {
        domain_id: d.id,
        addresses,
    }))
}

/// The https (or, without `[http].public_url`, local http) one-click link.
pub fn url(config: &Config, token: &str) -> String {
    let base = config
        .http
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.http.listen));
    format!("{}/u/{token}", base.trim_end_matches('/'))
}

/// The `List-Unsubscribe` and `List-Unsubscribe-Post` header lines (CRLF
/// ended, folded) to put on top of a message. The mailto goes to
/// `[inbound].bounce_domain` when one is set.
pub fn headers(config: &Config, token: &str) -> String {
    let mut value = format!("<{}>", url(config, token));
    if let Some(bounces) = &config.inbound.bounce_domain {
        value.push_str(&format!(
            ",\r\n <mailto:unsubscribe@{bounces}?subject=unsubscribe%20{token}>"
        ));
    }
    format!("List-Unsubscribe: {value}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[7; 32])
    }

    fn token() -> Token {
        Token {
            domain: "shop.test".into(),
            recipients: Recipients::One("alice@example.org".into()),
            storage_key: "abc123".into(),
        }
    }

    #[test]
    fn a_token_opens_to_what_was_sealed() {
        let t = token().seal(&key());
        assert!(!t.contains('/') && !t.contains('+'), "URL-safe: {t}");
        assert_eq!(Token::open(&key(), &t), Ok(token()));
    }

    #[test]
    fn a_token_for_all_recipients_at_a_domain_opens_as_such() {
        let t = Token {
            recipients: Recipients::AllAt("dest.test".into()),
            ..token()
        };
        assert_eq!(Token::open(&key(), &t.seal(&key())), Ok(t));
    }

    #[test]
    fn an_altered_or_foreign_token_is_refused() {
        let t = token().seal(&key());
        let other = Token {
            recipients: Recipients::One("mallory@example.org".into()),
            ..token()
        };
        let (_, tag) = t.split_once('.').unwrap();
        let (payload, _) = other
            .seal(&key())
            .split_once('.')
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .unwrap();
        assert_eq!(
            Token::open(&key(), &format!("{payload}.{tag}")),
            Err(BadToken)
        );
        assert_eq!(
            Token::open(&MasterKey::from_bytes(&[8; 32]), &t),
            Err(BadToken)
        );
        assert_eq!(Token::open(&key(), "garbage"), Err(BadToken));
        assert_eq!(Token::open(&key(), &t[..t.len() - 2]), Err(BadToken));
    }
}
