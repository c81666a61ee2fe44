//! Destinations none of whose MX hosts took a connection lately: their mail
//! is deferred without connecting, for longer after each failure in a row
//! (`policy::delivery::unreachable_hold`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// Why `domain` is held, while it is.
    pub fn held(&self, domain: &str) -> Option<String> {
        let held = self.0.lock().unwrap();
        held.get(domain)
            .filter(|u| u.until > Instant::now())
            .map(|u| u.why.clone())
    }

    /// No MX host of `domain` took a connection: hold it, longer each time
    /// along `schedule` (`[delivery].retry_schedule`).
    pub fn unreachable(&self, domain: &str, why: &str, schedule: &[Duration]) {
        let mut held = self.0.lock().unwrap();
        // Parallel connections failing together are one failure.
        if held.get(domain).is_some_and(|u| u.until > Instant::now()) {
            return;
        }
        let failures = held.get(domain).map_or(0, |u| u.failures) + 1;
        let hold = policy::delivery::unreachable_hold(failures, schedule);
        tracing::warn!(domain, failures, hold = %humantime::format_duration(hold), error = why,
            "no MX host takes connections: deferring this destination's mail without connecting");
        held.insert(
            domain.to_string(),
            Hold {
                until: Instant::now() + hold,
                failures,
                why: why.to_string(),
            },
        );
    }

    /// A connection to `domain` worked: it is no longer held.
    pub fn reachable(&self, domain: &str) {
        if self.0.lock().unwrap().remove(domain).is_some() {
            tracing::info!(domain, "destination reachable again");
        }
    }
}
