//! `[events].retention`: one node of the cluster prunes older events, in
//! batches, their counts kept for the stats (`store::retention`).

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

pub async fn run(
    store: Store,
    retention: Duration,
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
        let before = now_micros() - retention.as_micros() as i64;
        let mut pruned = 0;
        for _ in 0..MAX_BATCHES {
            match store.prune_events(before, BATCH).await {
                Ok(0) => break,
                Ok(n) => pruned += n,
                Err(e) => {
                    tracing::error!(error = %e, "could not prune old events; trying again later");
                    break;
                }
            }
            if *stop.borrow() {
                return;
            }
        }
        if pruned > 0 {
            tracing::info!(
                events = pruned,
                "pruned events older than [events].retention (their counts stay in the stats)"
            );
        }
    }
}
