//! Failed authentications counted per client address, for whoever guesses
//! secrets: SMTP passwords and API keys alike. An address with `max`
//! failures within `window` (counted from its first) is refused without a
//! check until the window ends; a success clears its count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Guard {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Guard {
    pub fn new(max: u32, window: Duration) -> Guard {
        Guard {
            max,
            window,
            failures: Mutex::default(),
        }
    }

    /// Failures from `ip` in its current window.
    pub fn recent(&self, ip: IpAddr) -> u32 {
        let mut f = self.failures.lock().unwrap();
        match f.get(&ip) {
            Some((n, since)) if since.elapsed() < self.window => *n,
            Some(_) => {
                f.remove(&ip);
                0
            }
            None => 0,
        }
    }

    /// `Some(wait)` while `ip` is refused: how long until its window ends.
    pub fn refused_for(&self, ip: IpAddr) -> Option<Duration> {
        let f = self.failures.lock().unwrap();
        match f.get(&ip) {
            Some((n, since)) if *n >= self.max && since.elapsed() < self.window => {
                Some(self.window - since.elapsed())
            }
            _ => None,
        }
    }

    pub fn is_refused(&self, ip: IpAddr) -> bool {
        self.recent(ip) >= self.max
    }

    /// Counts a failure; returns the failures in the window so far.
    pub fn failed(&self, ip: IpAddr) -> u32 {
        let mut f = self.failures.lock().unwrap();
        // Bounded memory under a spray from many addresses.
        if f.len() > 100_000 {
            let window = self.window;
            f.retain(|_, (_, since)| since.elapsed() < window);
        }
        let e = f.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= self.window {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        e.0
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap().remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_max_failures_and_others_are_not() {
        let g = Guard::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(g.refused_for(a).is_none());
            g.failed(a);
        }
        assert!(g
            .refused_for(a)
            .is_some_and(|d| d <= Duration::from_secs(60)));
        assert!(g.is_refused(a));
        assert!(!g.is_refused(b));
        g.succeeded(a);
        assert!(!g.is_refused(a));
    }

    #[test]
    fn the_window_ends() {
        let g = Guard::new(1, Duration::from_millis(20));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        g.failed(a);
        assert!(g.is_refused(a));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!g.is_refused(a));
    }
}
