//! GCRA over a state kept elsewhere (a store row shared by the nodes of a
//! cluster): the same arithmetic as `governor`, as pure functions of the
//! state, the time and the request. The state is the theoretical arrival
//! time `tat`; times are microseconds.

use crate::limits::{Allowed, Limited, Rate};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    pub rate: Rate,
    /// How many may come at once (at least 1).
    pub burst: u32,
}

/// What a take did: the new state and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub tat: i64,
    /// How many were granted (0 when refused).
    pub granted: u32,
    pub answer: Result<Allowed, Limited>,
}

fn micros(d: Duration) -> i64 {
    d.as_micros() as i64
}

impl Gcra {
    /// The spacing of one unit, in microseconds (at least 1).
    pub fn interval(&self) -> i64 {
        (micros(self.rate.per.duration()) / self.rate.count.max(1) as i64).max(1)
    }

    fn burst(&self) -> i64 {
        self.burst.max(1) as i64
    }

    /// How many may be taken at `now` from state `tat`.
    pub fn available(&self, tat: i64, now: i64) -> u32 {
        let t = self.interval();
        let room = now + self.burst() * t - tat.max(now);
        (room / t).clamp(0, self.burst()) as u32
    }

    /// Takes up to `want` at `now` if at least `need` are available, else
    /// nothing. A node takes more than it needs to keep the rest for its
    /// next requests (fewer trips to the shared state).
    pub fn take(&self, tat: i64, now: i64, need: u32, want: u32) -> Taken {
        let t = self.interval();
        let avail = self.available(tat, now);
        if need as i64 > self.burst() {
            let whole = Duration::from_micros((self.burst() * t) as u64);
            return Taken {
                tat,
                granted: 0,
                answer: Err(Limited {
                    rate: self.rate,
                    retry_after: whole,
                    reset_after: whole,
                    too_big: true,
                }),
            };
        }
        if avail < need {
            let start = tat.max(now);
            let retry = (start + need as i64 * t - self.burst() * t - now).max(0);
            return Taken {
                tat,
                granted: 0,
                answer: Err(Limited {
                    rate: self.rate,
                    retry_after: Duration::from_micros(retry as u64),
                    reset_after: Duration::from_micros((start - now).max(0) as u64),
                    too_big: false,
                }),
            };
        }
        let granted = want.max(need).min(avail);
        let new = tat.max(now) + granted as i64 * t;
        Taken {
            tat: new,
            granted,
            answer: Ok(Allowed {
                rate: self.rate,
                remaining: avail - granted,
                reset_after: Duration::from_micros((new - now).max(0) as u64),
            }),
        }
    }

    /// Reserves `n` in a row, never refusing: when each may go (the first
    /// at once if the state allows), and the new state. For pacing, where
    /// the caller waits rather than being turned away.
    pub fn reserve(&self, tat: i64, now: i64, n: u32) -> (i64, Vec<i64>) {
        let t = self.interval();
        let tolerance = (self.burst() - 1) * t;
        let mut tat = tat;
        let mut times = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let at = now.max(tat - tolerance);
            times.push(at);
            tat = tat.max(at) + t;
        }
        (tat, times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Per;

    fn gcra(count: u32, burst: u32) -> Gcra {
        Gcra {
            rate: Rate {
                count,
                per: Per::Second,
            },
            burst,
        }
    }

    const MS: i64 = 1000;

    #[test]
    fn a_burst_is_taken_then_refused_with_the_wait() {
        let g = gcra(10, 10);
        let mut tat = 0;
        for left in (0..10).rev() {
            let t = g.take(tat, 1_000_000, 1, 1);
            assert_eq!(t.answer.unwrap().remaining, left);
            tat = t.tat;
        }
        let refused = g.take(tat, 1_000_000, 1, 1);
        assert_eq!(refused.granted, 0);
        assert_eq!(refused.tat, tat, "a refusal counts nothing");
        assert_eq!(
            refused.answer.unwrap_err().retry_after,
            Duration::from_millis(100)
        );
        assert_eq!(g.take(tat, 1_000_000 + 100 * MS, 1, 1).granted, 1);
    }

    #[test]
    fn a_take_gets_up_to_what_it_wants_and_at_least_what_it_needs() {
        let g = gcra(10, 10);
        let t = g.take(0, 1_000_000, 1, 4);
        assert_eq!(t.granted, 4);
        let t = g.take(t.tat, 1_000_000, 1, 100);
        assert_eq!(t.granted, 6, "no more than is left");
        assert_eq!(g.take(t.tat, 1_000_000, 1, 4).granted, 0);
    }

    #[test]
    fn more_than_the_burst_at_once_is_too_big() {
        let g = gcra(100, 100);
        assert!(g.take(0, 0, 101, 101).answer.unwrap_err().too_big);
    }

    #[test]
    fn reservations_start_now_within_the_burst_then_space_out() {
        let g = gcra(50, 2);
        let (tat, times) = g.reserve(0, 1_000_000, 4);
        assert_eq!(
            times,
            [1_000_000, 1_000_000, 1_020_000, 1_040_000],
            "two at once, then every 20 ms"
        );
        let (_, next) = g.reserve(tat, 1_000_000, 1);
        assert_eq!(next, [1_060_000], "the next reservation queues behind");
    }
}
