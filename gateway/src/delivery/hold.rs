//! Destinations none of whose MX hosts took a connection lately: their mail
//! is deferred without connecting, for longer after each failure in a row
//! (`policy::delivery::unreachable_hold`).
//!
//! The decision is made here, in memory; each hold is also written to the
//! store (`store::holds`) so that the dashboard of any node shows it, and
//! an operator's "retry now" (which deletes it there) lifts it here too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::holds::HoldKind;
use crate::store::{now_micros, Store};

/// A destination held: until when, after how many failures in a row, and
/// what the last one said.
struct Hold {
    until: Instant,
    failures: u32,
    why: String,
}

#[derive(Default)]
pub struct Holds(Mutex<HashMap<String, Hold>>);

impl Holds {
    /// Why `domain` is held, while it is and the store still says so.
    pub async fn held(&self, store: &Store, domain: &str) -> Option<String> {
        let why = {
            let held = self.0.lock().unwrap();
            held.get(domain)
                .filter(|u| u.until > Instant::now())
                .map(|u| u.why.clone())?
        };
        // Only a held destination costs a read. A store that cannot answer
        // keeps the hold: it is the safer side for the receiver.
        match store.unreachable_hold_stands(domain).await {
            Ok(false) => {
                // Keep the failure count: "retry now" is one more try, and
                // a failure after it holds longer, as it would have.
                if let Some(h) = self.0.lock().unwrap().get_mut(domain) {
                    h.until = Instant::now();
                }
                tracing::info!(domain, "hold lifted by an operator: delivering again");
                None
            }
            _ => Some(why),
        }
    }

    /// No MX host of `domain` took a connection: hold it, longer each time
    /// along `schedule` (`[delivery].retry_schedule`).
    pub async fn unreachable(&self, store: &Store, domain: &str, why: &str, schedule: &[Duration]) {
        let (hold, failures) = {
            let mut held = self.0.lock().unwrap();
            // Parallel connections failing together are one failure.
            if held.get(domain).is_some_and(|u| u.until > Instant::now()) {
                return;
            }
            let failures = held.get(domain).map_or(0, |u| u.failures) + 1;
            let hold = policy::delivery::unreachable_hold(failures, schedule);
            held.insert(
                domain.to_string(),
                Hold {
                    until: Instant::now() + hold,
                    failures,
                    why: why.to_string(),
                },
            );
            (hold, failures)
        };
        tracing::warn!(domain, failures, hold = %humantime::format_duration(hold), error = why,
            "no MX host takes connections: deferring this destination's mail without connecting");
        let until = now_micros() + hold.as_micros() as i64;
        let written = store
            .hold_destination(
                domain,
                HoldKind::Unreachable,
                why,
                Some(until),
                failures.into(),
            )
            .await;
        if let Err(e) = written {
            tracing::warn!(domain, error = %e, "could not record the hold for the dashboard");
        }
    }

    /// A connection to `domain` worked: it is no longer held.
    pub async fn reachable(&self, store: &Store, domain: &str) {
        if self.0.lock().unwrap().remove(domain).is_none() {
            return;
        }
        tracing::info!(domain, "destination reachable again");
        if let Err(e) = store
            .release_destination(domain, HoldKind::Unreachable)
            .await
        {
            tracing::warn!(domain, error = %e, "could not record that the destination is reachable");
        }
    }
}
