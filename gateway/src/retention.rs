//! `[events].retention` and `message_retention`: one node of the cluster
//! prunes older events, their counts kept for the stats, and the stored
//! messages whose recipients are all done, in batches (`store::retention`).

use std::time::Duration;

use tokio::sync::watch;

use crate::cluster::singleton::Singleton;
use crate::store::{now_micros, Store};

/// How often the oldest events are looked at; the first time soon after
/// start (a node taking over after a long stop has much to do).
const EVERY: Duration = Duration::from_secs(60);
const FIRST: Duration = Duration::from_secs(5);
/// Events per transaction: small enough not to hold the writer long.
const BATCH: i64 = 5_000;
/// Batches per pass at most; the rest waits for the next pass.
const MAX_BATCHES: usize = 200;

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub events: Duration,
    pub messages: Duration,
}

pub async fn run(
    store: Store,
    retention: Retention,
    runner: Singleton,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = FIRST;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = EVERY;
        if !runner.mine().await {
            continue;
        }
        let now = now_micros();
        let events_before = now - retention.events.as_micros() as i64;
        let messages_before = now - retention.messages.as_micros() as i64;
        let mut events = 0;
        let mut messages = 0;
        let mut left = (true, true);
        for _ in 0..MAX_BATCHES {
            if left.0 {
                match store.prune_events(events_before, BATCH).await {
                    Ok(n) => (events, left.0) = (events + n, n > 0),
                    Err(e) => {
                        tracing::error!(error = %e, "could not prune old events; trying again later");
                        left.0 = false;
                    }
                }
            }
            if left.1 {
                match store.prune_messages(messages_before, BATCH).await {
                    Ok(n) => (messages, left.1) = (messages + n, n > 0),
                    Err(e) => {
                        tracing::error!(error = %e, "could not prune old stored messages; trying again later");
                        left.1 = false;
                    }
                }
            }
            if *stop.borrow() {
                return;
            }
            if left == (false, false) {
                break;
            }
        }
        if events > 0 || messages > 0 {
            tracing::info!(
                events,
                messages,
                "pruned events older than [events].retention (their counts stay in the stats) and stored messages older than [events].message_retention"
            );
        }
    }
}
