//! `[events].retention` and `message_retention`: one node of the cluster
//! clears the stored bodies of messages whose recipients are all done, and
//! prunes older events (their counts kept for the stats) with the messages
//! they were about, in batches (`store::retention`). It also counts the
//! events of each hour that is over for the stats (`store::rollup`).

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
const HOUR: i64 = 3_600_000_000;

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
    // Where clearing bodies goes on: ids before it were walked already (a
    // message skipped then, still queued, goes whole with the rows later).
    let mut bodies_from = i64::MIN;
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
        let bodies_before = now - retention.messages.as_micros() as i64;
        // A message's row lives as long as its events, and at least as long
        // as its body.
        let rows_before = events_before.min(bodies_before);
        let (mut events, mut bodies, mut messages, mut rolled) = (0, 0, 0, 0);
        let mut rows_from = i64::MIN;
        // The hours that are over get counted for the stats (`store::rollup`).
        let hour_over = (now / HOUR) * HOUR;
        let mut left = [true; 4];
        for _ in 0..MAX_BATCHES {
            if left[3] {
                left[3] = match logged(
                    store.roll_up_events(hour_over, BATCH).await,
                    "count past hours' events for the stats",
                ) {
                    Some(n) => {
                        rolled += n;
                        n > 0
                    }
                    None => false,
                };
            }
            if left[0] {
                left[0] = match logged(
                    store.prune_events(events_before, BATCH).await,
                    "prune old events",
                ) {
                    Some(n) => {
                        events += n;
                        n > 0
                    }
                    None => false,
                };
            }
            if left[1] {
                let step = store
                    .clear_old_bodies(bodies_from, bodies_before, BATCH)
                    .await;
                left[1] = match logged(step, "clear old stored messages") {
                    Some(w) => {
                        (bodies, bodies_from) = (bodies + w.changed, w.next);
                        !w.done
                    }
                    None => false,
                };
            }
            if left[2] {
                let step = store.prune_messages(rows_from, rows_before, BATCH).await;
                left[2] = match logged(step, "prune old messages") {
                    Some(w) => {
                        (messages, rows_from) = (messages + w.changed, w.next);
                        !w.done
                    }
                    None => false,
                };
            }
            if *stop.borrow() {
                return;
            }
            if left == [false; 4] {
                break;
            }
        }
        if rolled > 0 {
            tracing::debug!(events = rolled, "past hours' events counted for the stats");
        }
        if events > 0 || bodies > 0 || messages > 0 {
            tracing::info!(
                events,
                bodies,
                messages,
                "pruned events older than [events].retention (their counts stay in the stats) and the messages they were about; cleared stored bodies older than [events].message_retention"
            );
        }
    }
}

/// `r`'s value, or `None` once the failure to `what` is logged: the next
/// pass tries again.
fn logged<T>(r: crate::store::Result<T>, what: &str) -> Option<T> {
    r.map_err(|e| tracing::error!(error = %e, "could not {what}; trying again later"))
        .ok()
}
