//! The mailto of List-Unsubscribe: a message to `unsubscribe@{bounce
//! domain}` whose Subject is `unsubscribe {token}` (what the link in every
//! delivered message pre-fills) unsubscribes exactly as the one-click POST
//! does (`unsubscribe::apply`). The token is the proof, as for the link:
//! who sends the message does not matter, and a forged token changes
//! nothing.

use mail_parser::MessageParser;

use super::intake::Intake;
use crate::net::smtp_server::reply::{EnhancedCode, Reply};
use crate::unsubscribe::{self, Token};

/// The token of a Subject `unsubscribe {token}` (any case, any prefix such
/// as `Re:` a mail client adds): the word after "unsubscribe".
pub(super) fn token_of(subject: &str) -> Option<&str> {
    let mut words = subject.split_whitespace();
    words.find(|w| w.eq_ignore_ascii_case("unsubscribe"))?;
    words.next()
}

pub async fn unsubscribe(app: &Intake<'_>, message: &[u8]) -> Reply {
    let parsed = MessageParser::default().parse_headers(message);
    let subject = parsed.as_ref().and_then(|m| m.subject()).unwrap_or("");
    let Some(token) = token_of(subject) else {
        return Reply::new(
            550,
            EnhancedCode(5, 6, 0),
            "no unsubscribe token: the Subject must be \"unsubscribe {token}\", as the List-Unsubscribe mailto fills it; nothing was changed",
        );
    };
    let token = match Token::open(app.master_key, token) {
        Ok(t) => t,
        Err(e) => {
            return Reply::new(
                550,
                EnhancedCode(5, 7, 1),
                format!("{e}; nothing was changed"),
            )
        }
    };
    match unsubscribe::apply(app.store, &token).await {
        Ok(Some(done)) => {
            app.reputation.changed(done.domain_id);
            tracing::info!(domain = %token.domain, addresses = ?done.addresses, "unsubscribed by mail (List-Unsubscribe mailto)");
            Reply::new(
                250,
                EnhancedCode(2, 0, 0),
                format!(
                    "unsubscribed from {}: {}",
                    token.domain,
                    done.addresses.join(", ")
                ),
            )
        }
        Ok(None) => Reply::new(
            250,
            EnhancedCode(2, 0, 0),
            format!(
                "nothing to unsubscribe: {} no longer sends from here",
                token.domain
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, "mailto unsubscribe: store unavailable");
            Reply::store_failed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token_of;

    #[test]
    fn the_token_is_the_word_after_unsubscribe() {
        assert_eq!(token_of("unsubscribe abc.def"), Some("abc.def"));
        assert_eq!(token_of("Re: UNSUBSCRIBE  abc.def "), Some("abc.def"));
        assert_eq!(token_of("unsubscribe"), None);
        assert_eq!(token_of("hello abc.def"), None);
    }
}
