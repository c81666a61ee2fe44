//! Acceptable use (contract §5): a sending domain's bounce, complaint and
//! unsubscribe rates over the policy window, and the state they put it in.
//! `ok` → `warning` past a threshold → `suspended` past twice a threshold.
//! A suspension stays until an admin reinstates the domain; a warning lifts
//! by itself once the rates are back under.

/// What happened to a domain's mail over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub delivered: u64,
    /// Failed permanently after an attempt (suppressed sends are not counted).
    pub failed_permanently: u64,
    /// Of those, the hard bounces (the address does not exist).
    pub hard_bounces: u64,
    pub complaints: u64,
    pub unsubscribes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub bounce: f64,
    pub complaint: f64,
    pub unsubscribe: f64,
    /// No verdict on fewer delivered + permanently failed messages.
    pub min_sample: u64,
}

impl Thresholds {
    pub fn of(&self, rate: Rate) -> f64 {
        match rate {
            Rate::Bounce => self.bounce,
            Rate::Complaint => self.complaint,
            Rate::Unsubscribe => self.unsubscribe,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Bounce,
    Complaint,
    Unsubscribe,
}

// The rate's key in JSON (`GET /v3/{d}/reputation`, stored reasons).
crate::named_values!(Rate, "a rate (bounce, complaint or unsubscribe)", {
    Bounce => "bounce",
    Complaint => "complaint",
    Unsubscribe => "unsubscribe",
});

impl Rate {
    /// In sentences: "bounce rate".
    pub fn name(self) -> &'static str {
        match self {
            Rate::Bounce => "bounce rate",
            Rate::Complaint => "complaint rate",
            Rate::Unsubscribe => "unsubscribe rate",
        }
    }
}

/// The three rates and the sample they come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub bounce: f64,
    pub complaint: f64,
    pub unsubscribe: f64,
    pub sample: u64,
}

impl Rates {
    pub fn of(&self, rate: Rate) -> f64 {
        match rate {
            Rate::Bounce => self.bounce,
            Rate::Complaint => self.complaint,
            Rate::Unsubscribe => self.unsubscribe,
        }
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

pub fn rates(c: &Counts) -> Rates {
    let sample = c.delivered + c.failed_permanently;
    Rates {
        bounce: ratio(c.hard_bounces, sample),
        complaint: ratio(c.complaints, c.delivered),
        unsubscribe: ratio(c.unsubscribes, c.delivered),
        sample,
    }
}

/// Why a domain is not `ok`: the rate, its value and the threshold crossed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reason {
    pub rate: Rate,
    pub value: f64,
    /// The threshold crossed: the configured one for a warning, twice it
    /// for a suspension.
    pub threshold: f64,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:.2} % is over {:.2} %",
            self.rate.name(),
            self.value * 100.0,
            self.threshold * 100.0
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    Ok,
    Warning(Reason),
    Suspended(Reason),
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warning(_) => "warning",
            State::Suspended(_) => "suspended",
        }
    }

    /// Whether going from `before` to this state is news to tell the sender
    /// (a `warning` event): it got worse. Recovering is not announced.
    pub fn worse_than(&self, before: &State) -> bool {
        self.rank() > before.rank()
    }

    fn rank(&self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning(_) => 1,
            State::Suspended(_) => 2,
        }
    }
}

/// What the rates alone say, worst rate first.
pub fn assess(c: &Counts, t: &Thresholds) -> State {
    let r = rates(c);
    if r.sample < t.min_sample {
        return State::Ok;
    }
    let checks = [
        (Rate::Bounce, r.bounce, t.bounce),
        (Rate::Complaint, r.complaint, t.complaint),
        (Rate::Unsubscribe, r.unsubscribe, t.unsubscribe),
    ];
    let over = |factor: f64| {
        checks
            .iter()
            .find(|(_, value, limit)| *value > limit * factor)
            .map(|&(rate, value, limit)| Reason {
                rate,
                value,
                threshold: limit * factor,
            })
    };
    if let Some(reason) = over(2.0) {
        State::Suspended(reason)
    } else if let Some(reason) = over(1.0) {
        State::Warning(reason)
    } else {
        State::Ok
    }
}

/// The state to store, from the stored one and a fresh assessment: only an
/// admin lifts a suspension.
pub fn next(stored: State, assessed: State) -> State {
    match stored {
        State::Suspended(_) => stored,
        _ => assessed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        bounce: 0.05,
        complaint: 0.008,
        unsubscribe: 0.014,
        min_sample: 100,
    };

    fn bounces(delivered: u64, bounced: u64) -> Counts {
        Counts {
            delivered,
            failed_permanently: bounced,
            hard_bounces: bounced,
            ..Counts::default()
        }
    }

    #[test]
    fn rates_follow_the_contract() {
        let c = Counts {
            delivered: 180,
            failed_permanently: 20,
            hard_bounces: 16,
            complaints: 9,
            unsubscribes: 18,
        };
        let r = rates(&c);
        assert_eq!(r.sample, 200);
        assert!((r.bounce - 0.08).abs() < 1e-9);
        assert!((r.complaint - 0.05).abs() < 1e-9);
        assert!((r.unsubscribe - 0.1).abs() < 1e-9);
    }

    #[test]
    fn at_the_threshold_is_ok_over_it_is_a_warning() {
        assert_eq!(assess(&bounces(190, 10), &T), State::Ok);
        match assess(&bounces(184, 16), &T) {
            State::Warning(r) => {
                assert_eq!(r.rate, Rate::Bounce);
                assert!((r.value - 0.08).abs() < 1e-9);
                assert_eq!(r.threshold, 0.05);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn over_twice_the_threshold_suspends() {
        match assess(&bounces(176, 24), &T) {
            State::Suspended(r) => {
                assert_eq!(r.rate, Rate::Bounce);
                assert_eq!(r.threshold, 0.1);
                assert_eq!(r.to_string(), "bounce rate 12.00 % is over 10.00 %");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn complaints_and_unsubscribes_count_against_delivered() {
        let c = Counts {
            delivered: 1000,
            complaints: 9,
            ..Counts::default()
        };
        assert!(matches!(assess(&c, &T), State::Warning(r) if r.rate == Rate::Complaint));
        let c = Counts {
            delivered: 1000,
            unsubscribes: 29,
            ..Counts::default()
        };
        assert!(matches!(assess(&c, &T), State::Suspended(r) if r.rate == Rate::Unsubscribe));
    }

    #[test]
    fn no_verdict_under_the_minimum_sample() {
        assert_eq!(assess(&bounces(7, 3), &T), State::Ok);
    }

    #[test]
    fn a_suspension_stays_until_reinstated_a_warning_lifts() {
        let reason = Reason {
            rate: Rate::Bounce,
            value: 0.2,
            threshold: 0.1,
        };
        assert_eq!(
            next(State::Suspended(reason), State::Ok),
            State::Suspended(reason)
        );
        assert_eq!(next(State::Warning(reason), State::Ok), State::Ok);
        assert_eq!(
            next(State::Ok, State::Suspended(reason)),
            State::Suspended(reason)
        );
    }

    #[test]
    fn only_a_worse_state_is_news() {
        let r = Reason {
            rate: Rate::Bounce,
            value: 0.06,
            threshold: 0.05,
        };
        assert!(State::Warning(r).worse_than(&State::Ok));
        assert!(State::Suspended(r).worse_than(&State::Warning(r)));
        assert!(State::Suspended(r).worse_than(&State::Ok));
        assert!(!State::Ok.worse_than(&State::Warning(r)));
        assert!(!State::Warning(r).worse_than(&State::Warning(r)));
    }
}
