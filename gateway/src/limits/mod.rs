//! `[limits]` as live rate limiters, built once per process. The arithmetic
//! is `policy::limits` (and `policy::gcra`); this module only says which key
//! each limit counts and where its state lives: in memory on a single node
//! (SQLite), in the store on PostgreSQL, so that a limit holds for the
//! cluster as a whole (`shared`).

pub mod shared;

use std::time::Duration;

use policy::gcra::Gcra;
use policy::limits::{Allowed, Limit, Limited, Per, Rate};

use crate::config::LimitsConfig;
use crate::store::{Backend, Store};

/// One limit, counted here or with the other nodes.
enum Counter {
    Local(Limit),
    Shared(shared::Shared),
}

impl Counter {
    /// `None` when unlimited (a count of 0).
    fn new(
        name: &'static str,
        rate: Rate,
        burst: u32,
        slice: u32,
        store: &Store,
    ) -> Option<Counter> {
        let local = Limit::new(rate, burst)?;
        Some(match store.backend {
            Backend::Sqlite => Counter::Local(local),
            Backend::Postgres => Counter::Shared(shared::Shared::new(
                name,
                Gcra { rate, burst },
                slice,
                store.clone(),
            )),
        })
    }

    async fn check(&self, key: &str, n: u32) -> Result<Allowed, Limited> {
        match self {
            Counter::Local(l) => l.check(key, n),
            Counter::Shared(s) => s.check(key, n).await,
        }
    }

    fn forget_idle(&self) {
        match self {
            Counter::Local(l) => l.forget_idle(),
            Counter::Shared(s) => s.forget_idle(),
        }
    }
}

pub struct Limits {
    /// HTTP requests per API key.
    per_key: Option<Counter>,
    /// HTTP sends per domain, whichever key.
    per_domain_requests: Option<Counter>,
    /// Messages (recipients) accepted per domain, HTTP and SMTP alike.
    per_domain_hour: Option<Counter>,
    per_domain_day: Option<Counter>,
    /// Messages delivered per recipient domain.
    per_destination: Option<Counter>,
}

/// A tenth of a second's worth of a per-second rate: what a node takes from
/// the shared state at once (`shared`).
fn slice(per_second: u32) -> u32 {
    (per_second / 10).clamp(1, 50)
}

impl Limits {
    pub fn new(cfg: &LimitsConfig, store: &Store) -> Limits {
        let per_second = |count: u32| Rate {
            count,
            per: Per::Second,
        };
        let dest = cfg.per_destination_messages_per_second;
        Limits {
            // A second's worth may come at once.
            per_key: Counter::new(
                "key",
                per_second(cfg.requests_per_second_per_key),
                cfg.requests_per_second_per_key,
                slice(cfg.requests_per_second_per_key),
                store,
            ),
            per_domain_requests: Counter::new(
                "domain-requests",
                per_second(cfg.requests_per_second_per_domain),
                cfg.requests_per_second_per_domain,
                slice(cfg.requests_per_second_per_domain),
                store,
            ),
            // Counted exactly: a slice of an hourly count would sit unused.
            per_domain_hour: Counter::new(
                "domain-hour",
                Rate {
                    count: cfg.messages_per_hour_per_domain,
                    per: Per::Hour,
                },
                cfg.messages_per_hour_per_domain,
                1,
                store,
            ),
            per_domain_day: Counter::new(
                "domain-day",
                Rate {
                    count: cfg.messages_per_day_per_domain,
                    per: Per::Day,
                },
                cfg.messages_per_day_per_domain,
                1,
                store,
            ),
            // A receiver sees at most 50 ms worth at once, then an even pace.
            per_destination: Counter::new(
                "destination",
                per_second(dest),
                dest.div_ceil(20),
                slice(dest),
                store,
            ),
        }
    }

    /// One HTTP request made with API key `key_id`. `None` when unlimited.
    pub async fn request(&self, key_id: &str) -> Result<Option<Allowed>, Limited> {
        match &self.per_key {
            Some(c) => c.check(key_id, 1).await.map(Some),
            None => Ok(None),
        }
    }

    /// One HTTP send for `domain`.
    pub async fn domain_request(&self, domain: &str) -> Result<Option<Allowed>, Limited> {
        match &self.per_domain_requests {
            Some(c) => c.check(domain, 1).await.map(Some),
            None => Ok(None),
        }
    }

    /// `n` messages accepted for `domain`, counted against the hourly and the
    /// daily limit. When the daily one refuses, the hourly one has already
    /// counted them: that errs on the side of sending less.
    pub async fn messages(&self, domain: &str, n: u32) -> Result<(), Limited> {
        for c in [&self.per_domain_hour, &self.per_domain_day]
            .into_iter()
            .flatten()
        {
            c.check(domain, n).await?;
        }
        Ok(())
    }

    /// Waits until one more message may go to `destination` (a recipient
    /// domain), and counts it.
    pub async fn pace(&self, destination: &str) {
        match &self.per_destination {
            None => {}
            Some(Counter::Local(l)) => {
                while let Err(refused) = l.check(destination, 1) {
                    tokio::time::sleep(refused.retry_after.max(Duration::from_micros(100))).await;
                }
            }
            Some(Counter::Shared(s)) => s.pace(destination).await,
        }
    }

    /// Forget keys back at their full allowance (called now and then).
    pub fn forget_idle(&self) {
        [
            &self.per_key,
            &self.per_domain_requests,
            &self.per_domain_hour,
            &self.per_domain_day,
            &self.per_destination,
        ]
        .into_iter()
        .flatten()
        .for_each(Counter::forget_idle);
    }
}
