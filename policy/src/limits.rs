//! Rate limits: how much a key, a sending domain or a destination may have
//! now, and how long to wait otherwise. GCRA from `governor`, one state per
//! key, held in memory (so per node). No I/O: the gateway asks, then answers
//! 429 / 451 or sleeps.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Recipients of one message at most (to, cc and bcc together), as Mailgun.
pub const MAX_RECIPIENTS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Hour,
    Day,
}

impl Per {
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Per::Second => 1,
            Per::Hour => 3600,
            Per::Day => 86400,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Per::Second => "second",
            Per::Hour => "hour",
            Per::Day => "day",
        }
    }
}

/// `count` per `per`, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Per,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} per {}", self.count, self.per.as_str())
    }
}

/// Within the limit: what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    pub rate: Rate,
    pub remaining: u32,
    /// Until the whole allowance is back.
    pub reset_after: Duration,
}

/// Over the limit: nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub rate: Rate,
    /// Until the same request could succeed.
    pub retry_after: Duration,
    /// Until the whole allowance is back.
    pub reset_after: Duration,
    /// The request alone asks for more than the whole allowance: waiting
    /// will not help, it must be split.
    pub too_big: bool,
}

type Keyed<C> = RateLimiter<String, DefaultKeyedStateStore<String>, C, StateInformationMiddleware>;

/// One rate, applied separately to each key (an API key id, a domain name).
pub struct Limit<C: Clock = DefaultClock> {
    rate: Rate,
    burst: u32,
    limiter: Keyed<C>,
    clock: C,
}

impl Limit<DefaultClock> {
    /// `None` when `rate.count` is 0: unlimited.
    pub fn new(rate: Rate, burst: u32) -> Option<Self> {
        Self::with_clock(rate, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limit<C> {
    /// `burst`: how many may come at once (at least 1); the rest are spaced
    /// `per / count` apart.
    pub fn with_clock(rate: Rate, burst: u32, clock: C) -> Option<Self> {
        let count = NonZeroU32::new(rate.count)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(rate.per.duration() / count.get())?.allow_burst(burst);
        let limiter: Keyed<C> =
            RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        Some(Limit {
            rate,
            burst: burst.get(),
            limiter,
            clock,
        })
    }

    fn interval(&self) -> Duration {
        self.rate.per.duration() / self.rate.count
    }

    /// Counts `n` for `key` if they fit now; otherwise counts nothing.
    pub fn check(&self, key: &str, n: u32) -> Result<Allowed, Limited> {
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(Allowed {
                rate: self.rate,
                remaining: self.burst,
                reset_after: Duration::ZERO,
            });
        };
        let key = key.to_ascii_lowercase();
        match self.limiter.check_key_n(&key, n) {
            Ok(Ok(state)) => {
                let remaining = state.remaining_burst_capacity();
                Ok(Allowed {
                    rate: self.rate,
                    remaining,
                    reset_after: self.interval() * (self.burst - remaining),
                })
            }
            Ok(Err(not_until)) => {
                let retry_after = not_until.wait_time_from(self.clock.now());
                Err(Limited {
                    rate: self.rate,
                    retry_after,
                    reset_after: retry_after + self.interval() * (self.burst - 1),
                    too_big: false,
                })
            }
            Err(_insufficient) => Err(Limited {
                rate: self.rate,
                retry_after: self.interval() * self.burst,
                reset_after: self.interval() * self.burst,
                too_big: true,
            }),
        }
    }

    /// Drops the state of keys that are back to a full allowance, so keys
    /// seen once (destination domains) do not pile up.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limit(count: u32, per: Per, burst: u32) -> (Limit<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let l = Limit::with_clock(Rate { count, per }, burst, clock.clone()).unwrap();
        (l, clock)
    }

    #[test]
    fn zero_means_unlimited() {
        assert!(Limit::new(
            Rate {
                count: 0,
                per: Per::Second
            },
            1
        )
        .is_none());
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_the_wait() {
        let (l, _clock) = limit(5, Per::Second, 5);
        for left in (0..5).rev() {
            assert_eq!(l.check("k", 1).unwrap().remaining, left);
        }
        let refused = l.check("k", 1).unwrap_err();
        assert!(!refused.too_big);
        assert_eq!(refused.retry_after, Duration::from_millis(200));
        assert_eq!(refused.reset_after, Duration::from_secs(1));
    }

    #[test]
    fn the_allowance_comes_back_with_time() {
        let (l, clock) = limit(5, Per::Second, 5);
        for _ in 0..5 {
            l.check("k", 1).unwrap();
        }
        assert!(l.check("k", 1).is_err());
        clock.advance(Duration::from_millis(200));
        assert!(l.check("k", 1).is_ok());
        assert!(l.check("k", 1).is_err());
    }

    #[test]
    fn keys_are_counted_apart_and_without_case() {
        let (l, _clock) = limit(1, Per::Hour, 1);
        l.check("Example.com", 1).unwrap();
        assert!(l.check("example.COM", 1).is_err());
        assert!(l.check("other.test", 1).is_ok());
    }

    #[test]
    fn a_refused_request_counts_nothing() {
        let (l, _clock) = limit(10, Per::Day, 10);
        l.check("d", 8).unwrap();
        assert!(l.check("d", 3).is_err());
        assert_eq!(l.check("d", 2).unwrap().remaining, 0);
    }

    #[test]
    fn more_than_the_whole_allowance_at_once_is_too_big() {
        let (l, _clock) = limit(100, Per::Hour, 100);
        let refused = l.check("d", 101).unwrap_err();
        assert!(refused.too_big);
        assert_eq!(l.check("d", 100).unwrap().remaining, 0);
    }

    #[test]
    fn a_burst_of_one_spaces_every_request() {
        let (l, clock) = limit(50, Per::Second, 1);
        l.check("dest", 1).unwrap();
        assert_eq!(
            l.check("dest", 1).unwrap_err().retry_after,
            Duration::from_millis(20)
        );
        clock.advance(Duration::from_millis(20));
        assert!(l.check("dest", 1).is_ok());
    }
}
