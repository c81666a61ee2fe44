//! Sessions kept open between delivery groups. A steady flow to one MX
//! would otherwise open a connection (and do a TLS handshake) for every
//! lease; like Postfix's connection cache, a session that finished its
//! group waits here a moment (`[delivery].idle_connection_time`, 2 s:
//! servers drop idle clients only after minutes) for the next group to the
//! same place.
//!
//! Only bookkeeping lives here (which parked session fits, which are too
//! old); checking that a parked connection is still open, and closing the
//! ones handed back, is the caller's.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use policy::tls::TlsSettings;

/// Sessions parked at once, over all destinations.
pub const MAX_PARKED: usize = 64;

/// Where a session goes and under which TLS settings it was opened: a
/// session is reused only for exactly the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The recipient domain.
    pub domain: String,
    /// The MX host name too: a certificate was checked against it.
    pub host: String,
    pub addr: SocketAddr,
    pub settings: TlsSettings,
}

struct Parked<T> {
    route: Route,
    since: Instant,
    session: T,
}

pub struct IdleSessions<T> {
    /// How long a session waits for its next group; zero parks none.
    limit: Duration,
    parked: Mutex<VecDeque<Parked<T>>>,
}

/// What `take` found.
pub struct Taken<T> {
    /// The most recently parked session for the route, if one is young enough.
    pub session: Option<T>,
    /// Sessions to close: parked for the same domain by another route
    /// (another MX, other TLS settings). A new connection is about to be
    /// opened there, and the domain's connection limit counts parked ones.
    pub close: Vec<T>,
}

impl<T> IdleSessions<T> {
    pub fn new(limit: Duration) -> Self {
        IdleSessions {
            limit,
            parked: Mutex::new(VecDeque::new()),
        }
    }

    pub fn take(&self, route: &Route, now: Instant) -> Taken<T> {
        let mut parked = self.parked.lock().unwrap();
        let fits = |p: &Parked<T>| p.route == *route && now.duration_since(p.since) < self.limit;
        if let Some(i) = parked.iter().rposition(fits) {
            let p = parked.remove(i).expect("index in range");
            return Taken {
                session: Some(p.session),
                close: Vec::new(),
            };
        }
        let (same_domain, rest): (VecDeque<_>, VecDeque<_>) = parked
            .drain(..)
            .partition(|p| p.route.domain == route.domain);
        *parked = rest;
        Taken {
            session: None,
            close: same_domain.into_iter().map(|p| p.session).collect(),
        }
    }

    /// Parks a session; when the parking is full, the oldest comes back to
    /// be closed (and the session itself when nothing is to be kept).
    pub fn park(&self, route: Route, session: T, now: Instant) -> Option<T> {
        if self.limit.is_zero() {
            return Some(session);
        }
        let mut parked = self.parked.lock().unwrap();
        parked.push_back(Parked {
            route,
            since: now,
            session,
        });
        if parked.len() > MAX_PARKED {
            parked.pop_front().map(|p| p.session)
        } else {
            None
        }
    }

    /// Sessions that waited their time out, to close.
    pub fn expired(&self, now: Instant) -> Vec<T> {
        let mut parked = self.parked.lock().unwrap();
        let mut out = Vec::new();
        // Oldest first: stop at the first one still young.
        while parked
            .front()
            .is_some_and(|p| now.duration_since(p.since) >= self.limit)
        {
            out.extend(parked.pop_front().map(|p| p.session));
        }
        out
    }

    /// Every parked session (shutdown).
    pub fn drain(&self) -> Vec<T> {
        let mut parked = self.parked.lock().unwrap();
        parked.drain(..).map(|p| p.session).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(2);

    fn route(domain: &str, port: u16, require_tls: bool) -> Route {
        Route {
            domain: domain.into(),
            host: "mx.test".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            settings: TlsSettings {
                require_tls,
                skip_verification: false,
            },
        }
    }

    #[test]
    fn a_parked_session_serves_the_next_group_on_the_same_route() {
        let idle = IdleSessions::new(LIMIT);
        let t = Instant::now();
        assert!(idle.park(route("a.test", 25, false), 1, t).is_none());
        let got = idle.take(&route("a.test", 25, false), t + Duration::from_millis(500));
        assert_eq!(got.session, Some(1));
        assert!(got.close.is_empty());
        // Taken: not there any more.
        assert_eq!(idle.take(&route("a.test", 25, false), t).session, None);
    }

    #[test]
    fn the_most_recently_parked_is_taken_first() {
        let idle = IdleSessions::new(LIMIT);
        let t = Instant::now();
        idle.park(route("a.test", 25, false), 1, t);
        idle.park(route("a.test", 25, false), 2, t + Duration::from_millis(10));
        assert_eq!(idle.take(&route("a.test", 25, false), t).session, Some(2));
    }

    #[test]
    fn another_mx_or_other_tls_settings_never_share_a_session() {
        let idle = IdleSessions::new(LIMIT);
        let t = Instant::now();
        idle.park(route("a.test", 25, false), 1, t);
        let other_mx = idle.take(&route("a.test", 26, false), t);
        assert_eq!(other_mx.session, None);
        // The domain's other session is closed, not kept beside a new one.
        assert_eq!(other_mx.close, vec![1]);
        idle.park(route("a.test", 25, false), 2, t);
        let stricter = idle.take(&route("a.test", 25, true), t);
        assert_eq!((stricter.session, stricter.close), (None, vec![2]));
    }

    #[test]
    fn other_domains_sessions_stay_parked() {
        let idle = IdleSessions::new(LIMIT);
        let t = Instant::now();
        idle.park(route("b.test", 25, false), 1, t);
        let got = idle.take(&route("a.test", 25, false), t);
        assert_eq!((got.session, got.close), (None, vec![]));
        assert_eq!(idle.take(&route("b.test", 25, false), t).session, Some(1));
    }

    #[test]
    fn sessions_idle_past_the_limit_are_handed_back_to_close() {
        let idle = IdleSessions::new(LIMIT);
        let t = Instant::now();
        idle.park(route("a.test", 25, false), 1, t);
        idle.park(route("b.test", 25, false), 2, t + Duration::from_secs(1));
        let later = t + LIMIT;
        let stale = idle.take(&route("a.test", 25, false), later);
        assert_eq!((stale.session, stale.close), (None, vec![1]));
        assert_eq!(idle.expired(later), Vec::<i32>::new());
        assert_eq!(idle.expired(later + Duration::from_secs(1)), vec![2]);
    }

    #[test]
    fn a_full_parking_hands_back_its_oldest() {
        let idle = IdleSessions::new(LIMIT);
        let t = Instant::now();
        for i in 0..MAX_PARKED {
            assert!(idle.park(route("a.test", 25, false), i, t).is_none());
        }
        assert_eq!(idle.park(route("a.test", 25, false), 999, t), Some(0));
        assert_eq!(idle.drain().len(), MAX_PARKED);
    }

    #[test]
    fn a_zero_time_keeps_nothing() {
        let idle = IdleSessions::new(Duration::ZERO);
        let t = Instant::now();
        assert_eq!(idle.park(route("a.test", 25, false), 1, t), Some(1));
        assert!(idle.drain().is_empty());
    }
}
