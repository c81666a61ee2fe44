//! An operator drops the mail waiting for a destination: each recipient
//! fails for good with the operator's reason, recorded as a `failed`
//! event as any other failure is (webhooks, stats, logs).
//!
//! The recipients are leased first, as delivery leases them, so a node
//! delivering one right now keeps it (its outcome stands) and a node
//! killed halfway leaves leases a peer takes back: nothing is lost.

use std::collections::HashMap;
use std::sync::Arc;

use policy::events::Reason;

use super::group::options_of;
use super::outcome::{not_sent, orphaned};
use super::Job;
use crate::cluster::Node;
use crate::store::queue::Outcome;
use crate::store::{Result, Store};

/// Drops what waits for `destination` (every destination, when `None`) of
/// sending domain `sender` (every one, when `None`) and no node is
/// delivering; how many recipients.
pub async fn drop_waiting(
    store: &Store,
    node: &Node,
    destination: Option<&str>,
    sender: Option<i64>,
    why: &str,
) -> Result<usize> {
    let leased = store
        .lease_destination(
            node.next_lease(),
            destination,
            sender,
            node.lease_timeout_micros(),
        )
        .await?;
    if leased.is_empty() {
        return Ok(0);
    }
    let mut ids: Vec<i64> = leased.iter().map(|r| r.message_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let jobs: HashMap<i64, Job> = store
        .messages_for_delivery(&ids)
        .await?
        .into_iter()
        .map(|(id, dm)| {
            let (opts, _) = options_of(&dm);
            let job = Job {
                message: Arc::new(dm),
                opts: Arc::new(opts),
                held: None,
                recipients: Vec::new(),
            };
            (id, job)
        })
        .collect();
    let text = format!("Dropped by an operator: {why}");
    let outcomes: Vec<Outcome> = leased
        .iter()
        .map(|r| match jobs.get(&r.message_id) {
            Some(job) => not_sent(job, r, Reason::Generic, &text),
            // Its message went with its domain: nothing to tell anyone.
            None => orphaned(r),
        })
        .collect();
    let lost = store.record_outcomes(&outcomes).await?;
    let dropped = outcomes.len() - lost;
    tracing::warn!(
        destination,
        dropped,
        reason = why,
        "queued mail dropped by an operator"
    );
    Ok(dropped)
}
