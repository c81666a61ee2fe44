//! `[limits]` as live rate limiters, built once per process. The arithmetic
//! is `policy::limits`; this module only says which key each limit counts.
//! Limits are per node: with several nodes each counts its own traffic.

use std::time::Duration;

use policy::limits::{Allowed, Limit, Limited, Per, Rate};

use crate::config::LimitsConfig;

pub struct Limits {
    /// HTTP requests per API key.
    per_key: Option<Limit>,
    /// HTTP sends per domain, whichever key.
    per_domain_requests: Option<Limit>,
    /// Messages (recipients) accepted per domain, HTTP and SMTP alike.
    per_domain_hour: Option<Limit>,
    per_domain_day: Option<Limit>,
    /// Messages delivered per recipient domain.
    per_destination: Option<Limit>,
}

fn limit(count: u32, per: Per, burst: u32) -> Option<Limit> {
    Limit::new(Rate { count, per }, burst)
}

impl Limits {
    pub fn new(cfg: &LimitsConfig) -> Limits {
        let per_second = cfg.per_destination_messages_per_second;
        Limits {
            // A second's worth may come at once.
            per_key: limit(
                cfg.requests_per_second_per_key,
                Per::Second,
                cfg.requests_per_second_per_key,
            ),
            per_domain_requests: limit(
                cfg.requests_per_second_per_domain,
                Per::Second,
                cfg.requests_per_second_per_domain,
            ),
            per_domain_hour: limit(
                cfg.messages_per_hour_per_domain,
                Per::Hour,
                cfg.messages_per_hour_per_domain,
            ),
            per_domain_day: limit(
                cfg.messages_per_day_per_domain,
                Per::Day,
                cfg.messages_per_day_per_domain,
            ),
            // A receiver sees at most 50 ms worth at once, then an even pace.
            per_destination: limit(per_second, Per::Second, per_second.div_ceil(20)),
        }
    }

    /// One HTTP request made with API key `key_id`. `None` when unlimited.
    pub fn request(&self, key_id: &str) -> Result<Option<Allowed>, Limited> {
        self.per_key
            .as_ref()
            .map(|l| l.check(key_id, 1))
            .transpose()
    }

    /// One HTTP send for `domain`.
    pub fn domain_request(&self, domain: &str) -> Result<Option<Allowed>, Limited> {
        self.per_domain_requests
            .as_ref()
            .map(|l| l.check(domain, 1))
            .transpose()
    }

    /// `n` messages accepted for `domain`, counted against the hourly and the
    /// daily limit. When the daily one refuses, the hourly one has already
    /// counted them: that errs on the side of sending less.
    pub fn messages(&self, domain: &str, n: u32) -> Result<(), Limited> {
        for l in [&self.per_domain_hour, &self.per_domain_day]
            .into_iter()
            .flatten()
        {
            l.check(domain, n)?;
        }
        Ok(())
    }

    /// How long to wait before the next message to `destination` (a
    /// recipient domain); `None`: now, and it is counted.
    pub fn destination_wait(&self, destination: &str) -> Option<Duration> {
        let l = self.per_destination.as_ref()?;
        l.check(destination, 1)
            .err()
            .map(|refused| refused.retry_after)
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
        .for_each(Limit::forget_idle);
    }
}
