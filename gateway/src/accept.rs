//! Accepting messages: seal, store with recipients and `accepted` events in one
//! transaction. When this returns Ok the messages are on disk (the 200 / 250).

use policy::limits::Limited;
use policy::reputation::Reason;

use crate::compose::{Outgoing, SendOptions};
use crate::crypto::random_hex;
use crate::crypto::MasterKey;
use crate::events::{self, Method};
use crate::limits::Limits;
use crate::reputation::Reputation;
use crate::store::domains::Domain;
use crate::store::messages::{NewMessage, NewRecipient, RecipientStatus};
use crate::store::{now_micros, Store, StoreError};

/// The context a sealed body is bound to: it opens only as this message.
pub fn body_context(storage_key: &str) -> Vec<u8> {
    format!("message:{storage_key}").into_bytes()
}

/// A new message's storage key: the acceptance time, then 96 random bits.
/// Keys in time order go in at the end of their unique index; random ones
/// land anywhere in it, each write on a page of its own once the store
/// holds a million messages (bench/RESULTS.md, cost that stays flat).
fn storage_key(now: i64) -> String {
    format!("{now:014x}{}", random_hex(12))
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Over the domain's hourly or daily sending limit: nothing stored.
    #[error("over the sending limit of {}", .0.rate)]
    Limited(Limited),
    /// The domain is suspended for acceptable use: nothing stored.
    #[error("domain {domain} is suspended: its {reason}; sending is refused and queued messages are held until an admin reinstates it (POST /v3/{domain}/reputation/reinstate)")]
    Suspended { domain: String, reason: Reason },
    /// From or Sender names a domain this one may not send as.
    #[error(transparent)]
    NotYourAuthor(#[from] policy::sender::Refusal),
}

/// What accepting takes: no more.
pub struct Acceptor<'a> {
    pub store: &'a Store,
    /// Seals the bodies.
    pub master_key: &'a MasterKey,
    /// `[limits]`: the domains' sending limits.
    pub limits: &'a Limits,
    /// Whether the domain is suspended.
    pub reputation: &'a Reputation,
    /// Rung once messages are queued, so delivery starts at once.
    pub queue_wake: &'a tokio::sync::Notify,
}

/// Every domain the messages say they are from (From and Sender) must be
/// one `domain` may send as (`policy::sender`), whatever the way in.
async fn check_authors(
    app: &Acceptor<'_>,
    domain: &Domain,
    messages: &[Outgoing],
) -> Result<(), AcceptError> {
    let mut seen: Vec<String> = Vec::new();
    for author in messages.iter().flat_map(|m| &m.authors) {
        let from = author.domain().to_ascii_lowercase();
        if seen.contains(&from) {
            continue;
        }
        // The sending domain itself needs no lookup (the usual case).
        let owner = if from == domain.name {
            Some(from.clone())
        } else {
            app.store.registered_owner(&from).await?
        };
        policy::sender::check(&from, &domain.name, domain.from_policy, owner.as_deref())?;
        seen.push(from);
    }
    Ok(())
}

pub async fn accept(
    app: &Acceptor<'_>,
    domain: &Domain,
    opts: &SendOptions,
    messages: &mut [Outgoing],
    method: Method,
) -> Result<(), AcceptError> {
    let started = std::time::Instant::now();
    check_authors(app, domain, messages).await?;
    if let Some(reason) = app.reputation.suspended(domain.id).await? {
        return Err(AcceptError::Suspended {
            domain: domain.name.clone(),
            reason,
        });
    }
    // Limits count what will be delivered: one per recipient.
    let emails: usize = messages.iter().map(|m| m.recipients.len()).sum();
    app.limits
        .messages(&domain.name, u32::try_from(emails).unwrap_or(u32::MAX))
        .await
        .map_err(AcceptError::Limited)?;
    let now = now_micros();
    let options_json = serde_json::to_string(opts).expect("options serialise");
    let status = if opts.testmode {
        RecipientStatus::TestMode
    } else {
        RecipientStatus::Queued
    };
    let due = opts.deliver_at.unwrap_or(now);
    let mut rows = Vec::with_capacity(messages.len());
    let mut evs = Vec::new();
    for m in messages.iter_mut() {
        let storage_key = storage_key(now);
        let sealed = app.master_key.seal(&body_context(&storage_key), &m.mime);
        // A batch copy with its own `v:` values keeps them for its events.
        let own;
        let (opts, options_json) = match &m.user_variables {
            Some(vars) => {
                own = SendOptions {
                    user_variables: vars.clone(),
                    ..opts.clone()
                };
                (
                    &own,
                    serde_json::to_string(&own).expect("options serialise"),
                )
            }
            None => (opts, options_json.clone()),
        };
        for r in &m.recipients {
            evs.push(events::accepted(
                m,
                &r.addr,
                opts,
                &storage_key,
                method,
                now,
            ));
        }
        rows.push(NewMessage {
            sender: m.sender.clone(),
            storage_key,
            message_id: m.message_id.clone(),
            sealed_body: sealed,
            size: m.mime.len() as i64,
            options: options_json,
            method: method.as_str(),
            summary: serde_json::to_string(&m.summary).expect("summary serialises"),
            recipients: m
                .recipients
                .iter()
                .map(|r| NewRecipient {
                    address: r.addr.clone(),
                    domain: r.domain().to_lowercase(),
                    status,
                    next_attempt_at: due,
                })
                .collect(),
        });
        // Only the sealed body goes on: each body is held once while the
        // group commit waits, not twice (bench/RESULTS.md, big messages).
        m.mime = Vec::new();
    }
    app.store.insert_messages(domain.id, rows, evs).await?;
    crate::telemetry::accepted(method.as_str(), &domain.name, emails, started.elapsed());
    if status == RecipientStatus::Queued && due <= now {
        app.queue_wake.notify_one();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::storage_key;

    #[test]
    fn storage_keys_sort_in_acceptance_order_and_differ_within_a_microsecond() {
        let (a, b, c) = (storage_key(1_000), storage_key(1_000), storage_key(1_001));
        assert_ne!(a, b);
        assert!(a < c && b < c, "{a} {b} {c}");
        // A date far ahead still sorts after today's: the width is fixed.
        let later = storage_key(4_000_000_000_000_000);
        assert_eq!(later.len(), a.len());
        assert!(c < later);
    }
}
