//! A limit the nodes of a cluster count together: its state is a store row
//! per key (`store::buckets`), the arithmetic `policy::gcra`.
//!
//! A trip to the store per request would put a row lock on every request
//! of a key, so a node takes a slice at a time (a tenth of a second's worth
//! of the rate) and spends it locally within `SLICE_LIFE`; what it did not
//! spend by then is dropped. The cluster therefore never goes over the
//! limit; it may fall short of it by up to a slice per node when traffic
//! is spread thin over many nodes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use policy::gcra::Gcra;
use policy::limits::{Allowed, Limited};

use crate::store::Store;

/// How long a node may keep what it took from the shared state.
pub const SLICE_LIFE: Duration = Duration::from_millis(100);

pub struct Shared {
    /// The limit's name in the store's rows (`{name}:{key}`).
    name: &'static str,
    gcra: Gcra,
    /// Taken from the store at once, at most (at least 1).
    slice: u32,
    store: Store,
    local: Mutex<HashMap<String, Local>>,
}

/// What this node took and has not spent yet, for one key.
#[derive(Default)]
struct Local {
    /// Units taken (`check`) and their last answer.
    tokens: u32,
    allowed: Option<Allowed>,
    until: Option<Instant>,
    /// Reserved sending times (`pace`), in order.
    times: VecDeque<Instant>,
}

impl Shared {
    /// `slice`: units taken at once when a request needs fewer.
    pub fn new(name: &'static str, gcra: Gcra, slice: u32, store: Store) -> Shared {
        Shared {
            name,
            gcra,
            slice: slice.max(1),
            store,
            local: Mutex::default(),
        }
    }

    fn row(&self, key: &str) -> String {
        format!("{}:{}", self.name, key)
    }

    /// Counts `n` for `key` if they fit now, cluster-wide.
    pub async fn check(&self, key: &str, n: u32) -> Result<Allowed, Limited> {
        let key = key.to_ascii_lowercase();
        {
            let mut local = self.local.lock().unwrap();
            if let Some(l) = local.get_mut(&key) {
                if l.tokens >= n && l.until.is_some_and(|u| u > Instant::now()) {
                    l.tokens -= n;
                    if let Some(a) = l.allowed {
                        // What the cluster had left, and this node's slice.
                        return Ok(Allowed {
                            remaining: a.remaining + l.tokens,
                            ..a
                        });
                    }
                }
            }
        }
        let (gcra, want) = (self.gcra, n.max(self.slice));
        let taken = self
            .store
            .with_bucket(&self.row(&key), |tat, now| {
                let t = gcra.take(tat, now, n, want);
                (t.tat, t)
            })
            .await;
        let taken = match taken {
            Ok(t) => t,
            Err(e) => {
                // The store is what accepting needs anyway: a request it
                // cannot count is not refused for that.
                tracing::error!(error = %e, limit = self.name, "could not count a cluster-wide limit; letting the request through");
                return Ok(Allowed {
                    rate: self.gcra.rate,
                    remaining: 0,
                    reset_after: Duration::ZERO,
                });
            }
        };
        if let Ok(allowed) = &taken.answer {
            let mut local = self.local.lock().unwrap();
            let l = local.entry(key).or_default();
            l.tokens = taken.granted - n;
            l.allowed = Some(*allowed);
            l.until = Some(Instant::now() + SLICE_LIFE);
            let mut answer = *allowed;
            answer.remaining += l.tokens;
            return Ok(answer);
        }
        taken.answer
    }

    /// Waits until one more may go to `key` (pacing: never refused).
    pub async fn pace(&self, key: &str) {
        let key = key.to_ascii_lowercase();
        loop {
            let next = {
                let mut local = self.local.lock().unwrap();
                let l = local.entry(key.clone()).or_default();
                // A reserved time long past is dropped: using it late could
                // bunch several together, over the burst.
                while l.times.front().is_some_and(|t| t.elapsed() > SLICE_LIFE) {
                    l.times.pop_front();
                }
                l.times.pop_front()
            };
            if let Some(at) = next {
                tokio::time::sleep_until(at.into()).await;
                return;
            }
            let (gcra, slice) = (self.gcra, self.slice);
            let reserved = self
                .store
                .with_bucket(&self.row(&key), |tat, now| {
                    let (tat, times) = gcra.reserve(tat, now, slice);
                    (tat, (now, times))
                })
                .await;
            match reserved {
                Ok((now, times)) => {
                    let base = Instant::now();
                    let mut local = self.local.lock().unwrap();
                    let l = local.entry(key.clone()).or_default();
                    l.times.extend(
                        times
                            .into_iter()
                            .map(|t| base + Duration::from_micros((t - now).max(0) as u64)),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, limit = self.name, "could not pace by a cluster-wide limit; pacing by this node alone");
                    tokio::time::sleep(Duration::from_micros(self.gcra.interval() as u64)).await;
                    return;
                }
            }
        }
    }

    /// Drops what was spent or has lapsed.
    pub fn forget_idle(&self) {
        self.local
            .lock()
            .unwrap()
            .retain(|_, l| !l.times.is_empty() || l.until.is_some_and(|u| u > Instant::now()));
    }
}
