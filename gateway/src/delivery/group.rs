//! Leased recipients into connection groups: by destination domain and
//! TLS settings, one job per message in a group.

use std::collections::HashMap;
use std::sync::Arc;

use policy::tls::TlsSettings;

use super::{Deliverer, Job};
use crate::compose::SendOptions;
use crate::store::queue::{DeliveryMessage, LeasedRecipient, Outcome};

impl Deliverer {
    /// Groups leased recipients by (destination domain, TLS settings), one
    /// job per message within a group (one transaction for all its
    /// recipients there).
    pub(super) async fn group(
        &self,
        leased: Vec<LeasedRecipient>,
    ) -> Result<Vec<((String, TlsSettings), Vec<Job>)>, crate::store::StoreError> {
        let mut ids: Vec<i64> = leased.iter().map(|r| r.message_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // Each message (its sealed body too) is moved into one Arc shared by
        // all its jobs, never copied.
        type Parsed = (Arc<DeliveryMessage>, Arc<SendOptions>, Option<String>);
        let parsed: HashMap<i64, Parsed> = self
            .ctx
            .store
            .messages_for_delivery(&ids)
            .await?
            .into_iter()
            .map(|(id, dm)| {
                let (opts, held) = options_of(&dm);
                (id, (Arc::new(dm), Arc::new(opts), held))
            })
            .collect();
        let mut groups: HashMap<(String, TlsSettings), HashMap<i64, Job>> = HashMap::new();
        let mut orphans = Vec::new();
        for r in leased {
            let Some((msg, opts, held)) = parsed.get(&r.message_id) else {
                orphans.push(r);
                continue;
            };
            let (msg, opts) = (msg.clone(), opts.clone());
            let settings = TlsSettings {
                require_tls: msg.domain.require_tls,
                skip_verification: msg.domain.skip_verification,
            }
            .with_overrides(opts.require_tls, opts.skip_verification);
            groups
                .entry((r.domain.clone(), settings))
                .or_default()
                .entry(r.message_id)
                .or_insert_with(|| Job {
                    message: msg.clone(),
                    opts: opts.clone(),
                    held: held.clone(),
                    recipients: Vec::new(),
                })
                .recipients
                .push(r);
        }
        if !orphans.is_empty() {
            // Their message is gone (domain deleted): close them out.
            let outcomes: Vec<Outcome> = orphans.iter().map(super::outcome::orphaned).collect();
            self.record(outcomes).await;
        }
        Ok(groups
            .into_iter()
            .map(|(k, jobs)| (k, jobs.into_values().collect()))
            .collect())
    }
}

/// A stored message's options; when they do not parse, empty ones (for its
/// events) and why the message cannot be sent as stored.
pub(super) fn options_of(dm: &DeliveryMessage) -> (SendOptions, Option<String>) {
    match SendOptions::from_stored(&dm.msg.options, &dm.msg.message_id) {
        Ok(o) => (o, None),
        Err(why) => {
            tracing::error!(message = %dm.msg.message_id, error = %why, "stored message held");
            (SendOptions::default(), Some(why))
        }
    }
}
